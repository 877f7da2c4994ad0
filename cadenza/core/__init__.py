"""The pure core of a run: events, state (`apply`), `decide`, deadlines, operations.

Pure, like `cadenza.language` below it: `apply(state, event)` folds an
event into a run's state, `decide(definition, state, env)` says what
follows, `expire` and `next_wake` handle time given as an argument, and
`operation_events` turns an operator's control into events. Nothing here
knows of actors, the journal or anyio; everything can be tested without
I/O. `WorkflowRun` and `TaskRun` are the read-only views callers get.
"""

from cadenza.core._decide import decide
from cadenza.core._schedule import Environment
from cadenza.core._state import TaskState, WorkflowState, apply, fold
from cadenza.core._status import TaskStatus, WorkflowStatus
from cadenza.core._views import TaskRun, WorkflowRun

__all__ = [
    "Environment",
    "TaskRun",
    "TaskState",
    "TaskStatus",
    "WorkflowRun",
    "WorkflowState",
    "WorkflowStatus",
    "apply",
    "decide",
    "fold",
]
