"""Conductor's HierarchicalForkJoinSubworkflowRetrySpec, ported: retry in a forked 3-level chain."""

from __future__ import annotations

import cadenza
from tests.conductor_spec._support import status
from tests.conductor_spec._support_b import (
    FORK,
    FORK_DONE,
    FORKED,
    JOIN,
    SUB,
    T1,
    T2,
    W1,
    W2,
    child,
    complete,
    expect,
    hierarchical_failed,
    leaf_completes,
    retried_pair,
)

SPEC = "HierarchicalForkJoinSubworkflowRetrySpec.groovy"
CORRELATION = "retry_on_root_in_3level_wf"
RETRIED = [
    (FORK, "COMPLETED"),
    (SUB, "FAILED"),
    (T2, "COMPLETED"),
    (JOIN, "IN_PROGRESS"),
    (SUB, "IN_PROGRESS"),
]
RETRIED_DONE = [*FORK_DONE[:1], (SUB, "FAILED"), *FORK_DONE[2:], (SUB, "COMPLETED")]


async def _retried_and_completed(rt: cadenza.Runtime, run_id: str) -> None:
    """`assertSubWorkflowTaskIsRetriedAndWorkflowCompleted`."""
    run = await status(rt, run_id)
    expect(run, "COMPLETED", RETRIED_DONE, size=5)
    retried_pair(run, 1, 4)


async def _leaf_resumed(rt: cadenza.Runtime, root: str, mid: str, leaf: str) -> None:
    """The leaf's failed task is retried in place, both parents resume; then all COMPLETED."""
    for run_id in (root, mid):
        expect(await status(rt, run_id), "RUNNING", FORKED, size=4)
    run = await status(rt, leaf)
    expect(run, "RUNNING", {1: (T2, "FAILED"), 2: (T2, "SCHEDULED")}, size=3)
    retried_pair(run, 1, 2)
    for run_id in (mid, root):
        expect(await status(rt, run_id), "RUNNING", FORKED, size=4)
    await complete(rt, T2, W1, {"op": "task1.done"})
    run = await status(rt, leaf)
    expect(run, "COMPLETED", [(T1, "COMPLETED"), (T2, "FAILED"), (T2, "COMPLETED")], size=3)
    retried_pair(run, 1, 2)
    expect(await status(rt, mid), "COMPLETED", FORK_DONE, size=4)
    expect(await status(rt, root), "COMPLETED", FORK_DONE, size=4)


async def test_retry_on_the_root_in_a_3_level_subworkflow(rt: cadenza.Runtime) -> None:
    """HierarchicalForkJoinSubworkflowRetrySpec.groovy: "Test retry on the root in a 3-level subworkflow"."""
    root, mid, leaf = await hierarchical_failed(rt, CORRELATION)
    await rt.retry(root)
    run = await status(rt, root)
    expect(run, "RUNNING", RETRIED, size=5)
    retried_pair(run, 1, 4)
    new_mid = child(run, 4)
    assert new_mid != mid
    expect(
        await status(rt, new_mid),
        "RUNNING",
        [(FORK, "COMPLETED"), (SUB, "IN_PROGRESS"), (T2, "SCHEDULED"), (JOIN, "IN_PROGRESS")],
        size=4,
    )
    await complete(rt, T2, W2, {"op": "task2.done"})
    new_leaf = child(await status(rt, new_mid), 1)
    assert new_leaf != leaf
    await leaf_completes(rt, new_leaf)
    expect(await status(rt, new_mid), "COMPLETED", FORK_DONE, size=4)
    await _retried_and_completed(rt, root)


async def test_retry_on_the_mid_level_in_a_3_level_subworkflow(rt: cadenza.Runtime) -> None:
    """HierarchicalForkJoinSubworkflowRetrySpec.groovy: "Test retry on the mid-level in a 3-level subworkflow"."""
    root, mid, leaf = await hierarchical_failed(rt, CORRELATION)
    await rt.retry(mid)
    run = await status(rt, mid)
    expect(run, "RUNNING", RETRIED, size=5)
    retried_pair(run, 1, 4)
    expect(await status(rt, root), "RUNNING", FORKED, size=4)
    new_leaf = child(await status(rt, mid), 4)
    assert new_leaf != leaf
    await leaf_completes(rt, new_leaf)
    await _retried_and_completed(rt, mid)
    expect(await status(rt, root), "COMPLETED", FORK_DONE, size=4)


async def test_retry_on_the_leaf_in_a_3_level_subworkflow(rt: cadenza.Runtime) -> None:
    """HierarchicalForkJoinSubworkflowRetrySpec.groovy: "Test retry on the leaf in a 3-level subworkflow"."""
    root, mid, leaf = await hierarchical_failed(rt, CORRELATION)
    await rt.retry(leaf)
    await _leaf_resumed(rt, root, mid, leaf)


async def test_retry_on_the_root_with_resume_flag_in_a_3_level_subworkflow(
    rt: cadenza.Runtime,
) -> None:
    """HierarchicalForkJoinSubworkflowRetrySpec.groovy: "Test retry on the root with resume flag in a 3-level subworkflow"."""
    root, mid, leaf = await hierarchical_failed(rt, CORRELATION)
    await rt.retry(root, resume_subworkflow_tasks=True)  # retry(rootWorkflowId, true)
    await _leaf_resumed(rt, root, mid, leaf)


async def test_retry_on_the_mid_level_with_resume_flag_in_a_3_level_subworkflow(
    rt: cadenza.Runtime,
) -> None:
    """HierarchicalForkJoinSubworkflowRetrySpec.groovy: "Test retry on the mid-level with resume flag in a 3-level subworkflow"."""
    root, mid, leaf = await hierarchical_failed(rt, CORRELATION)
    await rt.retry(mid, resume_subworkflow_tasks=True)  # retry(midLevelWorkflowId, true)
    await _leaf_resumed(rt, root, mid, leaf)


async def test_retry_on_the_leaf_with_resume_flag_in_a_3_level_subworkflow(
    rt: cadenza.Runtime,
) -> None:
    """HierarchicalForkJoinSubworkflowRetrySpec.groovy: "Test retry on the leaf with resume flag in a 3-level subworkflow"."""
    root, mid, leaf = await hierarchical_failed(rt, CORRELATION)
    await rt.retry(leaf, resume_subworkflow_tasks=True)  # the leaf has no SUB_WORKFLOW task
    await _leaf_resumed(rt, root, mid, leaf)
