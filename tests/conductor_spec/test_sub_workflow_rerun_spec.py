"""Conductor's SubWorkflowRerunSpec, ported: rerun at each level of a 3-level sub-workflow chain.

Conductor's `RerunWorkflowRequest` without `reRunFromTaskId` reruns the whole
workflow; with `reRunFromTaskId = tasks[0].taskId` it reruns from that task.
cadenza's `rt.rerun(run_id, from_ref)` takes a reference name: both are
`rt.rerun(id, "t1")` here.
"""

from __future__ import annotations

import cadenza
from tests.conductor_spec._support import status
from tests.conductor_spec._support_b import (
    SUB,
    T1,
    W1,
    child,
    complete,
    expect,
    leaf_completes,
    three_level_failed,
)

SPEC = "SubWorkflowRerunSpec.groovy"
CORRELATION = "rerun_on_root_in_3level_wf"
DONE = [(T1, "COMPLETED"), (SUB, "COMPLETED")]


async def _rerun_root(rt: cadenza.Runtime, root: str, mid: str, leaf: str) -> None:
    await rt.rerun(root, "t1")
    await complete(rt, T1, W1, {"op1": "task1.done"})
    run = await status(rt, root)
    expect(run, "RUNNING", [(T1, "COMPLETED"), (SUB, "IN_PROGRESS")], size=2)
    new_mid = child(run, 1)
    assert new_mid != mid
    expect(await status(rt, new_mid), "RUNNING", [(T1, "SCHEDULED")], size=1)
    await complete(rt, T1, W1, {"op": "task1.done"})
    new_leaf = child(await status(rt, new_mid), 1)
    assert new_leaf != leaf
    await leaf_completes(rt, new_leaf)
    expect(await status(rt, new_mid), "COMPLETED", DONE, size=2)
    expect(await status(rt, root), "COMPLETED", DONE, size=2)


async def _rerun_mid(rt: cadenza.Runtime, root: str, mid: str, leaf: str) -> None:
    await rt.rerun(mid, "t1")
    expect(await status(rt, mid), "RUNNING", [(T1, "SCHEDULED")], size=1)
    expect(await status(rt, root), "RUNNING", {1: (SUB, "IN_PROGRESS")}, size=2)
    await complete(rt, T1, W1, {"op": "task1.done"})
    new_leaf = child(await status(rt, mid), 1)
    assert new_leaf != leaf
    await leaf_completes(rt, new_leaf)
    expect(await status(rt, mid), "COMPLETED", DONE, size=2)
    expect(await status(rt, root), "COMPLETED", DONE, size=2)


async def _rerun_leaf(rt: cadenza.Runtime, root: str, mid: str, leaf: str) -> None:
    await rt.rerun(leaf, "t1")
    expect(await status(rt, leaf), "RUNNING", [(T1, "SCHEDULED")], size=1)
    expect(await status(rt, mid), "RUNNING", [(T1, "COMPLETED"), (SUB, "IN_PROGRESS")], size=2)
    expect(await status(rt, root), "RUNNING", [(T1, "COMPLETED"), (SUB, "IN_PROGRESS")], size=2)
    await leaf_completes(rt, leaf)
    expect(await status(rt, mid), "COMPLETED", DONE, size=2)
    expect(await status(rt, root), "COMPLETED", DONE, size=2)


async def test_rerun_on_the_root_level_in_a_3_level_subworkflow(rt: cadenza.Runtime) -> None:
    """SubWorkflowRerunSpec.groovy: "Test rerun on the root-level in a 3-level subworkflow"."""
    await _rerun_root(rt, *await three_level_failed(rt, CORRELATION))


async def test_rerun_on_the_root_level_with_task_id_in_a_3_level_subworkflow(
    rt: cadenza.Runtime,
) -> None:
    """SubWorkflowRerunSpec.groovy: "Test rerun on the root-level with taskId in a 3-level subworkflow"."""
    await _rerun_root(rt, *await three_level_failed(rt, CORRELATION))


async def test_rerun_on_the_mid_level_in_a_3_level_subworkflow(rt: cadenza.Runtime) -> None:
    """SubWorkflowRerunSpec.groovy: "Test rerun on the mid-level in a 3-level subworkflow"."""
    await _rerun_mid(rt, *await three_level_failed(rt, CORRELATION))


async def test_rerun_on_the_mid_level_with_task_id_in_a_3_level_subworkflow(
    rt: cadenza.Runtime,
) -> None:
    """SubWorkflowRerunSpec.groovy: "Test rerun on the mid-level with taskId in a 3-level subworkflow"."""
    await _rerun_mid(rt, *await three_level_failed(rt, CORRELATION))


async def test_rerun_on_the_leaf_level_in_a_3_level_subworkflow(rt: cadenza.Runtime) -> None:
    """SubWorkflowRerunSpec.groovy: "Test rerun on the leaf-level in a 3-level subworkflow"."""
    await _rerun_leaf(rt, *await three_level_failed(rt, CORRELATION))


async def test_rerun_on_the_leaf_level_with_task_id_in_a_3_level_subworkflow(
    rt: cadenza.Runtime,
) -> None:
    """SubWorkflowRerunSpec.groovy: "Test rerun on the leaf-level with taskId in a 3-level subworkflow"."""
    await _rerun_leaf(rt, *await three_level_failed(rt, CORRELATION))
