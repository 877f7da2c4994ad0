"""Conductor's SubWorkflowRestartSpec, ported: restart at each level of a 3-level sub-workflow chain."""

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

SPEC = "SubWorkflowRestartSpec.groovy"
CORRELATION = "retry_on_root_in_3level_wf"
DONE = [(T1, "COMPLETED"), (SUB, "COMPLETED")]


async def test_restart_on_the_root_in_a_3_level_subworkflow(rt: cadenza.Runtime) -> None:
    """SubWorkflowRestartSpec.groovy: "Test restart on the root in a 3-level subworkflow"."""
    root, mid, leaf = await three_level_failed(rt, CORRELATION)
    await rt.restart(root)
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


async def test_restart_on_the_mid_level_in_a_3_level_subworkflow(rt: cadenza.Runtime) -> None:
    """SubWorkflowRestartSpec.groovy: "Test restart on the mid-level in a 3-level subworkflow"."""
    root, mid, leaf = await three_level_failed(rt, CORRELATION)
    await rt.restart(mid)
    expect(await status(rt, mid), "RUNNING", [(T1, "SCHEDULED")], size=1)
    expect(await status(rt, root), "RUNNING", {1: (SUB, "IN_PROGRESS")}, size=2)
    await complete(rt, T1, W1, {"op": "task1.done"})
    new_leaf = child(await status(rt, mid), 1)
    assert new_leaf != leaf
    await leaf_completes(rt, new_leaf)
    expect(await status(rt, mid), "COMPLETED", DONE, size=2)
    expect(await status(rt, root), "COMPLETED", DONE, size=2)


async def test_restart_on_the_leaf_in_a_3_level_subworkflow(rt: cadenza.Runtime) -> None:
    """SubWorkflowRestartSpec.groovy: "Test restart on the leaf in a 3-level subworkflow"."""
    root, mid, leaf = await three_level_failed(rt, CORRELATION)
    await rt.restart(leaf)
    expect(await status(rt, leaf), "RUNNING", [(T1, "SCHEDULED")], size=1)
    expect(await status(rt, mid), "RUNNING", [(T1, "COMPLETED"), (SUB, "IN_PROGRESS")], size=2)
    expect(await status(rt, root), "RUNNING", [(T1, "COMPLETED"), (SUB, "IN_PROGRESS")], size=2)
    await leaf_completes(rt, leaf)
    expect(await status(rt, mid), "COMPLETED", DONE, size=2)
    expect(await status(rt, root), "COMPLETED", DONE, size=2)
