"""Surveys, responses, aggregate buckets and alerts in MongoDB (FerretDB-compatible).

Collections: `surveys` (_id = survey id, one per resolution of a case), `responses`
(_id = response id: unique, so a second answer to one token or one paper form cannot
be stored), `satisfaction_buckets` (_id = org|fiscal year|dimension|value),
`satisfaction_days` (_id = org|department|YYYY-MM: a department's figures per day of a
month) and `satisfaction_alerts` (_id = alert id). Surveys, responses and alerts carry
their events in an embedded outbox (shared.outbox).

What a response's event does reads and writes by `_id` only: on FerretDB v1 every other
filter scans the collection (docs/storage.md, docs/survey-aggregates.md).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime

from pymongo import UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from services.survey.domain import rules
from services.survey.domain.model import (
    Alert,
    AlertDecision,
    Answer,
    Bucket,
    DepartmentMonth,
    Figures,
    KeptBucket,
    MonthKey,
    QuestionStats,
    Response,
    Slice,
    Survey,
)
from services.survey.ports import StoredResponse
from shared.errors import ConcurrencyError
from shared.mongo import Document, once
from shared.outbox import Emission, RawPublisher
from shared.store import AggregateStore, Decision, change
from shared.thai import fiscal_year_be

# ----------------------------------------------------------------------- mapping

_SURVEY_FIELDS = (
    "token", "org_id", "case_id", "case_seq", "kind", "channel", "department", "category",
    "officer_id", "contact_ref", "resolved_at", "requested_at", "expires_at",
    "questionnaire_version", "link",
)  # fmt: skip


def survey_to_document(s: Survey) -> Document:
    return {"_id": s.survey_id, **{f: getattr(s, f) for f in _SURVEY_FIELDS}}


def survey_from_document(doc: Document) -> Survey:
    return Survey(
        survey_id=doc["_id"],
        token=doc["token"],
        org_id=doc["org_id"],
        case_id=doc["case_id"],
        case_seq=doc["case_seq"],
        kind=doc["kind"],
        channel=doc["channel"],
        department=doc.get("department"),
        category=doc.get("category"),
        officer_id=doc.get("officer_id"),
        contact_ref=doc.get("contact_ref"),
        resolved_at=doc["resolved_at"],
        requested_at=doc["requested_at"],
        expires_at=doc["expires_at"],
        questionnaire_version=doc["questionnaire_version"],
        link=doc["link"],
    )


def response_to_document(r: Response) -> Document:
    return {
        "_id": r.response_id,
        "org_id": r.org_id,
        "source": r.source,
        "questionnaire_version": r.questionnaire_version,
        "channel": r.channel,
        "responded_at": r.responded_at,
        "recorded_at": r.recorded_at,
        "survey_id": r.survey_id,
        "campaign_id": r.campaign_id,
        "case_id": r.case_id,
        "form_no": r.form_no,
        "department": r.department,
        "category": r.category,
        "entered_by": r.entered_by,
        "fiscal_year": r.fiscal_year,
        "answers": [{"q": a.question_id, "t": a.type, "v": a.value} for a in r.answers],
        # Set once every bucket and department month has the response.
        "counted": False,
    }


def response_from_document(doc: Document) -> Response:
    return Response(
        response_id=doc["_id"],
        org_id=doc["org_id"],
        source=doc["source"],
        questionnaire_version=doc["questionnaire_version"],
        channel=doc["channel"],
        responded_at=doc["responded_at"],
        recorded_at=doc["recorded_at"],
        answers=tuple(Answer(a["q"], a["t"], a["v"]) for a in doc.get("answers", [])),
        survey_id=doc.get("survey_id"),
        campaign_id=doc.get("campaign_id"),
        case_id=doc.get("case_id"),
        form_no=doc.get("form_no"),
        department=doc.get("department"),
        category=doc.get("category"),
        entered_by=doc.get("entered_by"),
    )


def bucket_to_document(b: Bucket) -> Document:
    s = b.slice
    return {
        "_id": s.key,
        "org_id": s.org_id,
        "fiscal_year": s.fiscal_year,
        "by": s.by,
        "value": s.value,
        "responses": b.responses,
        "questions": [
            {
                "id": q.question_id,
                "kind": q.kind,
                "count": q.count,
                "total": q.total,
                # Sub-documents, not a {value: n} map: no user-chosen keys in documents.
                "dist": [{"v": v, "n": n} for v, n in q.distribution],
            }
            for q in b.questions
        ],
    }


def bucket_from_document(doc: Document) -> Bucket:
    return Bucket(
        Slice(doc["org_id"], doc["fiscal_year"], doc["by"], doc["value"]),
        doc["responses"],
        tuple(
            QuestionStats(
                q["id"],
                q["kind"],
                q["count"],
                q["total"],
                tuple((d["v"], d["n"]) for d in q["dist"]),
            )
            for q in doc.get("questions", [])
        ),
    )


_ESCAPED = re.compile(r"%(25|20)")


def applied_to_field(ids: Sequence[str]) -> str:
    """The applied ids as one space-separated string (spaces and '%' in an id escaped).

    Not an array: FerretDB's SQLite format types every array element, and a bucket with
    500 of them took about 3.5 ms more per read or write, one string about 1 ms."""
    return " ".join(i.replace("%", "%25").replace(" ", "%20") for i in ids)


def applied_from_field(value: str | list[str] | None) -> tuple[str, ...]:
    if not value:
        return ()
    if isinstance(value, list):
        return tuple(value)
    unescape = {"25": "%", "20": " "}
    return tuple(_ESCAPED.sub(lambda m: unescape[m.group(1)], i) for i in value.split(" "))


def kept_to_document(kept: KeptBucket) -> Document:
    # The stored shape stays what every reader knows (bucket_to_document), derived from
    # the integer counts, which it keeps losslessly in `questions[].dist`.
    return {**bucket_to_document(rules.bucket_of(kept)), "applied": applied_to_field(kept.applied)}


def kept_from_document(doc: Document) -> KeptBucket:
    bucket = bucket_from_document(doc)
    return KeptBucket(
        bucket.slice,
        Figures(bucket.responses, rules.counts_of(bucket)),
        applied_from_field(doc.get("applied")),
    )


def _figures_to_document(f: Figures) -> Document:
    ordered = sorted(f.counts.items(), key=lambda kv: (kv[0][0], str(type(kv[0][1])), kv[0][1]))
    return {
        "responses": f.responses,
        "counts": [{"q": q, "v": v, "n": n} for (q, v), n in ordered if n > 0],
    }


def _figures_from_document(doc: Document) -> Figures:
    return Figures(doc["responses"], {(c["q"], c["v"]): c["n"] for c in doc.get("counts", [])})


def month_to_document(m: DepartmentMonth) -> Document:
    return {
        "_id": m.of.key,
        "org_id": m.of.org_id,
        "department": m.of.department,
        "month": m.of.month,
        # Day keys are "01".."31": no '.' or '$', and no arrays of arrays anywhere.
        "days": {f"{day:02d}": _figures_to_document(f) for day, f in sorted(m.days.items())},
        "applied": applied_to_field(m.applied),
    }


def month_from_document(doc: Document) -> DepartmentMonth:
    return DepartmentMonth(
        MonthKey(doc["org_id"], doc["department"], doc["month"]),
        {int(day): _figures_from_document(f) for day, f in (doc.get("days") or {}).items()},
        applied_from_field(doc.get("applied")),
    )


def alert_to_document(a: Alert) -> Document:
    d = a.decision
    return {
        "_id": d.alert_id,
        "org_id": a.org_id,
        "rule": d.rule,
        "department": d.department,
        "description_th": d.description_th,
        "fiscal_year": d.fiscal_year,
        "response_id": d.response_id,
        "case_id": d.case_id,
        "window_responses": d.window_responses,
        "window_percent_satisfied": d.window_percent_satisfied,
        "raised_at": a.raised_at,
        "action": {
            "case_id": a.action_case_id,
            "status": a.action_status,
            "seq": a.action_seq,
            "updated_at": a.action_updated_at,
        },
    }


def alert_from_document(doc: Document) -> Alert:
    action = doc.get("action") or {}
    return Alert(
        decision=AlertDecision(
            alert_id=doc["_id"],
            rule=doc["rule"],
            department=doc["department"],
            description_th=doc["description_th"],
            fiscal_year=doc["fiscal_year"],
            response_id=doc.get("response_id"),
            case_id=doc.get("case_id"),
            window_responses=doc.get("window_responses"),
            window_percent_satisfied=doc.get("window_percent_satisfied"),
        ),
        org_id=doc["org_id"],
        raised_at=doc["raised_at"],
        action_case_id=action.get("case_id"),
        action_status=action.get("status", "requested"),
        action_seq=action.get("seq", 0),
        action_updated_at=action.get("updated_at"),
    )


async def _insert(store: AggregateStore, doc: Document, emissions: Sequence[Emission]) -> bool:
    try:
        await store.save(doc, expected_version=0, emissions=emissions)
    except ConcurrencyError:
        return False
    return True


# ----------------------------------------------------------------------- repositories


class MongoSurveyRepository:
    """Surveys by id, and by token through `survey_tokens` (`_id` = token): a citizen's
    answer finds its survey by `_id` twice instead of filtering `surveys` on `token`, which
    FerretDB v1 answers by reading every survey (docs/storage.md)."""

    def __init__(self, db: AsyncDatabase[Document], publisher: RawPublisher) -> None:
        self._db = db
        self._surveys = db["surveys"]
        self._tokens = db["survey_tokens"]
        # A case's survey ids (`_id` = case id): a case's surveys are read by id, not by a
        # filter on case_id, which FerretDB v1 answers with a scan of every survey.
        self._cases = db["survey_cases"]
        self._relay = AggregateStore(self._surveys, publisher)

    async def ensure_indexes(self) -> None:
        await self._relay.ensure_indexes("token", "case_id", unique=("token",))
        await once(self._db, "survey_tokens", self._backfill_tokens)
        await once(self._db, "survey_cases", self._backfill_cases)

    async def _backfill_tokens(self) -> None:
        """The token entries of surveys stored before `survey_tokens` existed."""
        async for doc in self._surveys.find({}, {"token": 1}):
            await self._remember_token(doc["token"], doc["_id"])

    async def _backfill_cases(self) -> None:
        """The case entries of surveys stored before `survey_cases` existed."""
        async for doc in self._surveys.find({}, {"case_id": 1}):
            await self._remember_case(doc["case_id"], doc["_id"])

    async def add(self, survey: Survey, emissions: Sequence[Emission]) -> bool:
        # The entries first: a survey stored without them would only be found by a scan.
        await self._remember_token(survey.token, survey.survey_id)
        await self._remember_case(survey.case_id, survey.survey_id)
        return await _insert(self._relay, survey_to_document(survey), emissions)

    async def _remember_case(self, case_id: str, survey_id: str) -> None:
        # A case's surveys are added by its own events, one after the other (keyed by the
        # case), so this read-modify-write by `_id` has no concurrent writer to lose to.
        await self._cases.update_one(
            {"_id": case_id}, {"$addToSet": {"ids": survey_id}}, upsert=True
        )

    async def _remember_token(self, token: str, survey_id: str) -> None:
        await self._tokens.update_one(
            {"_id": token}, {"$setOnInsert": {"survey_id": survey_id}}, upsert=True
        )

    async def get(self, survey_id: str) -> Survey | None:
        doc = await self._surveys.find_one({"_id": survey_id}, {"outbox": 0})
        return survey_from_document(doc) if doc else None

    async def by_token(self, token: str) -> Survey | None:
        entry = await self._tokens.find_one({"_id": token})
        if entry is None or "survey_id" not in entry:
            return None
        survey = await self.get(entry["survey_id"])
        return survey if survey is not None and survey.token == token else None

    async def of_case(self, case_id: str) -> list[Survey]:
        entry = await self._cases.find_one({"_id": case_id})
        ids = list((entry or {}).get("ids") or ())
        if not ids:
            return []
        cursor = self._surveys.find({"_id": {"$in": ids}}, {"outbox": 0})
        found = [survey_from_document(d) async for d in cursor]
        return sorted(found, key=lambda s: s.case_seq)

    async def flush(self, survey_id: str) -> int:
        return await self._relay.flush(survey_id)

    async def sweep(self) -> int:
        return await self._relay.sweep()


class MongoResponseRepository:
    MARK_BATCH = 1_000  # statements per command when a rebuild marks responses counted

    def __init__(self, db: AsyncDatabase[Document], publisher: RawPublisher) -> None:
        self._responses = db["responses"]
        self._relay = AggregateStore(self._responses, publisher)

    async def ensure_indexes(self) -> None:
        # None: responses are read by _id per event, and scanned whole by a rebuild.
        return None

    async def add(self, response: Response, emissions: Sequence[Emission]) -> bool:
        return await _insert(self._relay, response_to_document(response), emissions)

    async def ensure(self, response: Response) -> None:
        doc = response_to_document(response)
        await self._responses.update_one(
            {"_id": response.response_id},
            {"$setOnInsert": {**doc, "version": 1, "outbox": []}},
            upsert=True,
        )

    async def load(self, response_id: str) -> StoredResponse | None:
        doc = await self._responses.find_one({"_id": response_id}, {"outbox": 0})
        return _stored(doc) if doc else None

    async def answered(self, response_ids: Sequence[str]) -> set[str]:
        # One lookup by _id each: FerretDB would scan the collection for an $in.
        found = set()
        for response_id in response_ids:
            if await self._responses.find_one({"_id": response_id}, {"_id": 1}) is not None:
                found.add(response_id)
        return found

    async def mark_counted(self, response_ids: Sequence[str]) -> None:
        # One statement by _id per response, sent in batches: an $in would scan on FerretDB.
        for n in range(0, len(response_ids), self.MARK_BATCH):
            batch = response_ids[n : n + self.MARK_BATCH]
            await self._responses.bulk_write(
                [UpdateOne({"_id": i}, {"$set": {"counted": True}}) for i in batch],
                ordered=False,
            )

    async def scan(self) -> AsyncIterator[StoredResponse]:
        async for doc in self._responses.find({}, {"outbox": 0}):
            yield _stored(doc)

    async def flush(self, response_id: str) -> int:
        return await self._relay.flush(response_id)

    async def sweep(self) -> int:
        return await self._relay.sweep()


def _stored(doc: Document) -> StoredResponse:
    # A response stored before `counted` existed reads as not counted: after such an
    # upgrade one rebuild marks them all (docs/survey-aggregates.md).
    return StoredResponse(response_from_document(doc), bool(doc.get("counted")))


class MongoAggregateStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._buckets = db["satisfaction_buckets"]
        self._store = AggregateStore(self._buckets, publisher=None)
        self._days = db["satisfaction_days"]
        self._day_store = AggregateStore(self._days, publisher=None)

    async def ensure_indexes(self) -> None:
        await self._store.ensure_indexes(("org_id", "fiscal_year", "by"))

    async def change(
        self, slice_: Slice, decide: Callable[[KeptBucket | None], KeptBucket | None]
    ) -> KeptBucket | None:
        def on_document(current: Document | None) -> Decision:
            kept = decide(kept_from_document(current) if current is not None else None)
            return None if kept is None else (kept_to_document(kept), ())

        stored = await change(self._store, slice_.key, on_document)
        return kept_from_document(stored) if stored is not None else None

    async def get(self, slice_: Slice) -> Bucket | None:
        doc = await self._buckets.find_one({"_id": slice_.key})
        return bucket_from_document(doc) if doc else None

    async def of_dimension(self, org_id: str, fiscal_year: int, by: str) -> list[Bucket]:
        cursor = self._buckets.find({"org_id": org_id, "fiscal_year": fiscal_year, "by": by})
        return sorted([bucket_from_document(d) async for d in cursor], key=lambda b: b.slice.value)

    async def all(self) -> list[Bucket]:
        cursor = self._buckets.find({})
        return sorted([bucket_from_document(d) async for d in cursor], key=lambda b: b.slice.key)

    async def all_kept(self) -> list[KeptBucket]:
        cursor = self._buckets.find({}, {"outbox": 0})
        return sorted([kept_from_document(d) async for d in cursor], key=lambda k: k.slice.key)

    async def delete(self, slice_: Slice) -> None:
        await self._buckets.delete_one({"_id": slice_.key})

    async def change_month(
        self, key: MonthKey, decide: Callable[[DepartmentMonth | None], DepartmentMonth | None]
    ) -> DepartmentMonth | None:
        def on_document(current: Document | None) -> Decision:
            month = decide(month_from_document(current) if current is not None else None)
            return None if month is None else (month_to_document(month), ())

        stored = await change(self._day_store, key.key, on_document)
        return month_from_document(stored) if stored is not None else None

    async def month(self, key: MonthKey) -> DepartmentMonth | None:
        doc = await self._days.find_one({"_id": key.key}, {"outbox": 0})
        return month_from_document(doc) if doc else None

    async def all_months(self) -> list[DepartmentMonth]:
        cursor = self._days.find({}, {"outbox": 0})
        return sorted([month_from_document(d) async for d in cursor], key=lambda m: m.of.key)

    async def delete_month(self, key: MonthKey) -> None:
        await self._days.delete_one({"_id": key.key})


class MongoAlertRepository:
    def __init__(self, db: AsyncDatabase[Document], publisher: RawPublisher) -> None:
        self._alerts = db["satisfaction_alerts"]
        self._relay = AggregateStore(self._alerts, publisher)
        self._by_case = db["satisfaction_alert_cases"]

    async def ensure_indexes(self) -> None:
        await self._relay.ensure_indexes(("org_id", "fiscal_year"))

    async def add(self, alert: Alert, emissions: Sequence[Emission]) -> bool:
        return await _insert(self._relay, alert_to_document(alert), emissions)

    async def flush(self, alert_id: str) -> int:
        return await self._relay.flush(alert_id)

    async def sweep(self) -> int:
        return await self._relay.sweep()

    async def link_case(self, alert_id: str, case_id: str) -> bool:
        linked = False

        def decide(current: Document | None) -> Decision:
            nonlocal linked
            action = dict((current or {}).get("action") or {})
            if current is None or action.get("case_id") is not None:
                return None
            linked = True
            return {**current, "action": {**action, "case_id": case_id, "status": "received"}}, ()

        await change(self._relay, alert_id, decide)
        # The case's status events find their alert by _id (FerretDB scans other filters).
        await self._by_case.update_one(
            {"_id": case_id}, {"$setOnInsert": {"alert_id": alert_id}}, upsert=True
        )
        return linked

    async def track(self, case_id: str, status: str, seq: int, at: datetime) -> bool:
        link = await self._by_case.find_one({"_id": case_id})
        if link is None:
            return False
        moved = False

        def decide(current: Document | None) -> Decision:
            nonlocal moved
            action = dict((current or {}).get("action") or {})
            if current is None or action.get("case_id") != case_id or action.get("seq", 0) >= seq:
                return None
            moved = True
            action.update(status=status, seq=seq, updated_at=at)
            return {**current, "action": action}, ()

        await change(self._relay, link["alert_id"], decide)
        return moved

    async def of_year(self, org_id: str, fiscal_year: int) -> list[Alert]:
        cursor = self._alerts.find({"org_id": org_id, "fiscal_year": fiscal_year}, {"outbox": 0})
        alerts = [alert_from_document(d) async for d in cursor]
        return sorted(alerts, key=lambda a: (a.raised_at, a.decision.alert_id))


class MongoResponseRates:
    """Case surveys answered per survey sent, by fiscal year (BE): for the operator's gauge,
    read on a schedule (a scan of both collections, never per request or scrape)."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._surveys = db["surveys"]
        self._responses = db["responses"]

    async def by_year(self) -> dict[int, float]:
        sent: dict[int, int] = {}
        async for doc in self._surveys.find({}, {"requested_at": 1}):
            if doc.get("requested_at") is not None:
                year = fiscal_year_be(doc["requested_at"])
                sent[year] = sent.get(year, 0) + 1
        answered: dict[int, int] = {}
        async for doc in self._responses.find({}, {"survey_id": 1, "fiscal_year": 1}):
            if doc.get("survey_id") and doc.get("fiscal_year") is not None:
                answered[doc["fiscal_year"]] = answered.get(doc["fiscal_year"], 0) + 1
        return {year: answered.get(year, 0) / n for year, n in sent.items() if n}
