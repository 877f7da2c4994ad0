"""Helpers for the sub-workflow, retry, restart and rerun specs ported from Conductor.

`expect(run, status, {i: (taskType, status)}, size=n)` is one Spock
`with(workflowExecutionService.getExecutionStatus(id, true)) {...}` block;
`three_level_failed` / `hierarchical_failed` are the `setup()` of the
3-level specs: root, mid-level and leaf runs all FAILED because
`integration_task_2` failed in the leaf.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

import cadenza
from cadenza import TaskRun, WorkflowRun
from tests.conductor_spec._support import (
    harness,
    integration_taskdef,
    poll_and_complete,
    poll_and_fail,
    status,
    verify_polled,
)

SUB = "SUB_WORKFLOW"
FORK = "FORK"  # Conductor's taskType of a FORK_JOIN task (ForkJoinTaskMapper.java:75)
JOIN = "JOIN"
WITH_SUB = "integration_test_wf_with_sub_wf"
SIMPLE = "integration_test_wf"
HIER = "hierarchical_fork_join_swf"
T1, T2 = "integration_task_1", "integration_task_2"
W1, W2 = "task1.integration.worker", "task2.integration.worker"

# Conductor source lines the differences below cite (conductor-oss/conductor at b54f0d4).
OPS = "core/src/main/java/com/netflix/conductor/core/execution/WorkflowExecutorOps.java"


def differs(*reasons: str) -> pytest.MarkDecorator:
    """A strict xfail naming each way cadenza differs from Conductor in this feature."""
    return pytest.mark.xfail(strict=True, reason="; and ".join(reasons))


def expect(
    run: WorkflowRun,
    run_status: str,
    tasks: Mapping[int, tuple[str, str]] | Sequence[tuple[str, str]],
    *,
    size: int | None = None,
) -> None:
    """One Spock `with(...)` block on a workflow: status, task count, tasks[i] type and status."""
    assert run.status == run_status, (run.status, shape(run))
    if size is not None:
        assert len(run.tasks) == size, shape(run)
    items = tasks.items() if isinstance(tasks, Mapping) else enumerate(tasks)
    for i, (task_type, task_status) in items:
        assert (run.tasks[i].type, run.tasks[i].status) == (task_type, task_status), shape(run)


def shape(run: WorkflowRun) -> list[tuple[str, str, bool]]:
    return [(t.type, str(t.status), t.retried) for t in run.tasks]


def child(run: WorkflowRun, index: int) -> str:
    """`tasks[index].subWorkflowId`."""
    found = run.tasks[index].sub_workflow_id
    assert found, shape(run)
    return found


def retried_pair(run: WorkflowRun, old: int, new: int) -> None:
    """`tasks[old].retried` and `tasks[new].retriedTaskId == tasks[old].taskId`."""
    assert run.tasks[old].retried, shape(run)
    assert not run.tasks[new].retried
    assert run.tasks[new].ref == run.tasks[old].ref


async def harness_with(rt: cadenza.Runtime, *files: str, task2_retries: int = 1) -> None:
    """The harness, then `integration_task_2` with `task2_retries` retries."""
    await harness(rt, *files)
    await rt.register_task(integration_taskdef(T2, task2_retries))


async def complete(
    rt: cadenza.Runtime, task_type: str, worker: str, output: dict[str, Any] | None = None
) -> TaskRun:
    return verify_polled(await poll_and_complete(rt, task_type, worker, output))


async def fail(rt: cadenza.Runtime, task_type: str, worker: str, reason: str) -> TaskRun:
    return verify_polled(await poll_and_fail(rt, task_type, worker, reason))


async def three_level_failed(rt: cadenza.Runtime, correlation_id: str) -> tuple[str, str, str]:
    """SubWorkflowRetrySpec/RestartSpec/RerunSpec `setup()`: three runs FAILED from the leaf."""
    await harness_with(
        rt,
        "simple_one_task_sub_workflow_integration_test.json",
        "simple_workflow_1_integration_test.json",
        "workflow_with_sub_workflow_1_integration_test.json",
        task2_retries=0,
    )
    inputs = {"param1": "p1 value", "param2": "p2 value", "subwf": WITH_SUB, "nextSubwf": SIMPLE}
    root = await rt.start(WITH_SUB, inputs, version=1, correlation_id=correlation_id)
    expect(await status(rt, root), "RUNNING", [(T1, "SCHEDULED")], size=1)
    await complete(rt, T1, W1, {"op": "task1.done"})
    run = await status(rt, root)
    expect(run, "RUNNING", [(T1, "COMPLETED"), (SUB, "IN_PROGRESS")], size=2)
    mid = child(run, 1)
    expect(await status(rt, mid), "RUNNING", [(T1, "SCHEDULED")], size=1)
    await complete(rt, T1, W1, {"op": "task1.done"})
    leaf = child(await status(rt, mid), 1)
    expect(await status(rt, leaf), "RUNNING", [(T1, "SCHEDULED")], size=1)
    await complete(rt, T1, W1, {"op": "task1.done"})
    await fail(rt, T2, W2, "failed")
    expect(await status(rt, leaf), "FAILED", [(T1, "COMPLETED"), (T2, "FAILED")], size=2)
    expect(await status(rt, mid), "FAILED", [(T1, "COMPLETED"), (SUB, "FAILED")], size=2)
    expect(await status(rt, root), "FAILED", [(T1, "COMPLETED"), (SUB, "FAILED")], size=2)
    return root, mid, leaf


FORKED = [(FORK, "COMPLETED"), (SUB, "IN_PROGRESS"), (T2, "COMPLETED"), (JOIN, "IN_PROGRESS")]
FORK_FAILED = [(FORK, "COMPLETED"), (SUB, "FAILED"), (T2, "COMPLETED"), (JOIN, "CANCELED")]
RESUMED = [(FORK, "COMPLETED"), (SUB, "IN_PROGRESS"), (T2, "COMPLETED")]
FORK_DONE = [(FORK, "COMPLETED"), (SUB, "COMPLETED"), (T2, "COMPLETED"), (JOIN, "COMPLETED")]


async def hierarchical_failed(rt: cadenza.Runtime, correlation_id: str) -> tuple[str, str, str]:
    """HierarchicalForkJoinSubworkflow*Spec `setup()`: three runs FAILED from the leaf."""
    await harness_with(
        rt,
        "hierarchical_fork_join_swf.json",
        "simple_workflow_1_integration_test.json",
        task2_retries=0,
    )
    inputs = {"param1": "p1 value", "param2": "p2 value", "subwf": HIER, "nextSubwf": SIMPLE}
    root = await rt.start(HIER, inputs, version=1, correlation_id=correlation_id)
    expect(
        await status(rt, root),
        "RUNNING",
        [(FORK, "COMPLETED"), (SUB, "IN_PROGRESS"), (T2, "SCHEDULED"), (JOIN, "IN_PROGRESS")],
        size=4,
    )
    await complete(rt, T2, W2, {"op": "task2.done"})
    run = await status(rt, root)
    assert run.status == "RUNNING"
    assert len(run.tasks) == 4
    mid = child(run, 1)
    await complete(rt, T2, W2, {"op": "task2.done"})
    expect(await status(rt, mid), "RUNNING", FORKED, size=4)
    # the spec polls integration_task_2 once more here; nothing is there to poll
    await poll_and_complete(rt, T2, W2, {"op": "task2.done"})
    leaf = child(await status(rt, mid), 1)
    expect(await status(rt, leaf), "RUNNING", [(T1, "SCHEDULED")], size=1)
    await complete(rt, T1, W1, {"op": "task1.done"})
    await fail(rt, T2, W2, "failed")
    expect(await status(rt, leaf), "FAILED", [(T1, "COMPLETED"), (T2, "FAILED")], size=2)
    expect(await status(rt, mid), "FAILED", FORK_FAILED, size=4)
    expect(await status(rt, root), "FAILED", FORK_FAILED, size=4)
    return root, mid, leaf


async def leaf_completes(rt: cadenza.Runtime, leaf: str) -> None:
    """A fresh leaf (integration_test_wf) runs its two tasks to COMPLETED."""
    expect(await status(rt, leaf), "RUNNING", [(T1, "SCHEDULED")], size=1)
    await complete(rt, T1, W1, {"op": "task1.done"})
    await complete(rt, T2, W2, {"op": "task2.done"})
    expect(await status(rt, leaf), "COMPLETED", [(T1, "COMPLETED"), (T2, "COMPLETED")], size=2)


def expect_join(run: WorkflowRun, *allowed: str) -> None:
    """`tasks[3].status in [...]`: the JOIN of a hierarchical_fork_join_swf run."""
    assert run.tasks[3].type == JOIN, shape(run)
    assert run.tasks[3].status in allowed, shape(run)


async def hier_new_chain(rt: cadenza.Runtime, root: str, mid: str, leaf: str) -> None:
    """The root was restarted or rerun: a new mid-level and leaf run, then all COMPLETED."""
    expect(
        await status(rt, root),
        "RUNNING",
        [(FORK, "COMPLETED"), (SUB, "IN_PROGRESS"), (T2, "SCHEDULED"), (JOIN, "IN_PROGRESS")],
        size=4,
    )
    new_mid = child(await status(rt, root), 1)
    for _ in range(2):  # the spec polls integration_task_2 until both forks' t2 completed
        await poll_and_complete(rt, T2, W2, {"op": "task2.done"})
    assert (await status(rt, root)).tasks[2].status == "COMPLETED"
    assert new_mid != mid
    expect(await status(rt, new_mid), "RUNNING", FORKED, size=4)
    new_leaf = child(await status(rt, new_mid), 1)
    assert new_leaf != leaf
    await leaf_completes(rt, new_leaf)
    expect(await status(rt, new_mid), "COMPLETED", FORK_DONE, size=4)
    expect(await status(rt, root), "COMPLETED", FORK_DONE, size=4)


async def hier_mid_again(rt: cadenza.Runtime, root: str, mid: str, leaf: str) -> None:
    """The mid-level was restarted or rerun from the start: a new leaf, then all COMPLETED."""
    expect(
        await status(rt, mid),
        "RUNNING",
        [(FORK, "COMPLETED"), (SUB, "IN_PROGRESS"), (T2, "SCHEDULED"), (JOIN, "IN_PROGRESS")],
        size=4,
    )
    run = await status(rt, root)
    expect(run, "RUNNING", RESUMED, size=4)
    expect_join(run, "CANCELED", "IN_PROGRESS")
    await complete(rt, T2, W2, {"op": "task2.done"})
    new_leaf = child(await status(rt, mid), 1)
    assert new_leaf != leaf
    await leaf_completes(rt, new_leaf)
    expect(await status(rt, mid), "COMPLETED", FORK_DONE, size=4)
    expect(await status(rt, root), "COMPLETED", FORK_DONE, size=4)


async def hier_leaf_again(rt: cadenza.Runtime, root: str, mid: str, leaf: str) -> None:
    """The leaf was restarted or rerun from the start: its parents resume, then all COMPLETED."""
    expect(await status(rt, leaf), "RUNNING", [(T1, "SCHEDULED")], size=1)
    for run_id in (mid, root):
        run = await status(rt, run_id)
        expect(run, "RUNNING", RESUMED, size=4)
        expect_join(run, "CANCELED", "IN_PROGRESS")
    for run_id in (mid, root):
        expect(await status(rt, run_id), "RUNNING", FORKED, size=4)
    await leaf_completes(rt, leaf)
    expect(await status(rt, mid), "COMPLETED", FORK_DONE, size=4)
    expect(await status(rt, root), "COMPLETED", FORK_DONE, size=4)
