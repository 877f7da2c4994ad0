"""Conductor's HierarchicalForkJoinSubworkflowRestartSpec, ported: restart in a forked 3-level chain."""

from __future__ import annotations

import cadenza
from tests.conductor_spec._support_b import (
    hier_leaf_again,
    hier_mid_again,
    hier_new_chain,
    hierarchical_failed,
)

SPEC = "HierarchicalForkJoinSubworkflowRestartSpec.groovy"
CORRELATION = "retry_on_root_in_3level_wf"


async def test_restart_on_the_root_in_a_3_level_subworkflow(rt: cadenza.Runtime) -> None:
    """HierarchicalForkJoinSubworkflowRestartSpec.groovy: "Test restart on the root in a 3-level subworkflow"."""
    root, mid, leaf = await hierarchical_failed(rt, CORRELATION)
    await rt.restart(root)
    await hier_new_chain(rt, root, mid, leaf)


async def test_restart_on_the_mid_level_in_a_3_level_subworkflow(rt: cadenza.Runtime) -> None:
    """HierarchicalForkJoinSubworkflowRestartSpec.groovy: "Test restart on the mid-level in a 3-level subworkflow"."""
    root, mid, leaf = await hierarchical_failed(rt, CORRELATION)
    await rt.restart(mid)
    await hier_mid_again(rt, root, mid, leaf)


async def test_restart_on_the_leaf_in_a_3_level_subworkflow(rt: cadenza.Runtime) -> None:
    """HierarchicalForkJoinSubworkflowRestartSpec.groovy: "Test restart on the leaf in a 3-level subworkflow"."""
    root, mid, leaf = await hierarchical_failed(rt, CORRELATION)
    await rt.restart(leaf)
    await hier_leaf_again(rt, root, mid, leaf)
