"""Conductor's SubWorkflowRetrySpec, ported: retry at each level of a 3-level sub-workflow chain."""

from __future__ import annotations

import cadenza
from tests.conductor_spec._support import status
from tests.conductor_spec._support_b import (
    SUB,
    T1,
    T2,
    W1,
    child,
    complete,
    expect,
    leaf_completes,
    retried_pair,
    three_level_failed,
)

SPEC = "SubWorkflowRetrySpec.groovy"
CORRELATION = "retry_on_root_in_3level_wf"


async def test_retry_on_the_root_in_a_3_level_subworkflow(rt: cadenza.Runtime) -> None:
    """SubWorkflowRetrySpec.groovy: "Test retry on the root in a 3-level subworkflow"."""
    root, mid, leaf = await three_level_failed(rt, CORRELATION)
    await rt.retry(root)
    # The spec polls integration_task_1 here, before it executes the new SUB_WORKFLOW task:
    # nothing is there to poll in Conductor; cadenza has already started the new child, whose
    # integration_task_1 the spec expects SCHEDULED below, so the poll is left out.
    run = await status(rt, root)
    expect(run, "RUNNING", [(T1, "COMPLETED"), (SUB, "FAILED"), (SUB, "IN_PROGRESS")], size=3)
    retried_pair(run, 1, 2)
    new_mid = child(run, 2)
    assert new_mid != mid
    expect(await status(rt, new_mid), "RUNNING", [(T1, "SCHEDULED")], size=1)

    await complete(rt, T1, W1, {"op1": "task1.done"})
    run = await status(rt, new_mid)
    expect(run, "RUNNING", [(T1, "COMPLETED"), (SUB, "IN_PROGRESS")], size=2)
    new_leaf = child(run, 1)
    assert new_leaf != leaf
    await leaf_completes(rt, new_leaf)

    expect(await status(rt, new_mid), "COMPLETED", [(T1, "COMPLETED"), (SUB, "COMPLETED")], size=2)
    run = await status(rt, root)
    expect(run, "COMPLETED", [(T1, "COMPLETED"), (SUB, "FAILED"), (SUB, "COMPLETED")], size=3)
    retried_pair(run, 1, 2)


async def _resumed_chain(rt: cadenza.Runtime, root: str, mid: str, leaf: str) -> None:
    """After a retry that resumes the leaf in place: all three RUNNING, then COMPLETED."""
    run = await status(rt, leaf)
    expect(run, "RUNNING", {1: (T2, "FAILED"), 2: (T2, "SCHEDULED")}, size=3)
    retried_pair(run, 1, 2)
    expect(await status(rt, mid), "RUNNING", [(T1, "COMPLETED"), (SUB, "IN_PROGRESS")], size=2)
    expect(await status(rt, root), "RUNNING", [(T1, "COMPLETED"), (SUB, "IN_PROGRESS")], size=2)
    await complete(rt, T2, W1, {"op": "task1.done"})
    run = await status(rt, leaf)
    expect(run, "COMPLETED", {1: (T2, "FAILED"), 2: (T2, "COMPLETED")}, size=3)
    retried_pair(run, 1, 2)
    expect(await status(rt, mid), "COMPLETED", [(T1, "COMPLETED"), (SUB, "COMPLETED")], size=2)
    expect(await status(rt, root), "COMPLETED", [(T1, "COMPLETED"), (SUB, "COMPLETED")], size=2)


async def test_retry_on_the_root_with_resume_flag_in_a_3_level_subworkflow(
    rt: cadenza.Runtime,
) -> None:
    """SubWorkflowRetrySpec.groovy: "Test retry on the root with resume flag in a 3-level subworkflow"."""
    root, mid, leaf = await three_level_failed(rt, CORRELATION)
    await rt.retry(root, resume_subworkflow_tasks=True)  # retry(rootWorkflowId, true)
    await _resumed_chain(rt, root, mid, leaf)


async def test_retry_on_the_mid_level_in_a_3_level_subworkflow(rt: cadenza.Runtime) -> None:
    """SubWorkflowRetrySpec.groovy: "Test retry on the mid-level in a 3-level subworkflow"."""
    root, mid, leaf = await three_level_failed(rt, CORRELATION)
    await rt.retry(mid)
    run = await status(rt, mid)
    expect(run, "RUNNING", [(T1, "COMPLETED"), (SUB, "FAILED"), (SUB, "IN_PROGRESS")], size=3)
    retried_pair(run, 1, 2)
    expect(await status(rt, root), "RUNNING", {1: (SUB, "IN_PROGRESS")}, size=2)
    new_leaf = child(run, 2)
    assert new_leaf != leaf
    await leaf_completes(rt, new_leaf)
    run = await status(rt, mid)
    expect(run, "COMPLETED", [(T1, "COMPLETED"), (SUB, "FAILED"), (SUB, "COMPLETED")], size=3)
    retried_pair(run, 1, 2)
    expect(await status(rt, root), "COMPLETED", [(T1, "COMPLETED"), (SUB, "COMPLETED")], size=2)


async def test_retry_on_the_mid_level_with_resume_flag_in_a_3_level_subworkflow(
    rt: cadenza.Runtime,
) -> None:
    """SubWorkflowRetrySpec.groovy: "Test retry on the mid-level with resume flag in a 3-level subworkflow"."""
    root, mid, leaf = await three_level_failed(rt, CORRELATION)
    await rt.retry(mid, resume_subworkflow_tasks=True)  # retry(midLevelWorkflowId, true)
    await _resumed_chain(rt, root, mid, leaf)


async def test_retry_on_the_leaf_in_a_3_level_subworkflow(rt: cadenza.Runtime) -> None:
    """SubWorkflowRetrySpec.groovy: "Test retry on the leaf in a 3-level subworkflow"."""
    root, mid, leaf = await three_level_failed(rt, CORRELATION)
    await rt.retry(leaf)
    await _resumed_chain(rt, root, mid, leaf)


async def test_retry_on_the_leaf_with_resume_flag_in_a_3_level_subworkflow(
    rt: cadenza.Runtime,
) -> None:
    """SubWorkflowRetrySpec.groovy: "Test retry on the leaf with resume flag in a 3-level subworkflow"."""
    root, mid, leaf = await three_level_failed(rt, CORRELATION)
    await rt.retry(leaf, resume_subworkflow_tasks=True)  # the leaf has no SUB_WORKFLOW task
    await _resumed_chain(rt, root, mid, leaf)
