"""The background loop: work every interval until stopped, a failed round is logged and
the next one runs, and the first round can wait. Conditions are awaited, not timed."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import pytest

from shared.outbox import periodic, relay_loop

TICK = 0.001
Task = asyncio.Task[None]
PATIENCE = 5.0  # only a broken loop takes this long


async def until(condition: Callable[[], bool]) -> None:
    async def poll() -> None:
        while not condition():
            await asyncio.sleep(TICK)

    await asyncio.wait_for(poll(), PATIENCE)


def start(loop: Callable[[asyncio.Event], Awaitable[None]], stop: asyncio.Event) -> Task:
    async def run() -> None:
        await loop(stop)

    return asyncio.create_task(run())


def counting(results: list[int | BaseException]) -> tuple[Callable[[], Awaitable[int]], list[int]]:
    """Work that returns (or raises) the given results in turn, then 0; and its run count."""
    runs: list[int] = []

    async def work() -> int:
        runs.append(len(runs))
        result = results.pop(0) if results else 0
        if isinstance(result, BaseException):
            raise result
        return result

    return work, runs


async def test_it_runs_every_interval_until_stopped() -> None:
    work, runs = counting([])
    stop = asyncio.Event()
    loop = start(periodic(work, TICK, "test work"), stop)
    await until(lambda: len(runs) >= 5)
    stop.set()
    await asyncio.wait_for(loop, PATIENCE)
    after_stop = len(runs)
    await asyncio.sleep(TICK * 20)
    assert len(runs) == after_stop  # stopped for good


async def test_a_stop_ends_a_long_wait_at_once() -> None:
    work, runs = counting([])
    stop = asyncio.Event()
    loop = start(periodic(work, 3600.0, "hourly"), stop)
    await until(lambda: len(runs) == 1)
    stop.set()
    await asyncio.wait_for(loop, PATIENCE)  # not an hour
    assert len(runs) == 1


async def test_a_failed_round_is_logged_and_the_next_one_runs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    work, runs = counting([RuntimeError("database away"), ConnectionError("broker away"), 3])
    stop = asyncio.Event()
    with caplog.at_level(logging.INFO, logger="ruam.outbox"):
        loop = start(periodic(work, TICK, "relay"), stop)
        await until(lambda: len(runs) >= 4)
        stop.set()
        await asyncio.wait_for(loop, PATIENCE)
    assert not loop.cancelled() and loop.exception() is None
    failures = [r for r in caplog.records if r.getMessage() == "relay failed"]
    assert [type(r.exc_info[1]) for r in failures if r.exc_info] == [
        RuntimeError,
        ConnectionError,
    ]
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.INFO] == ["relay: 3"]


async def test_the_first_round_waits_for_first_after() -> None:
    work, runs = counting([])
    stop = asyncio.Event()
    loop = start(periodic(work, TICK, "later", first_after=3600.0), stop)
    await asyncio.sleep(TICK * 20)
    assert runs == []  # start-up did this work already
    stop.set()
    await asyncio.wait_for(loop, PATIENCE)
    assert runs == []  # stopped before its first round


async def test_after_first_after_it_runs_as_usual() -> None:
    work, runs = counting([])
    stop = asyncio.Event()
    loop = start(periodic(work, TICK, "soon", first_after=TICK), stop)
    await until(lambda: len(runs) >= 3)
    stop.set()
    await asyncio.wait_for(loop, PATIENCE)
    assert runs[:3] == [0, 1, 2] and loop.exception() is None


async def test_a_cancelled_loop_ends() -> None:
    work, runs = counting([])
    loop = start(periodic(work, TICK, "cancelled"), asyncio.Event())
    await until(lambda: len(runs) >= 2)
    loop.cancel()
    with pytest.raises(asyncio.CancelledError):
        await loop


async def test_the_relay_loop_sweeps_periodically() -> None:
    sweep, runs = counting([2, 0, 1])
    stop = asyncio.Event()
    loop = start(relay_loop(sweep, TICK), stop)
    await until(lambda: len(runs) >= 4)
    stop.set()
    await asyncio.wait_for(loop, PATIENCE)
    assert len(runs) >= 4 and loop.exception() is None
