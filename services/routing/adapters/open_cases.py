"""Routing's working set: the open cases, held in memory.

What routing asks of every new case and every timer round (open cases per officer, open
cases near this one or in its village, timers that are due) would be a scan of every
stored case on FerretDB, which pushes no filter but `_id` down. Only open cases take
part, and they are few next to all stored cases, so the working set is loaded once at
start, kept current by this process's own saves, and reloaded every few minutes to
pick up what other replicas changed (docs/storage.md has the reasons and figures).
"""

from __future__ import annotations

import bisect
import heapq
import math
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from typing import Any

from services.routing.domain.duplicates import NEAR_M, Candidate, bounding_box
from services.routing.domain.model import Status

# Grid cell of the spatial lookup: larger than NEAR_M, so the 3x3 cells around a point
# hold everything within NEAR_M of it.
_CELL_DEG = 0.002


@dataclass(frozen=True, slots=True)
class OpenCase:
    case_id: str
    received_at: datetime
    officer_id: str | None
    category: str | None
    lat: float | None
    lon: float | None
    village_no: int | None
    text: str
    next_timer_at: datetime | None
    department: str | None = None
    status: str | None = None
    overdue_from: datetime | None = None
    duplicate_root: str | None = None

    @staticmethod
    def of(entry: dict[str, Any]) -> OpenCase:
        return OpenCase(
            entry["_id"],
            entry["received_at"],
            entry.get("officer_id"),
            entry.get("category"),
            entry.get("lat"),
            entry.get("lon"),
            entry.get("village_no"),
            sys.intern(entry.get("text") or ""),
            entry.get("next_timer_at"),
            entry.get("department"),
            entry.get("status"),
            entry.get("overdue_from"),
            entry.get("duplicate_root"),
        )

    def candidate(self) -> Candidate:
        return Candidate(
            self.case_id,
            self.category,
            self.lat,
            self.lon,
            self.village_no,
            self.text,
            self.duplicate_root,
        )


# Statuses in which nobody in the department that has the case has acknowledged it yet.
UNACKNOWLEDGED = frozenset(s.value for s in (Status.RECEIVED, Status.ASSIGNED, Status.TRANSFERRED))


@dataclass(frozen=True)
class Standing:
    """The open cases as an operator counts them (ops gauges), at one moment."""

    open: dict[tuple[str, str], int]  # (department, status) -> cases
    overdue: dict[str, int]  # department -> cases past their legal deadline
    oldest_unacknowledged: datetime | None


def _cell(lat: float, lon: float) -> tuple[int, int]:
    return math.floor(lat / _CELL_DEG), math.floor(lon / _CELL_DEG)


def _discard(bucket: list[tuple[datetime, str]], item: tuple[datetime, str]) -> None:
    at = bisect.bisect_left(bucket, item)
    if at < len(bucket) and bucket[at] == item:
        del bucket[at]


def _bucket_keys(case: OpenCase | None) -> tuple[set[int], set[tuple[str, int, int]]]:
    """The village and map-cell buckets a case belongs in."""
    villages: set[int] = set()
    cells: set[tuple[str, int, int]] = set()
    if case is not None:
        if case.village_no is not None:
            villages.add(case.village_no)
        if case.category and case.lat is not None and case.lon is not None:
            cells.add((case.category, *_cell(case.lat, case.lon)))
    return villages, cells


