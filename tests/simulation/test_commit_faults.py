"""Journal fault points: commits that fail, and crashes at the k-th append.

The runtime must ride out transient commit failures without losing or
doubling anything — including while it recovers (DBOS #716: a transient
error during recovery left a workflow PENDING forever).
"""

from __future__ import annotations

import asyncio
import random

import pytest

from cadenza.persistence import JournalFaults
from cadenza.testing import Simulation
from cadenza.testing._simulation.checker import Checker
from cadenza.testing._simulation.harness import SimRuntime
from cadenza.testing._simulation.sweep import quiet_logs, run_seed
from cadenza.testing._simulation.workloads import TASK_TYPES, three_steps


@pytest.mark.parametrize("seed", range(4))
def test_recovery_that_meets_failing_commits_still_recovers_every_run(seed: int) -> None:
    """DBOS #716: every run recovered under failing commits is queued again and finishes."""
    with quiet_logs():
        sim = Simulation(seed)
        h = SimRuntime(sim)
        checker = Checker(h)
        rt = h.open()

        async def hangs(data: dict[str, object]) -> dict[str, object]:
            await asyncio.Event().wait()  # until the crash
            return {}

        async def begin() -> list[str]:
            await rt.register(three_steps())
            # some are in progress at the crash, in local slots: recovery queues them again
            # (an external worker's stay in progress with it, `engine/run/_requeue`)
            rt.worker("step_a", hangs, concurrency=5)
            run_ids = [await rt.start("three_steps", {"n": i}) for i in range(20)]

            async def started() -> int:
                runs = [await rt.get(run_id) for run_id in run_ids]
                return sum(run.tasks[0].status == "IN_PROGRESS" for run in runs)

            while await started() < 5:  # noqa: ASYNC110 (the workers never end: no settle)
                await asyncio.sleep(0.01)
            return run_ids

        run_ids = sim.run(begin())
        faults = JournalFaults(random.Random(seed), fail_p=0.5, fail_burst_max=3)
        rt = h.crash(faults)
        assert faults.failed > 0  # recovery did meet failures
        checker.check_live()  # nothing lost: every SCHEDULED task is in its queue

        async def finish() -> list[str]:
            for task_type in TASK_TYPES:
                while (task := await rt.poll(task_type, worker_id="w", wait=0)) is not None:
                    await rt.complete(task.id, {"n": 1})
            return [(await rt.get(run_id)).status.value for run_id in run_ids]

        statuses = sim.run(finish(), timeout_s=120)
        assert statuses == ["COMPLETED"] * 20
        checker.check_live()
        h.close()
        sim.close()
        assert checker.violations == []


def test_a_sweep_with_journal_faults_reports_them_and_finds_no_violation() -> None:
    """Seeds with failing commits and append crashes keep every invariant."""
    results = [run_seed(seed, duration_s=2.0, crashes_max=3) for seed in range(200, 206)]
    assert sum(r.commits_failed for r in results) > 0
    assert sum(r.crashes for r in results) > 0
    assert [str(v) for r in results for v in r.violations] == []
