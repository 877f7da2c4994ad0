"""What the random_definitions sweep found in the engine, kept as regressions once fixed.

A SUB_WORKFLOW task journaled at the instant of a crash, whose child's start had not
become durable yet, was never started again after recovery: the parent waited for a
child that did not exist and never ended (found by `cadenza simulate --workload
random_definitions --hours 0.001 --rate 20 --seeds 200`: seeds 131, 134 and 177).
Conductor's decider starts a SUB_WORKFLOW's child whenever the task is scheduled without
one (SubWorkflow.start, re-run by the sweeper's decide), so a lost start is redone; the
parent's row now stays unparked until its children's starts are durable, so recovery
loads it and starts them again (engine/_run_links.py).
"""

from __future__ import annotations

import pytest

from cadenza.testing._simulation.sweep import run_seed


@pytest.mark.parametrize("seed", [134, 131, 177])
def test_a_sub_workflow_whose_child_start_was_lost_in_a_crash_still_ends(seed: int) -> None:
    """Seed 134: the crash at 0.29 s keeps the parent's TaskScheduled(c7) but not the child."""
    result = run_seed(seed, workload="random_definitions", duration_s=3.6, rate_per_s=20.0)
    assert [str(v) for v in result.violations if v.invariant == "liveness"] == []


def test_a_permissive_sub_workflow_cancelled_by_its_child_terminate_fails_the_parent() -> None:
    """Seed 400025 (of the opt-in sweep): a permissive SUB_WORKFLOW whose child ended by
    TERMINATE is CANCELED, and the parent ends FAILED naming it, `Task <id> failed with status:
    CANCELED` — as Conductor's DeciderService.decide ends a run over exhausted permissive tasks
    (:276-305, the task's own status, the default FAILED). The checker took that for a FAILED
    run naming no failed task (14 reports); it now knows the permissive form."""
    result = run_seed(400025, workload="random_definitions", duration_s=3.6, rate_per_s=20.0)
    assert [str(v) for v in result.violations] == []
    assert result.runs > 0
