"""Conductor's ExclusiveJoinSpec, ported: EXCLUSIVE_JOIN after nested DECISIONs.

Every feature starts `ExclusiveJoinTestWorkflow`, completes one worker task per step (each
outputs `taskReferenceName`) and checks the task list; the EXCLUSIVE_JOIN's output names the
branch's last task.
"""

from __future__ import annotations

import cadenza
from tests.conductor_spec._support import harness, poll_and_complete, shape, status, verify_polled

T1, D, EJ = "integration_task_1", "DECISION", "EXCLUSIVE_JOIN"
C, S = "COMPLETED", "SCHEDULED"


async def _run(
    rt: cadenza.Runtime,
    workflow_input: dict[str, str],
    steps: list[tuple[int, str, list[tuple[str, str]]]],
) -> None:
    """Each step: complete `integration_task_<n>` (output {taskReferenceName: task<n>}), then
    the workflow is RUNNING (or COMPLETED after the last step) with this task list."""
    await harness(rt, "exclusive_join_integration_test.json")
    run_id = await rt.start(
        "ExclusiveJoinTestWorkflow", workflow_input, correlation_id="exclusive_join_workflow"
    )
    run = await status(rt, run_id)
    assert run.status == "RUNNING"
    assert shape(run) == [(T1, S)]
    for i, (n, _, expected) in enumerate(steps):
        done = await poll_and_complete(
            rt, f"integration_task_{n}", f"task{n}.integration.worker",
            {"taskReferenceName": f"task{n}"},
        )  # fmt: skip
        verify_polled(done)
        run = await status(rt, run_id)
        assert run.status == ("COMPLETED" if i == len(steps) - 1 else "RUNNING")
        assert shape(run)[: len(expected)] == expected
        assert len(run.tasks) == len(expected)
    assert run.tasks[-1].output["taskReferenceName"] == steps[-1][1]


async def test_that_the_default_decision_is_run(rt: cadenza.Runtime) -> None:
    """ExclusiveJoinSpec.groovy: "Test that the default decision is run"."""
    await _run(rt, {"decision_1": "null"}, [(1, "task1", [(T1, C), (D, C), (EJ, C)])])


async def test_when_the_one_decision_is_true_and_the_other_is_decision_null(
    rt: cadenza.Runtime,
) -> None:
    """ExclusiveJoinSpec.groovy: "Test when the one decision is true and the other is decision
    null"."""
    await _run(
        rt,
        {"decision_1": "true", "decision_2": "null"},
        [
            (1, "task1", [(T1, C), (D, C), ("integration_task_2", S)]),
            (2, "task2", [(T1, C), (D, C), ("integration_task_2", C), (D, C), (EJ, C)]),
        ],
    )


async def test_when_both_the_decisions_decision_1_and_decision_2_are_true(
    rt: cadenza.Runtime,
) -> None:
    """ExclusiveJoinSpec.groovy: "Test when both the decisions, decision_1 and decision_2 are
    true"."""
    t2, t3 = "integration_task_2", "integration_task_3"
    await _run(
        rt,
        {"decision_1": "true", "decision_2": "true"},
        [
            (1, "task1", [(T1, C), (D, C), (t2, S)]),
            (2, "task2", [(T1, C), (D, C), (t2, C), (D, C), (t3, S)]),
            (3, "task3", [(T1, C), (D, C), (t2, C), (D, C), (t3, C), (EJ, C)]),
        ],
    )


async def test_when_decision_1_is_false_and_decision_3_is_default(rt: cadenza.Runtime) -> None:
    """ExclusiveJoinSpec.groovy: "Test when decision_1 is false and  decision_3 is default"."""
    t4 = "integration_task_4"
    await _run(
        rt,
        {"decision_1": "false", "decision_3": "null"},
        [
            (1, "task1", [(T1, C), (D, C), (t4, S)]),
            (4, "task4", [(T1, C), (D, C), (t4, C), (D, C), (EJ, C)]),
        ],
    )


async def test_when_decision_1_is_false_and_decision_3_is_true(rt: cadenza.Runtime) -> None:
    """ExclusiveJoinSpec.groovy: "Test when decision_1 is false and  decision_3 is true"."""
    t4, t5 = "integration_task_4", "integration_task_5"
    await _run(
        rt,
        {"decision_1": "false", "decision_3": "true"},
        [
            (1, "task1", [(T1, C), (D, C), (t4, S)]),
            (4, "task4", [(T1, C), (D, C), (t4, C), (D, C), (t5, S)]),
            (5, "task5", [(T1, C), (D, C), (t4, C), (D, C), (t5, C), (EJ, C)]),
        ],
    )
