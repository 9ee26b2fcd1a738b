"""HTTP plumbing shared by all services.

FastStream's AsgiFastStream runs the broker and serves /healthz, /metrics and the
AsyncAPI document; the service's own API is a small Starlette app next to it. `compose`
puts both behind one ASGI callable so one uvicorn process serves everything.
"""

from __future__ import annotations

import csv
import io
import json
import mimetypes
import re
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeAlias, TypeVar

from aiokafka.errors import KafkaError, KafkaTimeoutError
from faststream.asgi import AsgiFastStream, AsgiResponse, get
from faststream.asgi.types import ASGIApp, Receive, Scope, Send
from pydantic import BaseModel, ValidationError
from pydantic_core import to_jsonable_python
from pymongo.errors import ConnectionFailure, PyMongoError, WTimeoutError
from python_multipart.multipart import parse_options_header
from starlette.convertors import IntegerConvertor, register_url_convertor
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.formparsers import FormParser, MultiPartException, MultiPartParser
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.types import ExceptionHandler

from shared.errors import ConcurrencyError, WriteUncertain
from shared.thai import thai_digits_to_arabic

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


RETRY_AFTER_S = 1


def retry_after(status: int, seconds: int | None = None) -> dict[str, str]:
    """The Retry-After an answer carries: a 503 ("try again") always says when, a 429 when it
    knows. One rule for the API's JSON and the pages people read."""
    if status == 503:
        return {"Retry-After": str(seconds or RETRY_AFTER_S)}
    if status == 429 and seconds:
        return {"Retry-After": str(seconds)}
    return {}


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
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or []
        self.retry_after = retry_after  # a 503 without one says RETRY_AFTER_S (`retry_after`)
        self.headers = dict(headers or {})

    def response(self) -> Response:
        body: dict[str, Any] = {"error": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return JSON(body, status_code=self.status, headers=self.all_headers() or None)

    def all_headers(self) -> dict[str, str]:
        """Its own headers (Allow, WWW-Authenticate) and the Retry-After its status carries."""
        return {**self.headers, **retry_after(self.status, self.retry_after)}


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


# --------------------------------------------------------------------------- numbers

# Bounds of the numbers people type: past them a number is a slip or an attack, never an
# answer, and past 2**63 the database cannot even encode it (BSON raises OverflowError).
MAX_PAGE_NUMBER = 1_000_000
MAX_OFFSET = 1_000_000
MAX_COUNT = 1_000_000
FISCAL_YEARS = (2400, 2800)  # Buddhist Era
VILLAGES = (1, 99)

# [0-9] is ASCII whatever the flags; 18 digits stay below 2**63 and far below int()'s
# 4,300-digit limit.
_WHOLE_NUMBER = re.compile(r"[0-9]{1,18}")


class _BoundedInt(IntegerConvertor):
    """`{name:int}` in a route's path, of at most 18 digits. Starlette's own takes any run of
    digits and calls int() on it while routing, out of every handler's reach: thousands of
    digits were a 500. Longer is no match, so a 404 in the API's shape."""

    regex = _WHOLE_NUMBER.pattern


# Every service imports this module before it builds its routes, so every `:int` is this one.
register_url_convertor("int", _BoundedInt())


def int_in(text: str | None, lo: int, hi: int) -> int | None:
    """`text` as a whole number from `lo` to `hi`, or None. ASCII and Thai digits (๐-๙), as
    people type them here; str.isdigit() is no test, since "²" and "①" pass it and int()
    refuses them, while int() takes the digits of scripts nobody here writes."""
    if text is None:
        return None
    digits = thai_digits_to_arabic(text.strip())
    if _WHOLE_NUMBER.fullmatch(digits) is None:
        return None
    value = int(digits)
    return value if lo <= value <= hi else None


def parse_int(
    text: str | None,
    field: str,
    lo: int,
    hi: int,
    *,
    default: int | None = None,
    status: int = 400,
    code: str = "bad_query",
) -> int:
    """`int_in` for an API: blank gives `default` when there is one; anything else that is
    not a number from `lo` to `hi` is refused (400 `bad_query` unless told), naming `field`."""
    if default is not None and (text is None or not text.strip()):
        return default
    value = int_in(text, lo, hi)
    if value is None:
        message = f"{field} must be a whole number from {lo} to {hi}"
        raise ApiError(status, code, message, [{"field": field, "message": message, "type": "int"}])
    return value


# --------------------------------------------------------------------------- bodies


def _too_large(max_bytes: int) -> ApiError:
    return ApiError(413, "payload_too_large", f"body over {max_bytes} bytes")


async def body_stream(
    request: Request, max_bytes: int = DEFAULT_MAX_BODY
) -> AsyncGenerator[bytes, None]:
    """The body as it arrives, refused (413) once past `max_bytes`: counted, not trusted to
    Content-Length, which a chunked body has not and a lying client gets wrong."""
    declared = request.headers.get("content-length", "")
    if _WHOLE_NUMBER.fullmatch(declared) and int(declared) > max_bytes:
        raise _too_large(max_bytes)
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise _too_large(max_bytes)
        yield chunk


async def read_body(request: Request, max_bytes: int = DEFAULT_MAX_BODY) -> bytes:
    return b"".join([chunk async for chunk in body_stream(request, max_bytes)])


async def read_form(
    request: Request,
    max_bytes: int = DEFAULT_MAX_BODY,
    *,
    max_files: int = 0,
    max_fields: int = 100,
) -> FormData:
    """A urlencoded or multipart form of at most `max_bytes` however it is sent (413 past
    that), files included; malformed or with too many fields or files, 400 `invalid_form`.
    Another content type is an empty form, as Starlette's `request.form()` has it.

    Not `request.form()`: its only size limit is per field, and files are spooled whole,
    so a chunked body is read to its end however large."""
    content_type, _ = parse_options_header(request.headers.get("content-type"))
    stream = body_stream(request, max_bytes)
    # No part can outgrow the body: the byte count answers 413 before a part limit would.
    parser: FormParser | MultiPartParser
    if content_type == b"multipart/form-data":
        parser = MultiPartParser(
            request.headers,
            stream,
            max_files=max_files,
            max_fields=max_fields,
            max_part_size=max_bytes,
        )
    elif content_type == b"application/x-www-form-urlencoded":
        parser = FormParser(request.headers, stream, max_fields=max_fields, max_part_size=max_bytes)
    else:
        return FormData()
    try:
        return await parser.parse()
    except MultiPartException as exc:
        raise ApiError(400, "invalid_form", f"form not readable: {exc.message}") from exc


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
        status = 200 if healthy else 503
        headers = {"content-type": "application/json", **retry_after(status)}
        return AsgiResponse(body.encode(), status, headers=headers)

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


def static_file(
    root: Path, path: str, *, max_age: int, beside: Mapping[str, Path] | None = None
) -> Response:
    """A website's own file under `root` (a path starting with a key of `beside` is looked
    for under that directory instead), or a plain 404: outside the root, not a file, or a
    name the file system refuses (too long, a NUL byte) all are no such file."""
    for prefix, other in (beside or {}).items():
        if path.startswith(prefix):
            root, path = other, path[len(prefix) :]
            break
    try:
        base = root.resolve()
        wanted = (base / path).resolve()
        found = wanted.is_relative_to(base) and wanted.is_file()
    except (OSError, ValueError):
        found = False
    if not found:
        return Response("not found", status_code=404, media_type="text/plain")
    media = mimetypes.guess_type(wanted.name)[0] or "application/octet-stream"
    if wanted.suffix == ".woff2":
        media = "font/woff2"
    return FileResponse(
        wanted, media_type=media, headers={"Cache-Control": f"public, max-age={max_age}"}
    )


MAX_PAGE = 500


def page(request: Request, *, default: int = 100, maximum: int = MAX_PAGE) -> tuple[int, int]:
    """`?limit=&offset=` of a list endpoint: (limit, offset), limit capped at `maximum`."""
    q = request.query_params
    limit = parse_int(q.get("limit"), "limit", 1, MAX_OFFSET, default=default)
    offset = parse_int(q.get("offset"), "offset", 0, MAX_OFFSET, default=0)
    return min(limit, maximum), offset


# --------------------------------------------------------------------------- CSV out

# What a spreadsheet reads as the start of a formula (OWASP, "CSV Injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> object:
    """A cell safe to open in a spreadsheet: text that would start a formula gets a leading
    apostrophe, which the spreadsheet shows as text; numbers and None pass as they are."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def csv_text(header: Sequence[str], rows: Iterable[Sequence[object]], *, bom: bool = False) -> str:
    """A CSV document made for people to open: every cell through `csv_cell`, the header
    included; `bom` puts the mark spreadsheet programs need to read Thai as UTF-8."""
    out = io.StringIO()
    if bom:
        out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow([csv_cell(h) for h in header])
    writer.writerows([csv_cell(cell) for cell in row] for row in rows)
    return out.getvalue()


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

RefusalPage: TypeAlias = Callable[[Request, ApiError], Response | None]
"""A website's own page for a path it has not (404) or a method a path has not (405), shown
to a browser in place of the API's JSON; None keeps the JSON."""


def wants_html(request: Request) -> bool:
    """A browser navigating asks for text/html by name; scripts, `fetch` and curl send
    */* or a JSON type, and keep the API's shape."""
    accept = request.headers.get("accept", "")
    return any(
        part.split(";", 1)[0].strip().lower() in ("text/html", "application/xhtml+xml")
        for part in accept.split(",")
    )


def refusal_of(exc: Exception, refusal: Refusal) -> ApiError:
    if callable(refusal):
        return refusal(exc)
    status, code = refusal
    return ApiError(status, code, str(exc))


def exception_handlers(
    errors: ErrorTable, on_refusal: OnRefusal | None = None, page: RefusalPage | None = None
) -> dict[Any, ExceptionHandler]:
    """Starlette exception handlers answering every ApiError and every error in `errors`,
    so endpoints call the service and let its refusals raise. Starlette takes the first
    class of the error's MRO that has a handler: a subclass's row wins over its base's.
    `page` is a website's answer to a browser for a path or method it has not."""

    def handler(refusal: Refusal) -> ExceptionHandler:
        async def answer(request: Request, exc: Exception) -> Response:
            error = refusal_of(exc, refusal)
            if on_refusal is not None:
                on_refusal(request, exc, error)
            if page is not None and isinstance(exc, HTTPException) and wants_html(request):
                shown = page(request, error)
                if shown is not None:
                    for name, value in error.headers.items():
                        shown.headers.setdefault(name, value)
                    return shown
            return error.response()

        return answer

    table: dict[type[Exception], Refusal] = {
        ApiError: _as_is,
        HTTPException: route_refusal,
        **dict(FAULTS),
        **errors,
    }
    return {cls: handler(refusal) for cls, refusal in table.items()}


def fault_refusal(exc: Exception) -> ApiError | None:
    """The refusal `FAULTS` gives this error (the first that matches, a subclass's row
    before its base's), for an endpoint answering in a shape of its own; None if none."""
    for kind, refusal in FAULTS:
        if isinstance(exc, kind):
            return refusal(exc)
    return None


def _as_is(exc: ApiError) -> ApiError:
    return exc


_ROUTE_CODES = {404: "not_found", 405: "method_not_allowed"}
# A lost connection, a server not selected in time, a primary stepping down: they pass.
TRANSIENT_DB_ERRORS = (ConnectionFailure, WTimeoutError)


def route_refusal(exc: HTTPException) -> ApiError:
    """Starlette's own refusals (no route, a method the route has not) in the API's shape,
    not its plain text; their headers, a 405's Allow among them, kept."""
    if exc.status_code == 404:
        message = "no such path"
    elif exc.status_code == 405:
        message = f"method not allowed here; allowed: {(exc.headers or {}).get('Allow', '-')}"
    else:
        message = exc.detail
    code = _ROUTE_CODES.get(exc.status_code, "bad_request" if exc.status_code < 500 else "error")
    return ApiError(exc.status_code, code, message, headers=exc.headers)


def uncertain(exc: WriteUncertain) -> ApiError:
    """A write whose outcome is unknown (503): the same request, with the same key, again."""
    message = f"it may have been saved: send it again with the same Idempotency-Key ({exc})"
    return ApiError(503, "retry", message, retry_after=1)


def unavailable(exc: Exception) -> ApiError:
    """The database or the broker failed the request: 503 + Retry-After when the fault is
    one that passes (a lost connection, a timeout, an election). Any other is raised on, to
    be logged with its trace and answered 500."""
    lasting = (
        isinstance(exc, KafkaError) and not (exc.retriable or isinstance(exc, KafkaTimeoutError))
    ) or (isinstance(exc, PyMongoError) and not isinstance(exc, TRANSIENT_DB_ERRORS))
    if lasting:
        raise exc
    message = f"a service this needs is not answering, try again: {type(exc).__name__}"
    return ApiError(503, "unavailable", message, retry_after=1)


def busy(exc: ConcurrencyError) -> ApiError:
    """A version race that outlasted its retries: nothing is wrong, the caller tries again
    (503 + Retry-After; 409 stays "not allowed now")."""
    return ApiError(503, "busy", f"being changed by someone else, try again: {exc}", retry_after=1)


# What a fault of the store or the broker is answered, in every service: subclasses first.
FAULTS: tuple[tuple[type[Exception], Callable[[Any], ApiError]], ...] = (
    (WriteUncertain, uncertain),
    (ConcurrencyError, busy),
    (ConnectionError, unavailable),
    (TimeoutError, unavailable),
    (PyMongoError, unavailable),
    (KafkaError, unavailable),
)
