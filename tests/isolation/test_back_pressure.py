"""Issue 13, item 7: back-pressure on starts.

Before, 50,000 starts from 2,000 concurrent callers were all accepted at
once, ≈5.3 KB of memory per queued run, without bound. Past
`Runtime(max_runs_in_flight=...)` runs in flight, a start now waits for a
run to end (first come, first admitted); runs that only wait on a timer
cost no memory and do not count.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import pytest

import cadenza
from cadenza.testing import VirtualClock
from tests.conftest import three_steps
from tests.isolation._support import add_one, serve


def _open(db: Path, limit: int) -> cadenza.Runtime:
    return cadenza.Runtime(str(db), clock=VirtualClock(), seed=7, max_runs_in_flight=limit)


async def _until(condition: Callable[[], bool]) -> None:
    with anyio.fail_after(30):
        while not condition():  # each step is one turn of the loop: the starts move on
            await anyio.lowlevel.checkpoint()


async def test_past_the_limit_starts_wait_until_runs_end(tmp_path: Path) -> None:
    async with _open(tmp_path / "j.db", limit=10) as rt:
        await rt.register(three_steps())
        gate = rt._engine.gate
        starts = [asyncio.create_task(rt.start("three_steps", {"n": i})) for i in range(200)]
        await _until(lambda: gate.waiting == 190)
        await rt.settle()
        assert len(await rt.runs(limit=1000)) == 10  # the others wait, holding no run
        assert sum(task.done() for task in starts) == 10
        serve(rt)  # workers: runs end, and the waiting starts go in, in arrival order
        run_ids = await asyncio.gather(*starts)
        runs = [await rt.wait(run_id) for run_id in run_ids]
        assert [run.output["result"] for run in runs] == [i + 3 for i in range(200)]
        assert gate.peak == 10


async def test_many_concurrent_starters_never_hold_more_runs_than_the_limit(
    tmp_path: Path,
) -> None:
    """1,000 starts from 200 concurrent callers (4x the limit): memory follows the limit, not
    the callers."""
    limit = 50
    active: list[int] = []
    async with _open(tmp_path / "j.db", limit=limit) as rt:
        await rt.register(three_steps())

        async def counting(data: dict[str, Any]) -> dict[str, Any]:
            active.append(rt._engine._runs.active())  # run actors in memory now
            return await add_one(data)

        for task_type in ("step_a", "step_b", "step_c"):
            rt.worker(task_type, counting, concurrency=8)

        async def caller(first: int) -> list[str]:
            return [await rt.start("three_steps", {"n": first + i}) for i in range(5)]

        ids = [
            r for batch in await asyncio.gather(*(caller(c * 5) for c in range(200))) for r in batch
        ]
        assert len(set(ids)) == 1000
        for run_id in ids[-20:]:
            assert (await rt.wait(run_id)).status == "COMPLETED"
        await rt.settle()
        assert rt._engine.gate.peak <= limit
        assert max(active) <= limit + 8  # a run that ended may linger until its actor passivates
        assert len(await rt.runs(status="COMPLETED", limit=10_000)) == 1000


async def test_runs_waiting_on_a_timer_do_not_hold_back_starts(tmp_path: Path) -> None:
    waiting = {
        "name": "waiting",
        "tasks": [
            {
                "name": "pause",
                "taskReferenceName": "w",
                "type": "WAIT",
                "inputParameters": {"duration": "1h"},
            }
        ],
    }
    async with _open(tmp_path / "j.db", limit=3) as rt:
        await rt.register(waiting)
        with anyio.fail_after(10):
            run_ids = [await rt.start("waiting") for _ in range(20)]  # none waits
        assert len(set(run_ids)) == 20
        assert rt._engine.gate.in_flight == 0


async def test_starts_waiting_for_room_are_answered_at_shutdown_and_on_cancel(
    tmp_path: Path,
) -> None:
    db = tmp_path / "j.db"
    async with _open(db, limit=2) as rt:
        await rt.register(three_steps())
        gate = rt._engine.gate
        starts = [asyncio.create_task(rt.start("three_steps", {"n": i})) for i in range(6)]
        await _until(lambda: gate.waiting == 4)
        await asyncio.gather(*starts[:2])  # the two admitted are durable
        starts[2].cancel()  # a caller that gives up frees its place in line
        await asyncio.gather(starts[2], return_exceptions=True)
        assert gate.waiting == 3
    outcomes = await asyncio.gather(*starts[3:], return_exceptions=True)
    assert all(isinstance(o, cadenza.RuntimeClosed) for o in outcomes), outcomes
    async with _open(db, limit=2) as rt:  # the two admitted are there and finish
        serve(rt)
        assert len(await rt.runs()) == 2
        for task in starts[:2]:
            assert (await rt.wait(task.result())).status == "COMPLETED"


def test_a_limit_below_one_is_refused() -> None:
    with pytest.raises(cadenza.InvalidArgument) as refused:
        cadenza.Runtime(":memory:", max_runs_in_flight=0)
    assert refused.value.argument == "max_runs_in_flight"
