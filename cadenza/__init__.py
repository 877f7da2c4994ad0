"""cadenza: an embedded, durable workflow engine for asyncio services.

General layout — dependencies point down only (import-linter holds it in CI):

- `cadenza.actors` (the kernel: mailboxes, tell/ask, supervision, clocks)
  and `cadenza.persistence` (the journal: SQLite, in-memory) stand alone.
- `cadenza.language`: Conductor's definitions, TaskDefs, validation,
  expressions, JavaScript, WAIT parsing, the builder. Pure.
- `cadenza.core`: events, state (`apply`), `decide`, the walker, deadlines,
  operations. Pure; builds on the language.
- `cadenza.dispatch`: worker groups, fair queues, leases, limits, breakers,
  local workers, the timer service. Actors.
- `cadenza.engine`: the run actor and its helpers, the loader, the
  registry, the host the actors talk to.
- `cadenza.observe`: Prometheus metrics; the engine knows only the
  `Observer` protocol it calls, and is read at scrape time.
- `cadenza.runtime`: the `Runtime` facade over the engine.
- `cadenza.testing`, then `cadenza.bench` (the packaged benchmarks), then
  `cadenza.cli` sit on top; this module only re-exports.
"""

from cadenza._errors import (
    CadenzaError,
    DefinitionError,
    InternalError,
    InvalidArgument,
    InvalidOperation,
    JournalBusy,
    JournalCorrupted,
    NotFound,
    PayloadError,
    RuntimeClosed,
    StaleTask,
    TerminalError,
)
from cadenza.runtime import (
    Runtime,
    Schedule,
    TaskContext,
    TaskRun,
    Tasks,
    TaskStatus,
    Workflow,
    WorkflowRun,
    WorkflowStatus,
    tasks,
    workflow,
)
from cadenza.runtime._inspect import inspect

__all__ = [
    "CadenzaError",
    "DefinitionError",
    "InternalError",
    "InvalidArgument",
    "InvalidOperation",
    "JournalBusy",
    "JournalCorrupted",
    "NotFound",
    "PayloadError",
    "Runtime",
    "RuntimeClosed",
    "Schedule",
    "StaleTask",
    "TaskContext",
    "TaskRun",
    "TaskStatus",
    "Tasks",
    "TerminalError",
    "Workflow",
    "WorkflowRun",
    "WorkflowStatus",
    "inspect",
    "tasks",
    "workflow",
]
