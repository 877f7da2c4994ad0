"""Helpers and differences for the ported DoWhile, ForkJoin and nested fork specs.

`expect(run, status, shape)` is one Spock `with(getExecutionStatus(id, true)) {...}` block
that lists every task's (taskType, status); the differences below are in Conductor's terms,
each naming the line of Conductor's core (conductor-oss/conductor at b54f0d4) it stems from.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from cadenza import TaskRun, WorkflowRun
from tests.conductor_spec._support import FORK_TYPE, shape

FORK = "FORK"  # Conductor's taskType of a FORK_JOIN task
JOIN = "JOIN"
SUB = "SUB_WORKFLOW"
DO_WHILE = "DO_WHILE"
OPS = "WorkflowExecutorOps.java"

POLLED_ITERATION = (
    "Conductor's poll returns the task with its DO_WHILE iteration, set when the loop schedules "
    f"it ({OPS}:2505 t.setIteration(loopTask.getIteration()); DeciderService.java:329); the "
    "TaskRun cadenza's rt.poll returns has iteration 0 (the run's view has the right one)"
)
LOOP_REOPENED = (
    "Conductor's retry puts a CANCELED DO_WHILE back to IN_PROGRESS in place "
    f"({OPS}:476-479) and appends only the retried task; cadenza supersedes the DO_WHILE too "
    "and appends a new one ahead of the retried task"
)
JAVA_LIST = (
    "Conductor binds a script's $ to the Java objects with host access "
    '(ScriptEvaluator.java:169 HostAccess.ALL, :470 putMember("$", input)), so a list '
    "input has List.get(i); cadenza's JavaScript sees a plain array: '$.list.get is not a "
    "function' fails the INLINE task"
)
LOOP_BODY_LAST = (
    "Conductor schedules a DO_WHILE's first iteration when the DO_WHILE task runs, after the "
    "tasks scheduled with it, and appends it to the task list (DoWhile.java:115 "
    f"scheduleNextIteration, {OPS}:2508 workflow.getTasks().addAll); so inside a fork the loop's "
    "tasks come after the fork's other branches and the JOIN; cadenza lists them right after "
    "their DO_WHILE"
)
PERMISSIVE = (
    "Conductor lets a permissive task's failure (retries exhausted) pass on: the other fork "
    "branches run on and the JOIN fails the workflow once they are done (DeciderService.java:585, "
    ":283; Join.java); cadenza fails the workflow at once and cancels the other branches"
)
RETRY_IN_PLACE = (
    "Conductor's retry puts the CANCELED JOIN back to IN_PROGRESS in place and appends the "
    f"retried tasks in their original order ({OPS}:476-479, :521 sorted by seq); cadenza "
    "appends the CANCELED branch task first, then the FAILED one, then a new JOIN"
)
JOIN_WITH_ERRORS = (
    "Conductor's JOIN ends COMPLETED_WITH_ERRORS when an optional task it joins did "
    "(Join.java:135-149); cadenza's JOIN ends COMPLETED"
)
SUB_RETRIED = (
    "Conductor retries a failed SUB_WORKFLOW task per the TaskDef of its name, like any task "
    "not built in (DeciderService.java:575-583: sub_workflow_task has retryCount 1; "
    "TaskType.java:96 BUILT_IN_TASKS has no SUB_WORKFLOW); cadenza fails the SUB_WORKFLOW "
    "task and the workflow at once"
)
NO_JOIN_ON = (
    "Conductor gives a JOIN the input joinOn (JoinTaskMapper.java:61); cadenza's JOIN has "
    "no joinOn input"
)
__all__ = ["FORK_TYPE", "differs", "expect", "verify_task_iteration"]


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
