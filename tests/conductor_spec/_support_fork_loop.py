"""Helpers and differences for the ported DoWhile, ForkJoin and nested fork specs.

`expect(run, status, shape)` is one Spock `with(getExecutionStatus(id, true)) {...}` block
that lists every task's (taskType, status); the differences below are in Conductor's terms,
each naming the line of Conductor's core (conductor-oss/conductor at b54f0d4) it stems from.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from cadenza import TaskRun, WorkflowRun
from tests.conductor_spec._support import shape

FORK = "FORK"  # Conductor's taskType of a FORK_JOIN task
JOIN = "JOIN"
SUB = "SUB_WORKFLOW"
DO_WHILE = "DO_WHILE"
OPS = "WorkflowExecutorOps.java"

__all__ = ["differs", "expect", "verify_task_iteration"]


def differs(*reasons: str) -> pytest.MarkDecorator:
    """A strict xfail naming each way cadenza differs from Conductor in this feature, in the
    order the feature meets them."""
    return pytest.mark.xfail(strict=True, reason="; and ".join(reasons))


def expect(run: WorkflowRun, run_status: str, tasks: Sequence[tuple[str, str]]) -> None:
    """The workflow's status and every task's (taskType, status), in order."""
    assert (run.status, shape(run)) == (run_status, list(tasks)), shape(run)


def verify_task_iteration(task: TaskRun | None, iteration: int) -> None:
    """DoWhileSpec's `verifyTaskIteration`: the ref ends in `__<iteration>` and the task
    carries that iteration."""
    assert task is not None
    assert task.ref.endswith(f"__{task.iteration}"), (task.ref, task.iteration)
    assert task.iteration == iteration


def at(run: WorkflowRun, run_status: str, size: int, **tasks: tuple[str, str]) -> None:
    """A Spock `with(...)` block that checks some tasks only: `t3=(type, status)` is
    tasks[3]."""
    assert (run.status, len(run.tasks)) == (run_status, size), shape(run)
    for key, expected in tasks.items():
        task = run.tasks[int(key[1:])]
        assert (task.type, str(task.status)) == expected, shape(run)


def join_on(task: TaskRun, refs: list[str]) -> None:
    """`task.inputData['joinOn'] == refs`."""
    assert task.input.get("joinOn") == refs, (task.ref, task.input)
