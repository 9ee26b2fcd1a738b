"""Surveys, responses, aggregate buckets and alerts in MongoDB (FerretDB-compatible).

Collections: `surveys` (_id = survey id, one per resolution of a case), `responses`
(_id = response id: unique, so a second answer to one token or one paper form cannot
be stored), `satisfaction_buckets` (_id = org|fiscal year|dimension|value) and
`satisfaction_alerts` (_id = alert id). Surveys, responses and alerts carry their
events in an embedded outbox (shared.outbox).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pymongo.asynchronous.database import AsyncDatabase

from services.survey.domain.model import (
    DIMENSIONS,
    Alert,
    AlertDecision,
    Answer,
    AnswerScalar,
    Bucket,
    QuestionStats,
    Response,
    Slice,
    Survey,
)
from services.survey.ports import Counts
from shared.errors import ConcurrencyError
from shared.mongo import Document
from shared.outbox import Emission, RawPublisher
from shared.store import AggregateStore, Decision, change

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
        # What the aggregation pipelines read: the slice each dimension puts it in, and
        # the answers that are counted (comments are not).
        "dims": {by: r.slice_value(by) for by in DIMENSIONS},
        "scored": [{"q": a.question_id, "v": a.value} for a in r.scored],
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
    def __init__(self, db: AsyncDatabase[Document], publisher: RawPublisher) -> None:
        self._surveys = db["surveys"]
        self._relay = AggregateStore(self._surveys, publisher)

    async def ensure_indexes(self) -> None:
        await self._relay.ensure_indexes("token", "case_id", unique=("token",))

    async def add(self, survey: Survey, emissions: Sequence[Emission]) -> bool:
        return await _insert(self._relay, survey_to_document(survey), emissions)

    async def get(self, survey_id: str) -> Survey | None:
        doc = await self._surveys.find_one({"_id": survey_id}, {"outbox": 0})
        return survey_from_document(doc) if doc else None

    async def by_token(self, token: str) -> Survey | None:
        doc = await self._surveys.find_one({"token": token}, {"outbox": 0})
        return survey_from_document(doc) if doc else None

    async def of_case(self, case_id: str) -> list[Survey]:
        cursor = self._surveys.find({"case_id": case_id}, {"outbox": 0}).sort("case_seq", 1)
        return [survey_from_document(d) async for d in cursor]

    async def flush(self, survey_id: str) -> int:
        return await self._relay.flush(survey_id)

    async def sweep(self) -> int:
        return await self._relay.sweep()


class MongoResponseRepository:
    def __init__(self, db: AsyncDatabase[Document], publisher: RawPublisher) -> None:
        self._responses = db["responses"]
        self._relay = AggregateStore(self._responses, publisher)

    async def ensure_indexes(self) -> None:
        await self._relay.ensure_indexes(
            *(("org_id", "fiscal_year", f"dims.{by}") for by in DIMENSIONS),
            ("org_id", "dims.department", "responded_at"),
        )

    async def add(self, response: Response, emissions: Sequence[Emission]) -> bool:
        return await _insert(self._relay, response_to_document(response), emissions)

    async def ensure(self, response: Response) -> None:
        doc = response_to_document(response)
        await self._responses.update_one(
            {"_id": response.response_id},
            {"$setOnInsert": {**doc, "version": 1, "outbox": []}},
            upsert=True,
        )

    async def get(self, response_id: str) -> Response | None:
        doc = await self._responses.find_one({"_id": response_id}, {"outbox": 0})
        return response_from_document(doc) if doc else None

    async def answered(self, response_ids: Sequence[str]) -> set[str]:
        cursor = self._responses.find({"_id": {"$in": list(response_ids)}}, {"_id": 1})
        return {d["_id"] async for d in cursor}

    async def _counts(self, match: Document) -> Counts:
        responses = await self._responses.count_documents(match)
        counts: dict[tuple[str, AnswerScalar], int] = {}
        if responses:
            # $unwind + $group with $sum only: what FerretDB supports, and exact.
            pipeline: list[Document] = [
                {"$match": match},
                {"$unwind": "$scored"},
                {"$group": {"_id": {"q": "$scored.q", "v": "$scored.v"}, "n": {"$sum": 1}}},
            ]
            async for row in await self._responses.aggregate(pipeline):
                key = (row["_id"]["q"], row["_id"]["v"])
                counts[key] = counts.get(key, 0) + int(row["n"])
        return responses, counts

    async def count(self, slice_: Slice) -> Counts:
        return await self._counts(
            {
                "org_id": slice_.org_id,
                "fiscal_year": slice_.fiscal_year,
                f"dims.{slice_.by}": slice_.value,
            }
        )

    async def count_window(
        self, org_id: str, department: str, start: datetime, end: datetime
    ) -> Counts:
        return await self._counts(
            {
                "org_id": org_id,
                "dims.department": department,
                "responded_at": {"$gt": start, "$lte": end},
            }
        )

    async def slices(self) -> list[Slice]:
        found: list[Slice] = []
        for by in DIMENSIONS:
            pipeline: list[Document] = [
                {
                    "$group": {
                        "_id": {"o": "$org_id", "y": "$fiscal_year", "v": f"$dims.{by}"},
                        "n": {"$sum": 1},
                    }
                }
            ]
            async for row in await self._responses.aggregate(pipeline):
                key = row["_id"]
                found.append(Slice(key["o"], int(key["y"]), by, key["v"]))
        return found

    async def flush(self, response_id: str) -> int:
        return await self._relay.flush(response_id)

    async def sweep(self) -> int:
        return await self._relay.sweep()


class MongoAggregateStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._buckets = db["satisfaction_buckets"]
        self._store = AggregateStore(self._buckets, publisher=None)

    async def ensure_indexes(self) -> None:
        await self._store.ensure_indexes(("org_id", "fiscal_year", "by"))

    async def put(self, bucket: Bucket, *, force: bool = False) -> bool:
        doc = bucket_to_document(bucket)

        def decide(current: Document | None) -> Decision:
            # Responses are only ever added, so a slice's response count only grows: a
            # recomputation that saw fewer responses is stale and must not win.
            if not force and current is not None and current["responses"] > bucket.responses:
                return None
            if current is not None and all(current.get(k) == v for k, v in doc.items()):
                return None  # the same figures: a replay changes nothing, not even the version
            return doc, ()

        stored = await change(self._store, doc["_id"], decide)
        return stored is not None and all(stored.get(k) == v for k, v in doc.items())

    async def get(self, slice_: Slice) -> Bucket | None:
        doc = await self._buckets.find_one({"_id": slice_.key})
        return bucket_from_document(doc) if doc else None

    async def of_dimension(self, org_id: str, fiscal_year: int, by: str) -> list[Bucket]:
        cursor = self._buckets.find({"org_id": org_id, "fiscal_year": fiscal_year, "by": by})
        return sorted([bucket_from_document(d) async for d in cursor], key=lambda b: b.slice.value)

    async def all(self) -> list[Bucket]:
        cursor = self._buckets.find({})
        return sorted([bucket_from_document(d) async for d in cursor], key=lambda b: b.slice.key)

    async def delete_except(self, keys: set[str]) -> int:
        result = await self._buckets.delete_many({"_id": {"$nin": sorted(keys)}})
        return result.deleted_count


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
