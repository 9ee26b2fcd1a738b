from __future__ import annotations

import asyncio

import pytest

from shared.locks import KeyedLocks


async def test_work_on_one_key_runs_one_at_a_time_and_other_keys_run_beside_it() -> None:
    locks = KeyedLocks()
    order: list[str] = []
    inside: dict[str, int] = {}
    most: dict[str, int] = {}

    async def work(key: str, n: int) -> None:
        async with locks.hold(key):
            inside[key] = inside.get(key, 0) + 1
            most[key] = max(most.get(key, 0), inside[key])
            order.append(f"{key}{n}")
            await asyncio.sleep(0)
            await asyncio.sleep(0)
            inside[key] -= 1

    await asyncio.gather(*(work(k, n) for n in range(3) for k in ("a", "b")))
    assert most == {"a": 1, "b": 1}
    assert [x for x in order if x[0] == "a"] == ["a0", "a1", "a2"]  # in the order they came
    assert order[:2] == ["a0", "b0"]  # b did not wait for a
    assert len(locks) == 0  # nothing kept once nobody holds or waits


async def test_a_holder_that_fails_or_is_cancelled_lets_the_next_in() -> None:
    locks = KeyedLocks()
    started = asyncio.Event()

    async def fails() -> None:
        async with locks.hold("k"):
            raise ValueError("broke")

    async def hangs() -> None:
        async with locks.hold("k"):
            started.set()
            await asyncio.Event().wait()

    with pytest.raises(ValueError, match="broke"):
        await fails()
    task = asyncio.create_task(hangs())
    await started.wait()
    task.cancel()
    async with locks.hold("k"):
        assert len(locks) == 1
    assert len(locks) == 0
