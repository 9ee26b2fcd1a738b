"""Hand-written fakes of routing's ports (no mocks), and the shipped directory to test with."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

import yaml

from services.routing.adapters.directory_files import DEFAULT_ROOT
from services.routing.adapters.mongo_cases import overdue_from
from services.routing.domain.directory import Directory
from services.routing.domain.duplicates import Candidate, bounding_box
from services.routing.domain.errors import UnknownOrganisation
from services.routing.domain.model import Case, HistoryChunk
from shared.outbox import Emission
from shared.taxonomy import by_code
from tests.fakes import FakePublisher, OutboxStore


@cache
def _raw_directory() -> str:
    return (DEFAULT_ROOT / "sraphonthong.yaml").read_text(encoding="utf-8")


def directory_data() -> dict[str, Any]:
    """The shipped directory as plain data, for tests that need a variation of it."""
    data = yaml.safe_load(_raw_directory())
    assert isinstance(data, dict)
    return data


def shipped_directory(**changes: Any) -> Directory:
    data = directory_data()
    data.update(changes)
    return Directory.model_validate(data)


def with_officer_status(officer_id: str, status: str) -> Directory:
    data = directory_data()
    for officer in data["officers"]:
        if officer["id"] == officer_id:
            officer["status"] = status
    return Directory.model_validate(data)


class StaticDirectories:
    def __init__(self, directory: Directory | None = None) -> None:
        self.directory = directory or shipped_directory()

    def get(self, org_id: str) -> Directory:
        if org_id != self.directory.org_id:
            raise UnknownOrganisation(f"no directory for organisation {org_id!r}")
        return self.directory


@dataclass(frozen=True)
class Ranked:
    code: str
    label_th: str
    label_en: str
    score: float
    evidence: tuple[str, ...] = ()


class FakeRanker:
    """Ranks by the first listed word found in the text; `general` otherwise."""

    WORDS = (
        ("ทุจริต", "corruption"),
        ("สินบน", "corruption"),
        ("ไฟ", "lighting"),
        ("ถนน", "road"),
        ("ขยะ", "cleanliness"),
        ("ประปา", "water_supply"),
        ("เบี้ย", "welfare"),
        ("ภาษี", "tax_fee"),
        ("ท่อ", "drainage"),
    )

    def __init__(self) -> None:
        self.calls = 0

    def rank(self, text: str | None, top_k: int = 5) -> list[Ranked]:
        self.calls += 1
        found = [code for word, code in self.WORDS if word in (text or "")] or ["general"]
        ranked = []
        for n, code in enumerate(dict.fromkeys([*found, "general"])):
            cat = by_code(code)
            ranked.append(
                Ranked(code, cat.label_th, cat.label_en, round(0.9 / (n + 1), 3), (f"word:{code}",))
            )
        return ranked[:top_k]


def _matches(value: Any, wanted: Any) -> bool:
    """A filter as MongoDB reads it: a value, or `{"$in": [...]}`."""
    if isinstance(wanted, dict) and "$in" in wanted:
        return str(value) in {str(w) for w in wanted["$in"]}
    return str(value) == str(wanted)


class FakeCaseRepository:
    def __init__(self, publisher: FakePublisher | None = None) -> None:
        self.publisher = publisher or FakePublisher()
        self.store = OutboxStore(self.publisher)
        self.filed: dict[str, list[Any]] = {}
        # Decided and counted as open, not yet stored (the real working set's entries).
        self.reserved: dict[str, Case] = {}

    def all(self) -> list[Case]:
        return [c for c in (self.store.load(k) for k in self.store.docs) if c is not None]

    def working_set(self) -> list[Case]:
        stored = {c.case_id: c for c in self.all()}
        return [*stored.values(), *(c for k, c in self.reserved.items() if k not in stored)]

    def reserve(self, case: Case) -> None:
        self.reserved[case.case_id] = copy.deepcopy(case)

    async def get(self, case_id: str) -> Case | None:
        case = self.store.load(case_id)
        if case is not None:
            case.version = self.store.docs[case_id]["version"]
        return case  # type: ignore[no-any-return]

    async def save(self, case: Case, emissions: Sequence[Emission]) -> None:
        await asyncio.sleep(0)  # a real save waits for the database: others run meanwhile
        for chunk in case.file_history():  # filed first, as the real repository does
            self.filed[chunk.chunk_id] = list(chunk.entries)
        case.version = self.store.save(case.case_id, case, case.version, emissions)

    async def history(self, case_id: str, kind: str, no: int) -> list[Any]:
        return list(self.filed.get(HistoryChunk(case_id, kind, no, []).chunk_id, []))

    async def flush(self, case_id: str) -> int:
        return await self.store.flush(case_id)

    async def sweep(self) -> int:
        return await self.store.sweep()

    def _match(self, filters: dict[str, Any], overdue_at: datetime | None) -> list[Case]:
        found = []
        for c in sorted(self.all(), key=lambda c: (c.received_at, c.case_id)):
            if not all(_matches(getattr(c, f, None), v) for f, v in filters.items()):
                continue
            since = overdue_from(c)
            if overdue_at is not None and (since is None or since >= overdue_at):
                continue
            found.append(c)
        return found

    async def find(
        self,
        filters: dict[str, Any],
        limit: int,
        offset: int,
        *,
        overdue_at: datetime | None = None,
    ) -> list[Case]:
        return self._match(filters, overdue_at)[offset : offset + limit]

    async def summaries(
        self,
        filters: dict[str, Any],
        limit: int,
        offset: int,
        *,
        overdue_at: datetime | None = None,
    ) -> list[dict[str, Any]]:
        from services.routing.adapters.mongo_cases import INDEX_FIELDS, index_entry, to_document

        found = self._match(filters, overdue_at)[offset : offset + limit]
        out = []
        for c in found:
            entry = index_entry({**to_document(c), "version": c.version})
            out.append({k: entry[k] for k in ("_id", *INDEX_FIELDS)})
        return out

    async def count(self, filters: dict[str, Any], *, overdue_at: datetime | None = None) -> int:
        return len(self._match(filters, overdue_at))

    async def loads(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for c in self.working_set():
            if c.is_open and c.officer_id:
                out[c.officer_id] = out.get(c.officer_id, 0) + 1
        return out

    async def due(self, now: datetime, limit: int) -> list[str]:
        due = [c for c in self.all() if c.next_timer_at is not None and c.next_timer_at <= now]
        return [c.case_id for c in sorted(due, key=lambda c: c.next_timer_at or now)][:limit]

    async def duplicate_candidates(self, case: Case, limit: int) -> list[Candidate]:
        out = []
        for c in self.working_set():
            if not c.is_open or c.case_id == case.case_id:
                continue
            near = False
            if case.category and case.lat is not None and case.lon is not None:
                lat0, lat1, lon0, lon1 = bounding_box(case.lat, case.lon)
                near = (
                    c.category == case.category
                    and c.lat is not None
                    and c.lon is not None
                    and lat0 <= c.lat <= lat1
                    and lon0 <= c.lon <= lon1
                )
            same_village = case.village_no is not None and c.village_no == case.village_no
            if near or same_village:
                out.append(
                    Candidate(
                        c.case_id,
                        c.category,
                        c.lat,
                        c.lon,
                        c.village_no,
                        c.text,
                        c.duplicate_root,
                    )
                )
        return out[:limit]


def make_handlers(
    clock: Any,
    directory: Directory | None = None,
    repo: FakeCaseRepository | None = None,
) -> tuple[Any, FakeCaseRepository]:
    from prometheus_client import CollectorRegistry

    from services.routing.handlers import RoutingHandlers
    from services.routing.metrics import RoutingMetrics

    repo = repo or FakeCaseRepository()
    handlers = RoutingHandlers(
        repo,
        StaticDirectories(directory),
        FakeRanker(),
        clock,
        RoutingMetrics(CollectorRegistry()),
        org_id="sraphonthong",
        preview_cache_seconds=0.0,
    )
    return handlers, repo