class OpenCases:
    """Open cases by id, officer, village and map cell, and their timers in due order."""

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._cases: dict[str, OpenCase] = {}
        # Built once per save, not once per new case that compares against it.
        self._candidates: dict[str, Candidate] = {}
        # The index entries themselves, for the lists of open cases (`select`).
        self._entries: dict[str, dict[str, Any]] = {}
        self._loads: Counter[str] = Counter()
        # Buckets are kept sorted by receipt, oldest first, so the oldest `limit` of a
        # bucket are read without sorting all of it.
        self._by_village: dict[int, list[tuple[datetime, str]]] = defaultdict(list)
        self._by_cell: dict[tuple[str, int, int], list[tuple[datetime, str]]] = defaultdict(list)
        # (due, case id): stale pairs are skipped when popped (lazy deletion).
        self._timers: list[tuple[datetime, str]] = []

    def __len__(self) -> int:
        return len(self._cases)

    def replace_all(self, entries: list[dict[str, Any]]) -> None:
        self._reset()
        for entry in entries:
            self.put(entry)

    def put(self, entry: dict[str, Any]) -> None:
        """The case as just stored (an index entry); an entry not open removes it."""
        old = self._cases.pop(entry["_id"], None)
        self._entries.pop(entry["_id"], None)
        self._candidates.pop(entry["_id"], None)
        case = OpenCase.of(entry) if entry.get("open") else None
        if old is not None and old.officer_id:
            self._loads[old.officer_id] -= 1
            if self._loads[old.officer_id] <= 0:
                del self._loads[old.officer_id]
        old_keys, new_keys = _bucket_keys(old), _bucket_keys(case)
        if old is not None:
            item = (old.received_at, old.case_id)
            for village in old_keys[0] - new_keys[0]:
                _discard(self._by_village[village], item)
            for cell_key in old_keys[1] - new_keys[1]:
                _discard(self._by_cell[cell_key], item)
        if case is None:
            return
        self._cases[case.case_id] = case
        self._entries[case.case_id] = entry
        self._candidates[case.case_id] = case.candidate()
        if case.officer_id:
            self._loads[case.officer_id] += 1
        item = (case.received_at, case.case_id)
        for village in new_keys[0] - old_keys[0]:
            bisect.insort(self._by_village[village], item)
        for cell_key in new_keys[1] - old_keys[1]:
            bisect.insort(self._by_cell[cell_key], item)
        if case.next_timer_at is not None and (
            old is None or old.next_timer_at != case.next_timer_at
        ):
            heapq.heappush(self._timers, (case.next_timer_at, case.case_id))

    def loads(self) -> dict[str, int]:
        return dict(self._loads)

    def select(self, filters: dict[str, Any], overdue_at: datetime | None) -> list[dict[str, Any]]:
        """The open cases' index entries that `filters` (equalities, and `status` as a value
        or `{"$in": [...]}`) select, oldest first, as case_index would answer them."""
        wanted = dict(filters)
        status = wanted.pop("status", None)
        statuses = set(status["$in"]) if isinstance(status, dict) else {status}
        found = [
            e
            for e in self._entries.values()
            if (status is None or e.get("status") in statuses)
            and all(e.get(k) == v for k, v in wanted.items())
            and (
                overdue_at is None
                or (e.get("overdue_from") is not None and e["overdue_from"] < overdue_at)
            )
        ]
        return sorted(found, key=lambda e: (e["received_at"], e["_id"]))

    def standing(self, now: datetime) -> Standing:
        """O(open cases): for a loop every few seconds, never per request or scrape."""
        opened: Counter[tuple[str, str]] = Counter()
        overdue: Counter[str] = Counter()
        oldest: datetime | None = None
        for case in self._cases.values():
            department = case.department or "unassigned"
            opened[(department, case.status or "unknown")] += 1
            if case.overdue_from is not None and case.overdue_from < now:
                overdue[department] += 1
            if case.status in UNACKNOWLEDGED and (oldest is None or case.received_at < oldest):
                oldest = case.received_at
        return Standing(dict(opened), dict(overdue), oldest)

    def due(self, now: datetime, limit: int) -> list[str]:
        """Open cases whose earliest timer is due, earliest first, each once."""
        out: list[str] = []
        seen: set[str] = set()
        keep: list[tuple[datetime, str]] = []
        while self._timers and self._timers[0][0] <= now and len(out) < limit:
            due_at, case_id = heapq.heappop(self._timers)
            case = self._cases.get(case_id)
            if case is None or case.next_timer_at != due_at or case_id in seen:
                continue  # closed, or its timers changed since this was pushed
            seen.add(case_id)
            out.append(case_id)
            # Stays in the heap until a save moves its timer: a round that fails to
            # fire it tries again next round.
            keep.append((due_at, case_id))
        for item in keep:
            heapq.heappush(self._timers, item)
        return out

    def candidates(
        self,
        case_id: str,
        category: str | None,
        lat: float | None,
        lon: float | None,
        village_no: int | None,
        limit: int,
    ) -> list[Candidate]:
        """Open cases of the same category near the point, or in the same village:
        the oldest `limit` of them. Reads at most `limit` (+1) of each bucket."""
        buckets: list[list[tuple[datetime, str]]] = []
        if category and lat is not None and lon is not None:
            lat0, lat1, lon0, lon1 = bounding_box(lat, lon, NEAR_M)
            (a0, b0), (a1, b1) = _cell(lat0, lon0), _cell(lat1, lon1)
            for a in range(a0, a1 + 1):
                for b in range(b0, b1 + 1):
                    if (category, a, b) in self._by_cell:
                        buckets.append(self._by_cell[(category, a, b)])
        if village_no is not None and village_no in self._by_village:
            buckets.append(self._by_village[village_no])
        # Each bucket is sorted oldest first: merged, the first `limit` distinct ids are
        # the oldest of them all.
        heads = (
            islice((item for item in bucket if item[1] != case_id), limit) for bucket in buckets
        )
        found: list[Candidate] = []
        last: str | None = None
        for _, i in heapq.merge(*heads):
            if i != last:  # in two buckets: equal items come together
                found.append(self._candidates[i])
                last = i
                if len(found) == limit:
                    break
        return found
