"""Workflow and task statuses, as Conductor names them (both are `str` enums)."""

from __future__ import annotations

from enum import StrEnum


class WorkflowStatus(StrEnum):
    """A run's status: RUNNING or PAUSED until it ends COMPLETED, FAILED, TIMED_OUT or TERMINATED.

    A `str` enum, so `run.status == "COMPLETED"` holds.
    """

    terminal: bool  # the run ended; a terminal run never changes again (unless reopened)

    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    TIMED_OUT = "TIMED_OUT"
    TERMINATED = "TERMINATED"
    PAUSED = "PAUSED"


class TaskStatus(StrEnum):
    """An attempt's status, as Conductor names it: SCHEDULED, IN_PROGRESS, then how it ended.

    A `str` enum, so `task.status == "COMPLETED"` holds.
    """

    terminal: bool  # the attempt ended
    successful: bool  # it ended in a way that lets the run go on
    retriable: bool  # it may be retried per its TaskDef's policy

    SCHEDULED = "SCHEDULED"
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    FAILED_WITH_TERMINAL_ERROR = "FAILED_WITH_TERMINAL_ERROR"
    TIMED_OUT = "TIMED_OUT"
    CANCELED = "CANCELED"
    SKIPPED = "SKIPPED"
    COMPLETED_WITH_ERRORS = "COMPLETED_WITH_ERRORS"


# Plain attributes, not properties: the decider asks them a hundred times per workflow.
for _run_status in WorkflowStatus:
    _run_status.terminal = _run_status not in (WorkflowStatus.RUNNING, WorkflowStatus.PAUSED)
for _task_status in TaskStatus:
    _task_status.terminal = _task_status not in (TaskStatus.SCHEDULED, TaskStatus.IN_PROGRESS)
    _task_status.successful = _task_status in (
        TaskStatus.COMPLETED,
        TaskStatus.COMPLETED_WITH_ERRORS,
        TaskStatus.SKIPPED,
    )
    _task_status.retriable = _task_status in (TaskStatus.FAILED, TaskStatus.TIMED_OUT)
