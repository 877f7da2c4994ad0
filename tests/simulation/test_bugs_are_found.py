"""A checker that cannot fail proves nothing: injected bugs are reported within a budget.

A seed counts as finding a bug only if the same seed without the bug does not
report the same invariant (the control run): a violation the harness reports
anyway — a checker false positive, or a real bug already in the runtime —
proves nothing about the injected one.
"""

from __future__ import annotations

import pytest

from cadenza.testing._simulation.bugs import BUGS, Bug
from cadenza.testing._simulation.sweep import run_seed


def _reports(seed: int, bug: Bug) -> bool:
    """Whether `run_seed(seed, **bug.run)` reports `bug.invariant`."""
    try:
        result = run_seed(seed, **bug.run)
    except AssertionError as first:  # stop_at_first: the first violation is raised
        return str(first).startswith(f"[{bug.invariant}]")
    return any(v.invariant == bug.invariant for v in result.violations)


def _seeds_to_find(name: str) -> int:
    """The first seed (1-based) that finds bug `name` within its budget; 0 if none does."""
    bug = BUGS[name]
    for seed in range(1, bug.seeds_max + 1):
        with pytest.MonkeyPatch.context() as mp:
            bug.inject(mp)
            found = _reports(seed, bug)
        if found and not _reports(seed, bug):  # the control run, without the bug
            return seed
    return 0


def test_skipping_attempt_fencing_is_reported() -> None:
    """Accepting results for superseded or ended attempts shows as an attempt ending twice."""
    assert _seeds_to_find("skip_fencing") > 0


def test_a_timer_firing_one_ms_early_is_reported() -> None:
    """A retry handed out 1 ms before its ready_at violates invariant 4."""
    assert _seeds_to_find("early_timer") > 0


def test_a_queue_that_ignores_priority_is_reported() -> None:
    """A FIFO worker-group queue (EasyScheduler's inversion) violates invariant 3."""
    assert _seeds_to_find("ignore_priority") > 0


def test_a_timer_lost_on_recovery_is_reported() -> None:
    """Dropping not-yet-due retries while recovering leaves runs unfinished: liveness fails."""
    assert _seeds_to_find("lose_timer_on_recovery") > 0


def test_a_result_recorded_after_the_run_ended_is_reported() -> None:
    """A late or duplicate result for a finished or terminated run, journaled instead of
    refused (a naive conductor-oss#322: "keep the worker's update after the timeout"),
    changes a terminal run: invariant 1.
    """
    assert _seeds_to_find("record_late_results") > 0


def test_a_task_requeued_at_the_back_is_reported() -> None:
    """A task put back in its queue after a crash (or a lost hand-over, or an expired
    lease) behind the work that arrived since — EasyScheduler's failed dispatch going
    to the back of the queue — is overtaken by tasks that became ready after it:
    invariant 3.
    """
    assert _seeds_to_find("requeue_at_the_back") > 0


def test_a_mailbox_that_drops_when_full_is_reported() -> None:
    """A bounded mailbox that swallows "queue full" instead of applying back-pressure
    loses polls and enqueues: workers wait forever, runs never finish (liveness).
    """
    assert _seeds_to_find("drop_on_full_mailbox") > 0


def test_a_hung_local_worker_that_keeps_its_slot_is_reported() -> None:
    """A local worker that hangs past its task's timeout, left running when the attempt
    times out, holds its slot (and the runtime's busy count) after every run has ended.
    """
    assert _seeds_to_find("keep_hung_workers") > 0
