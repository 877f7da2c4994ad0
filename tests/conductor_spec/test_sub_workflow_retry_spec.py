"""Conductor's SubWorkflowRetrySpec, ported: retry at each level of a 3-level sub-workflow chain."""

from __future__ import annotations

import cadenza
from tests.conductor_spec._support import status
from tests.conductor_spec._support_b import (
    NO_RESUME_FLAG,
    RETRY_NO_PARENTS,
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
    await complete(rt, T1, W1, {"op1": "task1.done"})  # nothing new: t1 stays COMPLETED
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
