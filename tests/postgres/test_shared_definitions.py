"""Definitions registered by one process sharing a PostgreSQL journal are seen by the others.

Before: each process read the definitions once, when it opened; a workflow
registered on process A (Conductor's `POST /metadata/workflow` behind a load
balancer) was `NotFound` on process B until B restarted, a new version or a
changed TaskDef (its limits) never reached B.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

import cadenza
from cadenza.testing import VirtualClock
from tests.postgres.test_shared_runtime import LEASE_S, add_one, parts

LATE = {
    "name": "late",
    "version": 1,
    "tasks": [{"name": "step_a", "taskReferenceName": "a", "inputParameters": {"n": 1}}],
    "outputParameters": {"v": 1, "n": "${a.output.n}"},
}


@asynccontextmanager
async def _two_processes(
    pg_url: str, clock: VirtualClock
) -> AsyncIterator[tuple[cadenza.Runtime, cadenza.Runtime]]:
    """Two runtimes on one database (two processes), each with a local `step_a` worker."""
    async with (
        cadenza.Runtime(pg_url, clock=clock, seed=1, lease_s=LEASE_S) as a,
        cadenza.Runtime(pg_url, clock=clock, seed=2, lease_s=LEASE_S) as b,
    ):
        for rt in (a, b):
            rt.worker("step_a", add_one)
        yield a, b


async def test_a_workflow_registered_on_another_process_starts_here_at_once(
    pg_url: str, clock: VirtualClock
) -> None:
    """B opened before A registered `late`: B's start reads it through, no restart."""
    async with _two_processes(pg_url, clock) as (a, b):
        await a.register(LATE)
        assert (await b.definition("late"))["outputParameters"] == LATE["outputParameters"]
        run_id = await b.start("late", {})
        done = await b.wait(run_id, timeout=30)
        assert (done.status, done.output) == ("COMPLETED", {"v": 1, "n": 2})
        [listed] = await b.start_many("late", [{}])
        assert (await b.wait(listed, timeout=30)).status == "COMPLETED"
        with pytest.raises(cadenza.NotFound, match="never_registered"):
            await b.start("never_registered", {})


async def test_a_new_version_and_a_changed_task_def_reach_the_other_process_at_its_tick(
    pg_url: str, clock: VirtualClock
) -> None:
    """A's version 2 and A's new TaskDef limits are B's after B's next heartbeat tick."""
    async with _two_processes(pg_url, clock) as (a, b):
        await a.register(LATE)
        await a.register_task({"name": "step_a", "concurrentExecLimit": 1})
        await parts(b).tick()
        assert (await b.definition("late"))["version"] == 1
        assert b._engine.registry.task_defs["step_a"].concurrent_exec_limit == 1
        await a.register({**LATE, "version": 2, "outputParameters": {"v": 2}})
        await a.register_task({"name": "step_a", "concurrentExecLimit": 3})
        await parts(b).tick()
        assert (await b.definition("late"))["version"] == 2
        assert b._engine.registry.task_defs["step_a"].concurrent_exec_limit == 3
        run_id = await b.start("late", {})
        assert (await b.wait(run_id, timeout=30)).output == {"v": 2}
