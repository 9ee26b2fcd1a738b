"""The one shape of a service: what `services/<name>/bootstrap.py` returns and `main.py` runs.

A bootstrap builds what is its own on a runtime (`shared.runtime.build_runtime`): its adapters
unless the test gave fakes, with their start-up work and background loops registered on the
runtime, and its handlers. `assemble` then wires what every service has the same way: the Kafka
subscriptions, the dead-letter office, and the ASGI app that serves the service's API beside
/healthz, /metrics and the AsyncAPI document.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from faststream.asgi import AsgiFastStream
from faststream.asgi.types import ASGIApp
from starlette.applications import Starlette
from starlette.routing import BaseRoute

from shared import logs
from shared.audit import AuditTrail
from shared.auth import verifier_for
from shared.clock import Clock
from shared.dead_letters import DeadLetterOffice, DeadLetterStore, keep_dead_letters
from shared.http import ErrorTable, OnRefusal, RefusalPage
from shared.ops import watch
from shared.runtime import Runtime, asgi_app
from shared.settings import ServiceSettings

S = TypeVar("S", bound=ServiceSettings)
H = TypeVar("H")


class Api(Protocol):
    """A service's HTTP API as its `http` module offers it (a module is passed as is)."""

    @property
    def ERRORS(self) -> ErrorTable:
        """How its domain errors are answered (`shared.http.exception_handlers`)."""

    def routes(self) -> list[BaseRoute]: ...


@dataclass
class Service(Generic[S, H]):
    settings: S
    runtime: Runtime
    handlers: H
    dead_letters: DeadLetterOffice | None  # None when built on fakes without a letter store
    faststream: AsgiFastStream  # the broker's lifecycle: tests start it in-process
    asgi: ASGIApp  # what uvicorn serves
    api: Starlette  # the API inside it: its `state` holds the handlers and the token verifier


def assemble(
    settings: S,
    runtime: Runtime,
    handlers: H,
    clock: Clock,
    subscribers: Callable[[Runtime, H], None],
    api: Api,
    on_refusal: OnRefusal | None = None,
    *,
    letter_store: DeadLetterStore | None = None,
    describe_letter: Callable[[str], dict[str, Any]] | None = None,
    page: RefusalPage | None = None,
) -> Service[S, H]:
    """The service made of its own parts: `subscribers` registers its Kafka subscriptions,
    `api` is its HTTP API, `on_refusal` counts the API's refusals. `letter_store` is where the
    dead-letter office keeps letters (default: MongoDB; none on fakes), `describe_letter` the
    service's own fields shown beside one; `page` a website's page for a path it has not."""
    subscribers(runtime, handlers)
    office = keep_dead_letters(runtime, clock, store=letter_store, describe=describe_letter)
    watch(runtime)
    fs_app, app, api_app = asgi_app(
        runtime,
        [*api.routes(), *(office.routes() if office else [])],
        title=f"Ruam {settings.service_name}",
        state={
            "handlers": handlers,
            "settings": settings,
            "verifier": verifier_for(settings),
            "audit": AuditTrail(runtime.publisher, settings.service_name, clock),
        },
        errors=api.ERRORS,
        on_refusal=on_refusal,
        page=page,
    )
    return Service(settings, runtime, handlers, office, fs_app, app, api_app)


async def _freeze_start_up() -> None:
    """What start-up built (the classifier's model, the tokenizer's dictionary, templates)
    lives as long as the process: out of the collector's full passes, which otherwise walk
    all of it every few seconds under load (docs/storage.md, "The collector")."""
    gc.collect()
    gc.freeze()


def main(create_service: Callable[[], Service[Any, Any]]) -> None:
    """`python -m services.<name>.main`: the service on `http_host:http_port`, until stopped."""
    import uvicorn

    service = create_service()
    # Last of the start-up hooks, so after the warm-ups (routing's tokenizer dictionary).
    service.runtime.startup.append(_freeze_start_up)
    logs.configure(service.settings.service_name, service.settings.log_format)
    uvicorn.run(
        service.asgi,
        host=service.settings.http_host,
        port=service.settings.http_port,
        log_level="info",
        log_config=None,  # ours (shared.logs): one format for every line
        access_log=False,
        lifespan="on",
        loop="uvloop",  # libuv's event loop: less CPU per message (docs/storage.md)
    )
