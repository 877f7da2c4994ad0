"""Conductor's NestedForkJoinSubWorkflowSpec, ported.

Its `setup()` (a fork in a fork, a SUB_WORKFLOW in the inner one whose leaf task fails, so
the sub-workflow and the parent end FAILED) is `_both_failed`, called first by each test.
"""

from __future__ import annotations

import cadenza
from tests.conductor_spec._support import (
    harness,
    integration_taskdef,
    poll_and_complete,
    poll_and_fail,
    status,
)
from tests.conductor_spec._support_fork_loop import FORK, JOIN, SUB, at

OPS = "WorkflowExecutorOps.java"
T1, T2 = "integration_task_1", "integration_task_2"
W1, W2 = "task1.integration.worker", "task2.integration.worker"
C, S, IP, CA, F = "COMPLETED", "SCHEDULED", "IN_PROGRESS", "CANCELED", "FAILED"
DONE = {"op": "task1.done"}
DONE2 = {"op": "task2.done"}


def _parent(sub: str, joins: str, t2: str = C) -> dict[str, tuple[str, str]]:
    """The parent's seven tasks: two FORKs, the SUB_WORKFLOW, two integration_task_2, two
    JOINs."""
    return {"t0": (FORK, C), "t1": (FORK, C), "t2": (SUB, sub), "t3": (T2, t2),
            "t4": (JOIN, joins), "t5": (T2, t2), "t6": (JOIN, joins)}  # fmt: skip


async def _both_failed(rt: cadenza.Runtime) -> tuple[str, str]:
    """The spec's setup(): (parent id, sub-workflow id), both FAILED."""
    await harness(rt, "nested_fork_join_swf.json", "simple_workflow_1_integration_test.json")
    await rt.register_task(integration_taskdef(T2, 0))
    parent_id = await rt.start(
        "nested_fork_join_swf",
        {"param1": "p1 value", "param2": "p2 value", "subwf": "integration_test_wf"},
        correlation_id="retry_on_root_in_3level_wf",
    )
    at(await status(rt, parent_id), "RUNNING", 7, **_parent(IP, IP, S))

    await poll_and_complete(rt, T2, W1, DONE)
    await poll_and_complete(rt, T2, W1, DONE)
    parent = await status(rt, parent_id)
    at(parent, "RUNNING", 7, **_parent(IP, IP))
    sub_id = parent.tasks[2].sub_workflow_id
    assert sub_id is not None
    at(await status(rt, sub_id), "RUNNING", 1, t0=(T1, S))

    await poll_and_complete(rt, T1, W1, DONE)
    await poll_and_fail(rt, T2, W2, "task2 failed")
    at(await status(rt, sub_id), "FAILED", 2, t0=(T1, C), t1=(T2, F))
    at(await status(rt, parent_id), "FAILED", 7, **_parent(F, CA))
    return parent_id, sub_id


async def _parent_completes(rt: cadenza.Runtime, parent_id: str) -> None:
    """assertParentWorkflowIsComplete()."""
    at(await status(rt, parent_id), "COMPLETED", 7, **_parent(C, C))


async def test_restart_on_the_sub_workflow_in_a_nested_fork_join_workflow(
    rt: cadenza.Runtime,
) -> None:
    """NestedForkJoinSubWorkflowSpec.groovy: "test restart on the sub workflow in a nested fork
    join workflow"."""
    parent_id, sub_id = await _both_failed(rt)
    await rt.restart(sub_id)
    at(await status(rt, sub_id), "RUNNING", 1, t0=(T1, S))
    parent = await status(rt, parent_id)
    at(parent, "RUNNING", 7, **_parent(IP, IP))
    assert parent.tasks[2].sub_workflow_id == sub_id  # !subworkflowChanged

    await poll_and_complete(rt, T1, W1, DONE)
    await poll_and_complete(rt, T2, W2, DONE2)
    at(await status(rt, sub_id), "COMPLETED", 2, t0=(T1, C), t1=(T2, C))
    await _parent_completes(rt, parent_id)


