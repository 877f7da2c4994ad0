"""Conductor's HierarchicalForkJoinSubworkflowRerunSpec, ported: rerun in a forked 3-level chain."""

from __future__ import annotations

import cadenza
from tests.conductor_spec._support_b import (
    hier_leaf_again,
    hier_mid_again,
    hier_new_chain,
    hierarchical_failed,
)

SPEC = "HierarchicalForkJoinSubworkflowRerunSpec.groovy"
CORRELATION = "rerun_on_root_in_3level_wf"


async def test_rerun_on_the_root_level_in_a_3_level_subworkflow(rt: cadenza.Runtime) -> None:
    """HierarchicalForkJoinSubworkflowRerunSpec.groovy: "Test rerun on the root-level in a 3-level subworkflow"."""
    root, mid, leaf = await hierarchical_failed(rt, CORRELATION)
    await rt.rerun(root, "fanouttask")
    await hier_new_chain(rt, root, mid, leaf)


async def test_rerun_on_the_mid_level_in_a_3_level_subworkflow(rt: cadenza.Runtime) -> None:
    """HierarchicalForkJoinSubworkflowRerunSpec.groovy: "Test rerun on the mid-level in a 3-level subworkflow"."""
    root, mid, leaf = await hierarchical_failed(rt, CORRELATION)
    await rt.rerun(mid, "fanouttask")
    await hier_mid_again(rt, root, mid, leaf)


async def test_rerun_on_the_leaf_level_in_a_3_level_subworkflow(rt: cadenza.Runtime) -> None:
    """HierarchicalForkJoinSubworkflowRerunSpec.groovy: "Test rerun on the leaf-level in a 3-level subworkflow"."""
    root, mid, leaf = await hierarchical_failed(rt, CORRELATION)
    await rt.rerun(leaf, "t1")
    await hier_leaf_again(rt, root, mid, leaf)
