"""The parsed branches of a dynamic fork are looked up by what they are, not by ids alone."""

from __future__ import annotations

from typing import Any

import cadenza
from cadenza.testing import VirtualClock
from tests.conductor_spec._support import load_def


def _planner(task_name: str) -> Any:
    async def plan(data: dict[str, Any]) -> dict[str, Any]:
        return {
            "dynamicTasks": [{"name": task_name, "taskReferenceName": "xdt1"}],
            "dynamicTasksInput": {"xdt1": {}},
        }

    return plan


async def _fork_once(path: str, task_name: str) -> list[str]:
    """Run the dynamic fork definition in a fresh runtime with seed 1 (so the same run id)."""
    async with cadenza.Runtime(path, clock=VirtualClock(), seed=1) as rt:
        await rt.register(load_def("dynamic_fork_join_integration_test.json"))

        async def echo(data: dict[str, Any]) -> dict[str, Any]:
            return {"done": True}

        rt.worker("integration_task_1", _planner(task_name))
        for name in ("integration_task_2", "integration_task_3", "integration_task_4"):
            rt.worker(name, echo)
        run = await rt.wait(await rt.start("DynamicFanInOutTest", {}))
        assert run.status == "COMPLETED", run.reason
        return [t.type for t in run.tasks if t.ref == "xdt1"]


async def test_two_runs_with_one_id_and_one_ref_fork_what_each_planned(tmp_path: Any) -> None:
    """Two runtimes seeded alike give their runs one id; each run's branch is its own task."""
    first = await _fork_once(str(tmp_path / "a.db"), "integration_task_2")
    second = await _fork_once(str(tmp_path / "b.db"), "integration_task_3")
    assert first == ["integration_task_2"]
    assert second == ["integration_task_3"]
