"""Issue 13, items 3-4 in the simulation: commits refused for single runs, re-injected.

A seeded sweep refuses every append of a random third of the runs for a
while (as a journal refuses one bad value), while local workers finish
their tasks. Nothing may be lost or done twice (the checker's invariants),
no run's result may be dropped, and once the refusals stop every run ends.
"""

from __future__ import annotations

import random
from typing import Any

import anyio
import pytest

from cadenza.persistence import Append, JournalFaults
from cadenza.runtime import Runtime
from cadenza.testing import Simulation
from cadenza.testing._simulation.checker import Checker
from cadenza.testing._simulation.harness import SimRuntime
from cadenza.testing._simulation.sweep import quiet_logs
from cadenza.testing._simulation.workloads import TASK_TYPES, three_steps

RUNS = 24


async def _add_one(data: dict[str, Any]) -> dict[str, Any]:
    return {"n": data["n"] + 1}


def _setup(rt: Runtime) -> None:
    for task_type in TASK_TYPES:
        rt.worker(task_type, _add_one, concurrency=4)


@pytest.mark.parametrize("seed", range(6))
def test_commits_refused_for_single_runs_lose_nothing_and_repeat_nothing(seed: int) -> None:
    with quiet_logs():
        sim = Simulation(seed)
        h = SimRuntime(sim, setup=_setup)
        checker = Checker(h)
        rt = h.open()
        rng = random.Random(seed)
        refused: set[str] = set()
        faults = JournalFaults(
            rng, refuse_append=lambda item: isinstance(item, Append) and item.stream_id in refused
        )
        h.arm(faults)

        async def drive() -> list[str]:
            await rt.register(three_steps())
            run_ids = []
            for i in range(RUNS):
                run_ids.append(await rt.start("three_steps", {"n": i * 10}))
                if rng.random() < 1 / 3:  # from now on, every write of this run fails
                    refused.add(run_ids[-1])
            await anyio.sleep(rng.uniform(5.0, 30.0))  # a window of refusals, on the sim clock
            refused.clear()
            return [str((await rt.wait(run_id)).output["result"]) for run_id in run_ids]

        results = sim.run(drive(), timeout_s=3600)
        assert faults.refused > 0
        assert results == [str(i * 10 + 3) for i in range(RUNS)]
        checker.check_live()
        h.close()
        sim.close()
        assert [str(v) for v in checker.violations] == []