async def test_restart_on_the_parent_workflow_in_a_nested_fork_join_workflow(
    rt: cadenza.Runtime,
) -> None:
    """NestedForkJoinSubWorkflowSpec.groovy: "test restart on the parent workflow in a nested
    fork join workflow"."""
    parent_id, sub_id = await _both_failed(rt)
    await rt.restart(parent_id)
    at(await status(rt, parent_id), "RUNNING", 7, **_parent(IP, IP, S))

    await poll_and_complete(rt, T2, W2, DONE2)
    await poll_and_complete(rt, T2, W2, DONE2)
    parent = await status(rt, parent_id)
    at(parent, "RUNNING", 7, **_parent(IP, IP))
    new_sub_id = parent.tasks[2].sub_workflow_id
    assert new_sub_id is not None
    assert new_sub_id != sub_id
    at(await status(rt, new_sub_id), "RUNNING", 1, t0=(T1, S))

    await poll_and_complete(rt, T1, W1, DONE)
    await poll_and_complete(rt, T2, W2, DONE2)
    at(await status(rt, new_sub_id), "COMPLETED", 2, t0=(T1, C), t1=(T2, C))
    await _parent_completes(rt, parent_id)


async def test_retry_on_the_parent_workflow_in_a_nested_fork_join_workflow(
    rt: cadenza.Runtime,
) -> None:
    """NestedForkJoinSubWorkflowSpec.groovy: "test retry on the parent workflow in a nested
    fork join workflow"."""
    parent_id, sub_id = await _both_failed(rt)
    await rt.retry(parent_id)
    parent = await status(rt, parent_id)
    at(parent, "RUNNING", 8, **_parent(F, IP), t7=(SUB, IP))
    assert parent.tasks[2].retried
    assert not parent.tasks[7].retried  # retriedTaskId == tasks[2].taskId
    new_sub_id = parent.tasks[7].sub_workflow_id
    assert new_sub_id is not None
    assert new_sub_id != sub_id
    at(await status(rt, new_sub_id), "RUNNING", 1, t0=(T1, S))

    await poll_and_complete(rt, T1, W1, DONE)
    await poll_and_complete(rt, T2, W2, DONE2)
    at(await status(rt, new_sub_id), "COMPLETED", 2, t0=(T1, C), t1=(T2, C))
    parent = await status(rt, parent_id)
    at(parent, "COMPLETED", 8, **_parent(F, C), t7=(SUB, C))
    assert parent.tasks[2].retried


async def test_retry_with_resume_on_the_parent_workflow_in_a_nested_fork_join_workflow(
    rt: cadenza.Runtime,
) -> None:
    """NestedForkJoinSubWorkflowSpec.groovy: "test retry with resume on the parent workflow in
    a nested fork join workflow"."""
    parent_id, sub_id = await _both_failed(rt)
    await rt.retry(parent_id, resume_subworkflow_tasks=True)  # retry(parentWorkflowId, true)
    await _sub_retried(rt, parent_id, sub_id)


async def _sub_retried(rt: cadenza.Runtime, parent_id: str, sub_id: str) -> None:
    """What both features retrying the failed task in the sub-workflow check, to the end."""
    sub = await status(rt, sub_id)
    at(sub, "RUNNING", 3, t0=(T1, C), t1=(T2, F), t2=(T2, S))
    assert sub.tasks[1].retried
    assert not sub.tasks[2].retried  # retriedTaskId == tasks[1].taskId
    parent = await status(rt, parent_id)
    at(parent, "RUNNING", 7, **_parent(IP, IP))
    assert parent.tasks[2].sub_workflow_id == sub_id  # !subworkflowChanged

    await poll_and_complete(rt, T2, W2, DONE2)
    sub = await status(rt, sub_id)
    at(sub, "COMPLETED", 3, t0=(T1, C), t1=(T2, F), t2=(T2, C))
    assert sub.tasks[1].retried
    await _parent_completes(rt, parent_id)


async def test_retry_on_the_sub_workflow_in_a_nested_fork_join_workflow(
    rt: cadenza.Runtime,
) -> None:
    """NestedForkJoinSubWorkflowSpec.groovy: "test retry on the sub workflow in a nested fork
    join workflow"."""
    parent_id, sub_id = await _both_failed(rt)
    await rt.retry(sub_id)
    await _sub_retried(rt, parent_id, sub_id)
