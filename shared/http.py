"""HTTP plumbing shared by all services.

FastStream's AsgiFastStream runs the broker and serves /healthz, /metrics and the
AsyncAPI document; the service's own API is a small Starlette app next to it. `compose`
puts both behind one ASGI callable so one uvicorn process serves everything.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeAlias, TypeVar

from faststream.asgi import AsgiFastStream, AsgiResponse, get
from faststream.asgi.types import ASGIApp, Receive, Scope, Send
from pydantic import BaseModel, ValidationError
from pydantic_core import to_jsonable_python
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ExceptionHandler

from shared.errors import ConcurrencyError, WriteUncertain

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")

DEFAULT_MAX_BODY = 1_000_000  # 1 MB: far above any citizen's message, far below harm


class JSON(JSONResponse):
    """JSON with Thai left readable (UTF-8, not \\u escapes) and datetimes as ISO 8601."""

    def render(self, content: Any) -> bytes:
        return json.dumps(
            to_jsonable_python(content),
            ensure_ascii=False,
            allow_nan=False,
            separators=(",", ":"),
        ).encode("utf-8")


class ApiError(Exception):
    """An HTTP refusal with a reason a person can act on."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: list[dict[str, Any]] | None = None,
        *,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or []
        # 503 means "try again": it always says when.
        self.retry_after = retry_after if retry_after is not None or status != 503 else 1

    def response(self) -> Response:
        body: dict[str, Any] = {"error": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        headers = {"Retry-After": str(self.retry_after)} if self.retry_after else None
        return JSON(body, status_code=self.status, headers=headers)


def validation_details(exc: ValidationError) -> list[dict[str, Any]]:
    return [
        {
            "field": ".".join(str(p) for p in err["loc"]) or "body",
            "message": err["msg"],
            "type": err["type"],
        }
        for err in exc.errors()
    ]


def validation_error(exc: ValidationError, status: int = 422) -> ApiError:
    details = validation_details(exc)
    summary = "; ".join(f"{d['field']}: {d['message']}" for d in details)
    return ApiError(status, "validation_failed", summary, details)


async def read_body(request: Request, max_bytes: int = DEFAULT_MAX_BODY) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise ApiError(413, "payload_too_large", f"body over {max_bytes} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise ApiError(413, "payload_too_large", f"body over {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json(request: Request, max_bytes: int = DEFAULT_MAX_BODY) -> Any:
    raw = await read_body(request, max_bytes)
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ApiError(400, "invalid_json", f"body is not valid JSON: {exc}") from exc
    except RecursionError as exc:  # thousands of nested brackets: refused, not a 500
        raise ApiError(400, "invalid_json", "body is nested too deeply") from exc
    except ValueError as exc:  # a number of more than 4,300 digits: refused, not a 500
        raise ApiError(400, "invalid_json", "body has a number too long to read") from exc


async def read_object(request: Request, max_bytes: int = DEFAULT_MAX_BODY) -> dict[str, Any]:
    data = await read_json(request, max_bytes)
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_json", "body must be a JSON object")
    return data


async def read_model(request: Request, model: type[M], max_bytes: int = DEFAULT_MAX_BODY) -> M:
    data = await read_object(request, max_bytes)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc) from exc


HealthCheck = Callable[[], Awaitable[bool]]


def health_handler(checks: Mapping[str, HealthCheck]) -> Any:
    """200 only when every dependency answers; 503 naming the ones that don't."""

    @get(include_in_schema=False)
    async def healthz(scope: Scope) -> AsgiResponse:
        results: dict[str, str] = {}
        for name, check in checks.items():
            try:
                results[name] = "ok" if await check() else "down"
            except Exception as exc:  # a check that raises is a failed check
                results[name] = f"down: {type(exc).__name__}"
        healthy = all(v == "ok" for v in results.values())
        body = json.dumps({"status": "ok" if healthy else "unavailable", "checks": results})
        return AsgiResponse(
            body.encode(), 200 if healthy else 503, headers={"content-type": "application/json"}
        )

    return healthz


def compose(fs_app: AsgiFastStream, api: ASGIApp) -> ASGIApp:
    """One ASGI app: lifespan and FastStream's exact routes first, the API otherwise."""
    exact: Sequence[str] = [path for path, _ in fs_app.routes]

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan" or (scope["type"] == "http" and scope["path"] in exact):
            await fs_app(scope, receive, send)
            return
        await api(scope, receive, send)

    return app


MAX_PAGE = 500


def page(request: Request, *, default: int = 100, maximum: int = MAX_PAGE) -> tuple[int, int]:
    """`?limit=&offset=` of a list endpoint: (limit, offset), limit capped at `maximum`."""
    q = request.query_params
    try:
        limit = min(int(q.get("limit", str(default))), maximum)
        offset = int(q.get("offset", "0"))
    except ValueError as exc:
        raise ApiError(400, "bad_query", "limit and offset must be integers") from exc
    if limit < 1 or offset < 0:
        raise ApiError(400, "bad_query", "limit must be >= 1 and offset >= 0")
    return limit, offset


def app_state(request: Request, name: str, kind: type[T]) -> T:
    """What the bootstrap put on the API's state (`asgi_app(state=...)`), typed: endpoints
    live at module level, so this is how they reach the service they belong to."""
    value = getattr(request.app.state, name)
    if not isinstance(value, kind):  # a wiring mistake: say so rather than fail later
        raise TypeError(f"app.state.{name} is {type(value).__name__}, not {kind.__name__}")
    return value


# --------------------------------------------------------------------------- errors

Refusal: TypeAlias = tuple[int, str] | Callable[[Any], ApiError]
"""How a domain error is answered: (status, code) with the error's own message, or a
function for the answers that carry more (field details, Retry-After)."""

ErrorTable: TypeAlias = Mapping[type[Exception], Refusal]
"""A service's domain errors and their answers; a base class answers for the subclasses
the table does not name."""

OnRefusal: TypeAlias = Callable[[Request, Exception, ApiError], None]
"""Called with each refusal before it is sent: how a service counts its refusals."""


def refusal_of(exc: Exception, refusal: Refusal) -> ApiError:
    if callable(refusal):
        return refusal(exc)
    status, code = refusal
    return ApiError(status, code, str(exc))


def exception_handlers(
    errors: ErrorTable, on_refusal: OnRefusal | None = None
) -> dict[Any, ExceptionHandler]:
    """Starlette exception handlers answering every ApiError and every error in `errors`,
    so endpoints call the service and let its refusals raise. Starlette takes the first
    class of the error's MRO that has a handler: a subclass's row wins over its base's."""

    def handler(refusal: Refusal) -> ExceptionHandler:
        async def answer(request: Request, exc: Exception) -> Response:
            error = refusal_of(exc, refusal)
            if on_refusal is not None:
                on_refusal(request, exc, error)
            return error.response()

        return answer

    table: dict[type[Exception], Refusal] = {
        ApiError: _as_is,
        ConcurrencyError: busy,
        WriteUncertain: uncertain,
        **errors,
    }
    return {cls: handler(refusal) for cls, refusal in table.items()}


def _as_is(exc: ApiError) -> ApiError:
    return exc


def uncertain(exc: WriteUncertain) -> ApiError:
    """A write whose outcome is unknown (503): the same request, with the same key, again."""
    message = f"it may have been saved: send it again with the same Idempotency-Key ({exc})"
    return ApiError(503, "retry", message, retry_after=1)


def busy(exc: ConcurrencyError) -> ApiError:
    """A version race that outlasted its retries: nothing is wrong, the caller tries again
    (503 + Retry-After; 409 stays "not allowed now")."""
    return ApiError(503, "busy", f"being changed by someone else, try again: {exc}", retry_after=1)
