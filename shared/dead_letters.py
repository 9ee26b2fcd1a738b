"""Every service's dead letters, kept for operators: list, inspect, replay.

A message that can never succeed lands on `<service>.dlq` with the reason and the original
bytes (`shared.kafka`). Each service consumes its own dead-letter topic into its
`dead_letters` collection, so an operator can see what failed and why, fix the cause, and
replay the letter: its original bytes go again to the subscription that refused them, in this
process (`Runtime.replayers`), so only that consumer sees them again and no service needs to
write a topic another produces (shared/bus.py). A replay still refused is answered 409 with
the reason and the letter kept; a second replay of the same letter is refused with 409
unless asked for with `?again=true`. Consumers are idempotent by event id and channel
message id, so even a forced second replay has one effect.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from faststream.kafka import KafkaMessage
from prometheus_client import CollectorRegistry, Counter
from pymongo import DESCENDING
from pymongo.asynchronous.database import AsyncDatabase
from starlette.requests import Request
from starlette.responses import Response

from shared.access import Endpoint, roles
from shared.audit import AuditTrail
from shared.auth import principal
from shared.clock import Clock
from shared.errors import PERMANENT_ERRORS
from shared.http import JSON, ApiError, page
from shared.mongo import Document
from shared.outbox import RawPublisher
from shared.roles import Role
from shared.topics import of_name

if TYPE_CHECKING:
    from shared.runtime import Runtime

log = logging.getLogger("ruam.dead_letters")


class DeadLetterStore(Protocol):
    async def keep(self, letter: dict[str, Any]) -> bool:
        """Store the letter unless one with its id exists; True if it was new."""

    async def get(self, letter_id: str) -> dict[str, Any] | None: ...

    async def list(self, limit: int, offset: int) -> list[dict[str, Any]]: ...

    async def mark_replayed(self, letter_id: str, at: datetime) -> None: ...


class MongoDeadLetters:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._letters = db["dead_letters"]

    async def keep(self, letter: dict[str, Any]) -> bool:
        result = await self._letters.update_one(
            {"_id": letter["_id"]}, {"$setOnInsert": letter}, upsert=True
        )
        return result.upserted_id is not None

    async def get(self, letter_id: str) -> dict[str, Any] | None:
        return await self._letters.find_one({"_id": letter_id})

    async def list(self, limit: int, offset: int) -> list[dict[str, Any]]:
        cursor = (
            self._letters.find({})
            .sort([("stored_at", DESCENDING), ("_id", DESCENDING)])
            .skip(offset)
            .limit(limit)
        )
        return [doc async for doc in cursor]

    async def mark_replayed(self, letter_id: str, at: datetime) -> None:
        await self._letters.update_one({"_id": letter_id}, {"$push": {"replays": at}})

    async def waiting(self, service: str) -> dict[str, int]:
        """Letters of `service` never replayed, by the topic they came from (a scan of the
        letters: they are few, and this runs on a schedule, never per scrape)."""
        waiting: dict[str, int] = {}
        cursor = self._letters.find({"service": service}, {"source_topic": 1, "replays": 1})
        async for letter in cursor:
            if not letter.get("replays"):
                topic = topic_label(letter.get("source_topic") or "")
                waiting[topic] = waiting.get(topic, 0) + 1
        return waiting


class NotReplayable(Exception):
    """The letter cannot be replayed as it is (HTTP 409, with the reason)."""


class DeadLetterOffice:
    """Keeps the dead letters of one service and replays them."""

    def __init__(
        self,
        store: DeadLetterStore,
        publisher: RawPublisher,
        clock: Clock,
        *,
        service: str,
        registry: CollectorRegistry,
        describe: Callable[[str], dict[str, Any]] | None = None,
        replayers: Mapping[str, Callable[[bytes], Awaitable[object]]] | None = None,
    ) -> None:
        self.store = store
        self._replayers = replayers if replayers is not None else {}
        self._publisher = publisher
        self._clock = clock
        self._service = service
        self.audit = AuditTrail(publisher, service, clock)
        # Service-specific fields shown beside a letter (intake: the channel).
        self._describe = describe
        self.stored = Counter(
            "ruam_dead_letters_stored_total",
            "Dead letters kept for operators, by service and source topic",
            ["service", "topic"],
            registry=registry,
        )
        self.replayed = Counter(
            "ruam_dead_letters_replayed_total",
            "Dead letters replayed through the subscription that refused them, by service",
            ["service"],
            registry=registry,
        )

    async def keep(
        self, body: bytes, headers: dict[str, str], key: bytes | None, where: str
    ) -> bool:
        """Keep one letter from the dead-letter topic; True if it was new."""
        source = headers.get("x-dlq-source-topic", "")
        coords = f"{source}-{headers.get('x-dlq-partition', '')}-{headers.get('x-dlq-offset', '')}"
        letter_id = f"{coords}-{hashlib.sha256(body).hexdigest()[:10]}"
        try:
            text, encoding = body.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            text, encoding = base64.b64encode(body).decode("ascii"), "base64"
        extra = self._describe(text) if self._describe and encoding == "utf-8" else {}
        new = await self.store.keep(
            {
                "_id": letter_id,
                "reason": headers.get("x-dlq-reason", ""),
                "exception": headers.get("x-dlq-exception", ""),
                "service": headers.get("x-dlq-service", self._service),
                "source_topic": source,
                "source_partition": headers.get("x-dlq-partition", ""),
                "source_offset": headers.get("x-dlq-offset", ""),
                "attempts": headers.get("x-dlq-attempts", ""),
                "failed_at": headers.get("x-dlq-failed-at", ""),
                "dlq_position": where,
                "key": key.decode("utf-8", errors="replace") if key else None,
                "body": text,
                "encoding": encoding,
                "stored_at": self._clock.now(),
                "replays": [],
                **extra,
            }
        )
        if new:
            self.stored.labels(self._service, topic_label(source)).inc()
        return new

    async def replay(self, letter_id: str, *, again: bool = False) -> dict[str, Any] | None:
        """Hand a letter's original bytes again to the subscription that refused it (after a
        fix), in this process: only that consumer sees it again, and no service needs the
        right to write to another's topic. Handlers are idempotent, so a forced second
        replay has one effect."""
        letter = await self.store.get(letter_id)
        if letter is None:
            return None
        replayer = self._replayers.get(letter.get("source_topic") or "")
        if replayer is None:
            raise NotReplayable(
                f"no subscription of {self._service} reads {letter.get('source_topic')!r}"
            )
        if letter.get("replays") and not again:
            raise NotReplayable(
                f"already replayed at {letter['replays'][-1]}; add ?again=true to send it again"
            )
        body = (
            base64.b64decode(letter["body"])
            if letter["encoding"] == "base64"
            else letter["body"].encode("utf-8")
        )
        try:
            await replayer(body)
        except PERMANENT_ERRORS as exc:
            raise NotReplayable(f"refused again: {type(exc).__name__}: {exc}"[:1000]) from exc
        at = self._clock.now()
        await self.store.mark_replayed(letter_id, at)
        self.replayed.labels(self._service).inc()
        log.info("dead letter %s replayed through %s", letter_id, letter["source_topic"])
        return {**letter, "replayed_at": at}

    # -- wiring ---------------------------------------------------------------------

    async def on_message(self, message: KafkaMessage) -> None:
        record = message.raw_message
        where = (
            f"{getattr(record, 'topic', '')}:{getattr(record, 'partition', '')}"
            f":{getattr(record, 'offset', '')}"
        )
        key = getattr(record, "key", None)
        headers = {k: v if isinstance(v, str) else str(v) for k, v in message.headers.items()}
        await self.keep(message.body, headers, key, where)

    def routes(self) -> list[Endpoint]:
        watchers = roles(Role.OPERATOR, Role.EXECUTIVE, Role.AUDITOR)
        return [
            Endpoint("/v1/dlq", self._list, ["GET"], watchers),
            Endpoint("/v1/dlq/{letter_id}", self._inspect, ["GET"], watchers),
            Endpoint("/v1/dlq/{letter_id}/replay", self._replay, ["POST"], roles(Role.OPERATOR)),
        ]

    async def _list(self, request: Request) -> Response:
        size, offset = page(request)
        letters = await self.store.list(size, offset)
        # Bodies may hold personal data: they are shown one letter at a time.
        items = [letter_view(d, with_body=False) for d in letters]
        return JSON({"items": items, "limit": size, "offset": offset})

    async def _inspect(self, request: Request) -> Response:
        """One letter; its body (which may hold personal data) for operators only, and each
        such read is on the audit trail before it is shown."""
        letter_id = request.path_params["letter_id"]
        letter = await self.store.get(letter_id)
        if letter is None:
            raise ApiError(404, "dead_letter_not_found", f"no dead letter {letter_id}")
        who = await principal(request)
        with_body = who.has(Role.OPERATOR)
        if with_body:
            await self.audit.record(who, request, "dlq.read", f"letter:{letter_id}")
        return JSON(letter_view(letter, with_body=with_body))

    async def _replay(self, request: Request) -> Response:
        letter_id = request.path_params["letter_id"]
        again = request.query_params.get("again", "").lower() in ("1", "true", "yes")
        who = await principal(request)
        detail = "again" if again else None
        await self.audit.record(who, request, "dlq.replay", f"letter:{letter_id}", detail=detail)
        try:
            replayed = await self.replay(letter_id, again=again)
        except NotReplayable as exc:
            raise ApiError(409, "not_replayable", str(exc)) from exc
        if replayed is None:
            raise ApiError(404, "dead_letter_not_found", f"no dead letter {letter_id}")
        return JSON(
            {
                "replayed": letter_id,
                "to": replayed["source_topic"],
                "replayed_at": replayed["replayed_at"],
            },
            status_code=202,
        )


def letter_view(doc: dict[str, Any], *, with_body: bool) -> dict[str, Any]:
    view = {
        "id": doc["_id"],
        "service": doc.get("service"),
        "reason": doc.get("reason"),
        "exception": doc.get("exception"),
        "channel": doc.get("channel"),
        "source_topic": doc.get("source_topic"),
        "source_partition": doc.get("source_partition"),
        "source_offset": doc.get("source_offset"),
        "attempts": doc.get("attempts"),
        "failed_at": doc.get("failed_at"),
        "stored_at": doc.get("stored_at"),
        "encoding": doc.get("encoding"),
        "replays": doc.get("replays", []),
    }
    if with_body:
        view["body"] = doc.get("body")
    return view


def keep_dead_letters(
    runtime: Runtime,
    clock: Clock,
    *,
    store: DeadLetterStore | None = None,
    describe: Callable[[str], dict[str, Any]] | None = None,
) -> DeadLetterOffice | None:
    """Consume the service's own dead-letter topic into its store; None without storage."""
    from shared.kafka import subscriber_options

    if store is None:
        if runtime.mongo is None:
            return None
        store = MongoDeadLetters(runtime.db)
    office = DeadLetterOffice(
        store,
        runtime.publisher,
        clock,
        service=runtime.settings.service_name,
        registry=runtime.registry,
        describe=describe,
        replayers=runtime.replayers,
    )
    options = subscriber_options(runtime.settings, "dlq")
    runtime.router.subscriber(runtime.dead_letters.dlq_topic, **options)(office.on_message)
    runtime.groups[options["group_id"]] = runtime.dead_letters.dlq_topic
    return office


def topic_label(source: str) -> str:
    """The topic a letter came from as a metric label: one of ours (without a test run's
    prefix), else "other". The name is a header of the letter, not to be trusted as a series."""
    topic = of_name(source)
    return topic.value if topic is not None else "other"
