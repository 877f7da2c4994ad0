"""cadenza: an embedded, durable workflow engine for asyncio services.

General layout — dependencies point one way:

- `cadenza.actors` stands alone: mailboxes, tell/ask, supervision, clocks.
- `cadenza.persistence` stands alone: the journal (SQLite, in-memory).
- `cadenza.runtime` builds on both: definitions, the pure core
  (`apply`, `decide`), run actors, worker groups, timers, the `Runtime`.
- `cadenza.cli` and this module sit on top; this module only re-exports.
"""

from cadenza._errors import (
    CadenzaError,
    DefinitionError,
    InternalError,
    InvalidOperation,
    JournalCorrupted,
    NotFound,
    PayloadError,
    StaleTask,
    TerminalError,
)
from cadenza.runtime import (
    Runtime,
    TaskRun,
    Tasks,
    TaskStatus,
    Workflow,
    WorkflowRun,
    WorkflowStatus,
    tasks,
    workflow,
)

__all__ = [
    "CadenzaError",
    "DefinitionError",
    "InternalError",
    "InvalidOperation",
    "JournalCorrupted",
    "NotFound",
    "PayloadError",
    "Runtime",
    "StaleTask",
    "TaskRun",
    "TaskStatus",
    "Tasks",
    "TerminalError",
    "Workflow",
    "WorkflowRun",
    "WorkflowStatus",
    "tasks",
    "workflow",
]
