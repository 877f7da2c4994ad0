"""Workflow and task statuses, as Conductor names them (both are `str` enums)."""

from __future__ import annotations

from enum import StrEnum


class WorkflowStatus(StrEnum):
    """A run's status: RUNNING or PAUSED until it ends COMPLETED, FAILED, TIMED_OUT or TERMINATED.

    A `str` enum, so `run.status == "COMPLETED"` holds.
    """

    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    TIMED_OUT = "TIMED_OUT"
    TERMINATED = "TERMINATED"
    PAUSED = "PAUSED"

    @property
    def terminal(self) -> bool:
        """The run ended; a terminal run never changes again (unless an operator reopens it)."""
        return self not in (WorkflowStatus.RUNNING, WorkflowStatus.PAUSED)


class TaskStatus(StrEnum):
    """An attempt's status, as Conductor names it: SCHEDULED, IN_PROGRESS, then how it ended.

    A `str` enum, so `task.status == "COMPLETED"` holds.
    """

    SCHEDULED = "SCHEDULED"
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    FAILED_WITH_TERMINAL_ERROR = "FAILED_WITH_TERMINAL_ERROR"
    TIMED_OUT = "TIMED_OUT"
    CANCELED = "CANCELED"
    SKIPPED = "SKIPPED"
    COMPLETED_WITH_ERRORS = "COMPLETED_WITH_ERRORS"

    @property
    def terminal(self) -> bool:
        """The attempt ended."""
        return self not in (TaskStatus.SCHEDULED, TaskStatus.IN_PROGRESS)

    @property
    def successful(self) -> bool:
        """The attempt ended in a way that lets the run go on."""
        return self in (TaskStatus.COMPLETED, TaskStatus.COMPLETED_WITH_ERRORS, TaskStatus.SKIPPED)

    @property
    def retriable(self) -> bool:
        """The attempt may be retried per its TaskDef's policy."""
        return self in (TaskStatus.FAILED, TaskStatus.TIMED_OUT)
