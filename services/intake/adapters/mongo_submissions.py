"""Intake's MongoDB collections.

- `submissions`: one document per case, _id = channel + channel message id, with its
  outbox and the redacted projection Open311 answers from;
- `submission_keys`: _id lookups onto it (case id -> key, later LINE message -> key,
  LINE's message id -> that message's key, for its unsend), because FerretDB only pushes
  `_id` filters down: anything else is a full scan;
- `counters`: case numbers per organisation and fiscal year;
- `vault`: the only place personal data is kept (contacts, the citizen's own words),
  sealed with RUAM_VAULT_KEY (services/intake/vault.py);
- `intake_records` (box-opening sessions, activities), `line_threads`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import fields, is_dataclass
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

from services.intake.channels.open311 import RequestQuery
from services.intake.domain.progress import Progress
from services.intake.domain.record import Addition, PublicView, SubmissionRecord
from services.intake.ports import VaultEntry
from shared.errors import ConcurrencyError
from shared.events.cases import Attachment, Channel, Kind
from shared.mongo import BulkWriter, Document, SequenceDrawer
from shared.outbox import Emission, RawPublisher
from shared.store import AggregateStore, Lru, ensure_index, move_later
from shared.thai import to_bangkok

# Only LINE follow-ups are ever filed under another message's key (`alias`).
ALIASED_PREFIX = "line:"


# Fields of the public view added after cases were stored.
LATER = frozenset({"address_id"})


def to_document(record: SubmissionRecord) -> Document:
    return {
        "_id": record.dedup_key,
        "case_id": record.case_id,
        "channel": record.channel.value,
        "kind": record.kind.value,
        "channel_message_id": record.channel_message_id,
        "received_at": record.received_at,
        # channel_counts groups by the month of receipt as the organisation counts it.
        "month": f"{to_bangkok(record.received_at):%Y-%m}",
        "stored_at": record.stored_at,
        "contact_ref": record.contact_ref,
        "text_ref": record.text_ref,
        "service_code": record.service_code,
        "links": [{"name": k, "value": v} for k, v in record.links.items()],
        "attachments": [a.model_dump() for a in record.attachments],
        # Fields added since are left out while unset: earlier documents keep their shape.
        "public": {k: v for k, v in _plain(record.public).items() if k not in LATER or v},
        "additions": [_addition(a) for a in record.additions],
        "progress": _plain(record.progress),
        **({"request_digest": record.request_digest} if record.request_digest else {}),
        **({"withdrawn": record.withdrawn} if record.withdrawn else {}),
        # Open311 filters on these: stored beside the state they derive from, not computed.
        "is_open": record.is_open,
        "effective_service_code": record.effective_service_code,
    }


def _plain(value: Any) -> Any:
    """A frozen dataclass as BSON-ready dicts and lists. Unlike `dataclasses.asdict`, it
    does not deep-copy the leaves, all immutable here (datetimes, strings, numbers): that
    copy cost more than building the rest of the document."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, tuple | list):
        return type(value)(_plain(v) for v in value)
    return value


def _addition(a: Addition) -> Document:
    return {
        "key": a.key,
        "at": a.at,
        "type": a.kind,
        "text_ref": a.text_ref,
        "attachment": a.attachment.model_dump() if a.attachment else None,
        "lat": a.lat,
        "lon": a.lon,
        **({"public": a.public} if a.public else {}),
    }


def from_document(doc: Document) -> SubmissionRecord:
    public = doc.get("public") or {}
    return SubmissionRecord(
        dedup_key=doc["_id"],
        case_id=doc["case_id"],
        channel=Channel(doc["channel"]),
        kind=Kind(doc["kind"]),
        received_at=doc["received_at"],
        stored_at=doc["stored_at"],
        channel_message_id=doc.get("channel_message_id"),
        contact_ref=doc.get("contact_ref"),
        text_ref=doc.get("text_ref"),
        service_code=doc.get("service_code"),
        links={x["name"]: x["value"] for x in doc.get("links") or []},
        attachments=[Attachment.model_validate(a) for a in doc.get("attachments") or []],
        public=PublicView(
            text=public.get("text") or "",
            address=public.get("address"),
            lat=public.get("lat"),
            lon=public.get("lon"),
            village_no=public.get("village_no"),
            media_url=public.get("media_url"),
            address_id=public.get("address_id"),
        ),
        additions=[
            Addition(
                key=a["key"],
                at=a["at"],
                kind=a["type"],
                # Follow-ups stored before the vault kept their words in the clear here;
                # those are not read back (the vault holds all that is shown).
                text_ref=a.get("text_ref"),
                attachment=Attachment.model_validate(a["attachment"])
                if a.get("attachment")
                else None,
                lat=a.get("lat"),
                lon=a.get("lon"),
                public=a.get("public"),
            )
            for a in doc.get("additions") or []
        ],
        progress=Progress(**doc["progress"]) if doc.get("progress") else Progress(),
        request_digest=doc.get("request_digest"),
        withdrawn=list(doc.get("withdrawn") or []),
        version=doc.get("version", 0),
    )


