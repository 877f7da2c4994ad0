"""EXCLUSIVE_JOIN, as core/.../execution/tasks/ExclusiveJoin.java:41-139 and
ExclusiveJoinTaskMapper.java:47-61 define it: in progress from the start with input
`joinOn`/`defaultExclusiveJoinTask`; the first scheduled `joinOn` task decides, else the
first scheduled default; its output becomes the join's; a failure fails the join."""

from __future__ import annotations

from typing import Any

import pytest

import cadenza
from tests.tasks._helpers import flow, settled


def _simple(ref: str) -> dict[str, Any]:
    return {"name": f"task_{ref}", "taskReferenceName": ref}


def _switch_flow(**join: Any) -> dict[str, Any]:
    return flow(
        "ej_flow",
        _simple("first"),
        {"name": "pick", "taskReferenceName": "pick", "type": "SWITCH",
         "evaluatorType": "value-param", "expression": "which",
         "inputParameters": {"which": "${workflow.input.which}"},
         "decisionCases": {"a": [_simple("a")], "b": [_simple("b")]}},
        {"name": "ej", "taskReferenceName": "ej", "type": "EXCLUSIVE_JOIN", **join},
    )  # fmt: skip


async def _complete(rt: cadenza.Runtime, task_type: str, output: dict[str, Any]) -> None:
    polled = await rt.poll(task_type)
    assert polled is not None, task_type
    await rt.complete(polled.id, output)
    await rt.settle()


async def test_the_join_takes_the_output_of_the_branch_that_ran(rt: cadenza.Runtime) -> None:
    await rt.register(_switch_flow(joinOn=["a", "b"]))
    run_id = await rt.start("ej_flow", {"which": "b"})
    await rt.settle()
    await _complete(rt, "task_first", {"x": 1})
    await _complete(rt, "task_b", {"from": "b"})
    run = await rt.get(run_id)
    assert run.status == "COMPLETED"
    ej = run.tasks[-1]
    assert (ej.type, ej.status, ej.output) == ("EXCLUSIVE_JOIN", "COMPLETED", {"from": "b"})
    assert ej.input == {"joinOn": ["a", "b"]}


async def test_with_no_join_on_task_scheduled_the_first_scheduled_default_decides(
    rt: cadenza.Runtime,
) -> None:
    await rt.register(_switch_flow(joinOn=["a", "b"], defaultExclusiveJoinTask=["b", "first"]))
    run_id = await rt.start("ej_flow", {"which": "none"})
    await rt.settle()
    await _complete(rt, "task_first", {"x": 1})
    run = await rt.get(run_id)
    assert run.status == "COMPLETED"
    assert run.tasks[-1].output == {"x": 1}
    assert run.tasks[-1].input == {"joinOn": ["a", "b"], "defaultExclusiveJoinTask": ["b", "first"]}


async def test_a_failed_joined_task_fails_the_join(rt: cadenza.Runtime) -> None:
    await rt.register(_switch_flow(joinOn=["a", "b"]))
    await rt.register_task({"name": "task_a", "retryCount": 0})
    run_id = await rt.start("ej_flow", {"which": "a"})
    await rt.settle()
    await _complete(rt, "task_first", {})
    polled = await rt.poll("task_a")
    assert polled is not None
    await rt.fail(polled.id, "broke")
    run = await settled(rt, run_id)
    assert run.status == "FAILED"
    assert [t.status for t in run.tasks][-1] == "FAILED"


async def test_inside_a_fork_the_join_waits_for_a_branch_to_end(rt: cadenza.Runtime) -> None:
    await rt.register(
        flow(
            "ej_fork",
            {
                "name": "fork",
                "taskReferenceName": "fork",
                "type": "FORK_JOIN",
                "forkTasks": [
                    [_simple("slow")],
                    [
                        {
                            "name": "ej",
                            "taskReferenceName": "ej",
                            "type": "EXCLUSIVE_JOIN",
                            "joinOn": ["slow"],
                        }
                    ],
                ],
            },
            {"name": "join", "taskReferenceName": "join", "type": "JOIN", "joinOn": ["slow", "ej"]},
        )
    )
    run_id = await rt.start("ej_fork")
    run = await settled(rt, run_id)
    ej = next(t for t in run.tasks if t.ref == "ej")
    assert ej.status == "IN_PROGRESS"
    await _complete(rt, "task_slow", {"done": True})
    run = await rt.get(run_id)
    assert run.status == "COMPLETED"
    assert next(t for t in run.tasks if t.ref == "ej").output == {"done": True}


async def test_a_join_on_an_unknown_reference_is_refused(rt: cadenza.Runtime) -> None:
    with pytest.raises(cadenza.DefinitionError, match="nope"):
        await rt.register(_switch_flow(joinOn=["a", "nope"]))