class MongoSubmissionRepository:
    def __init__(self, db: AsyncDatabase[Document], publisher: RawPublisher) -> None:
        self._submissions = db["submissions"]
        self._keys = db["submission_keys"]
        # A case is read again moments after it is filed (routing's answer): from memory.
        self._relay = AggregateStore(self._submissions, publisher, remember=2_000)
        # Unique and gap-free in this process; the unique index on case_id guards the rest.
        self._numbers = SequenceDrawer(db["counters"])
        self._key_inserts = BulkWriter(self._keys)
        # case id -> key of the cases this process filed or looked up: routing's answers
        # about a case then cost no lookup of its key.
        self._case_keys: Lru[str] = Lru(20_000)
        # Cases added here whose key the next flush writes (dedup key -> case id).
        self._unindexed: dict[str, str] = {}

    async def ensure_indexes(self) -> None:
        await self._relay.ensure_indexes("case_id", "received_at", unique=("case_id",))

    async def get(self, dedup_key: str) -> SubmissionRecord | None:
        doc = await self._relay.get(dedup_key)
        if doc is None and dedup_key.startswith(ALIASED_PREFIX):
            alias = await self._keys.find_one({"_id": "msg:" + dedup_key})
            if alias is not None:
                doc = await self._relay.get(alias["key"])
        return None if doc is None else from_document(doc)

    async def get_case(self, case_id: str) -> SubmissionRecord | None:
        doc = await self._case_document(case_id)
        return None if doc is None else from_document(doc)

    async def _case_document(self, case_id: str) -> Document | None:
        key = self._case_keys.get(case_id)
        if key is None:
            alias = await self._keys.find_one({"_id": "case:" + case_id})
            key = alias["key"] if alias is not None else None
        if key is not None:
            doc = await self._relay.get(key)
            if doc is not None:
                self._case_keys.put(case_id, key)
            return doc
        # Written before this index existed, or the index write was lost: look it up.
        doc = await self._submissions.find_one({"case_id": case_id}, {"outbox": 0})
        if doc is not None:
            await self._put_key("case:" + case_id, doc["_id"])
        return doc

    async def next_sequence(self, counter_key: str) -> int:
        return await self._numbers.next(counter_key)

    async def add(self, record: SubmissionRecord, emissions: Sequence[Emission]) -> bool:
        try:
            record.version = await self._relay.save(
                to_document(record), expected_version=0, emissions=list(emissions)
            )
        except ConcurrencyError:
            return False
        # Known here at once; written to `submission_keys` by the flush that follows, at
        # the same time as the events go out, not one round trip before them. A crash in
        # between leaves it to be found by case id (`_case_document`), as before.
        self._case_keys.put(record.case_id, record.dedup_key)
        self._unindexed[record.dedup_key] = record.case_id
        return True

    async def update(self, record: SubmissionRecord, emissions: Sequence[Emission]) -> bool:
        try:
            record.version = await self._relay.save(
                to_document(record), expected_version=record.version, emissions=list(emissions)
            )
        except ConcurrencyError:
            return False
        return True

    async def alias(self, message_key: str, dedup_key: str) -> None:
        await self._put_key("msg:" + message_key, dedup_key)

    async def name_message(self, channel_ref: str, message_key: str) -> None:
        await self._put_key("id:" + channel_ref, message_key)

    async def message_named(self, channel_ref: str) -> str | None:
        named = await self._keys.find_one({"_id": "id:" + channel_ref})
        return None if named is None else str(named["key"])

    async def _put_key(self, key_id: str, dedup_key: str) -> None:
        # False: the key is there already (a redelivery, or a concurrent writer): fine.
        await self._key_inserts.insert({"_id": key_id, "key": dedup_key})

    async def flush(self, dedup_key: str) -> int:
        case_id = self._unindexed.get(dedup_key)
        if case_id is None:
            return await self._relay.flush(dedup_key)
        _, sent = await asyncio.gather(
            self._put_key("case:" + case_id, dedup_key), self._relay.flush(dedup_key)
        )
        self._unindexed.pop(dedup_key, None)
        return sent

    async def sweep(self) -> int:
        return await self._relay.sweep()

    async def find(self, query: RequestQuery) -> list[SubmissionRecord]:
        if query.case_ids:
            found = [await self.get_case(case_id) for case_id in query.case_ids]
            return [r for r in found if r is not None]
        filters: dict[str, Any] = {"received_at": {"$gte": query.start, "$lte": query.end}}
        if query.service_codes:
            filters["effective_service_code"] = {"$in": sorted(query.service_codes)}
        if len(query.status) == 1:
            filters["is_open"] = "open" in query.status
        cursor = (
            self._submissions.find(filters, {"outbox": 0})
            .sort([("received_at", DESCENDING), ("_id", ASCENDING)])
            .limit(query.limit)
        )
        return [from_document(doc) async for doc in cursor]

    async def channel_counts(self) -> list[dict[str, Any]]:
        pipeline: list[dict[str, Any]] = [
            {
                "$group": {
                    "_id": {"channel": "$channel", "month": "$month", "kind": "$kind"},
                    "count": {"$sum": 1},
                }
            }
        ]
        rows = []
        async for row in await self._submissions.aggregate(pipeline):
            rows.append({**row["_id"], "count": int(row["count"])})
        return rows


class MongoVault:
    """The `vault` collection: sealed contacts and texts (services/intake/vault.py)."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._vault = db["vault"]
        self._inserts = BulkWriter(self._vault)

    async def ensure_indexes(self) -> None:
        # The purge loop's one query. On MongoDB it reads the index; FerretDB scans the
        # collection, once a round (hourly), never per event, and gets no index it could
        # not use (ensure_index): it would only cost every vault write.
        await ensure_index(self._vault, ["purge_at"])

    async def insert(self, entries: Sequence[VaultEntry]) -> set[str]:
        docs = [
            {
                "_id": e.ref,
                "kind": e.kind,
                "sealed": e.sealed,
                "owner": e.owner,
                "stored_at": e.stored_at,
                "purge_at": e.purge_at,
            }
            for e in entries
        ]
        # Each on its own (an entry that exists, a LINE user's contact, does not stop the
        # others), sent together with the other cases' entries under way.
        inserted = await asyncio.gather(*(self._inserts.insert(doc) for doc in docs))
        return {str(doc["_id"]) for doc, new in zip(docs, inserted, strict=True) if not new}

    async def get(self, ref: str) -> VaultEntry | None:
        doc = await self._vault.find_one({"_id": ref})
        return None if doc is None else _entry(doc)

    async def exists(self, ref: str) -> bool:
        return await self._vault.find_one({"_id": ref}, {"_id": 1}) is not None

    async def extend(self, refs: Sequence[str], purge_at: datetime, owner: str) -> None:
        for ref in refs:
            await move_later(self._vault, ref, "purge_at", purge_at, {"owner": owner})

    async def expired(self, now: datetime, limit: int) -> list[VaultEntry]:
        cursor = self._vault.find({"purge_at": {"$lte": now}}).limit(limit)
        return [_entry(doc) async for doc in cursor]

    async def delete(self, refs: Sequence[str], now: datetime) -> int:
        result = await self._vault.delete_many(
            {"_id": {"$in": list(refs)}, "purge_at": {"$lte": now}}
        )
        return int(result.deleted_count)

    async def erase(self, refs: Sequence[str]) -> None:
        await self._vault.delete_many({"_id": {"$in": list(refs)}})


def _entry(doc: Document) -> VaultEntry:
    return VaultEntry(
        ref=doc["_id"],
        kind=doc["kind"],
        sealed=doc["sealed"],
        owner=doc.get("owner", ""),
        stored_at=doc["stored_at"],
        purge_at=doc["purge_at"],
    )


class MongoRecordBook:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._records = db["intake_records"]

    async def keep(self, kind: str, record_id: str, doc: dict[str, Any]) -> None:
        key = f"{kind}:{record_id}"
        await self._records.update_one(
            {"_id": key},
            {"$setOnInsert": {"kind": kind, "record_id": record_id, **doc}},
            upsert=True,
        )

    async def get(self, kind: str, record_id: str) -> dict[str, Any] | None:
        return await self._records.find_one({"_id": f"{kind}:{record_id}"})


class MongoThreads:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._threads = db["line_threads"]

    async def get(self, thread_key: str) -> dict[str, Any] | None:
        return await self._threads.find_one({"_id": thread_key})

    async def put(self, thread_key: str, doc: dict[str, Any]) -> None:
        await self._threads.replace_one(
            {"_id": thread_key}, {"_id": thread_key, **doc}, upsert=True
        )
