"""The error hierarchy: one root, each child named by whose fault it is.

Every error cadenza raises on purpose derives from `CadenzaError` and carries
the data a caller needs to act (the run, the task reference, what was
expected and what was found) plus a remedy in its message.

Control-flow signals (stopping an actor, suspending a workflow) are *not* in
this tree and do not derive from `Exception`, so a user's `except Exception`
cannot swallow them.
"""

from __future__ import annotations

from typing import Any


class CadenzaError(Exception):
    """Root of every error cadenza raises on purpose; catch it to catch them all."""


class DefinitionError(CadenzaError, ValueError):
    """A workflow or task definition is malformed.

    Raised at registration (never mid-run), naming the task reference (`ref`)
    and the problem. Fix the definition and register it again; nothing
    already registered or journaled is touched.

    Attributes:
        problem: what is wrong, in words.
        workflow: the workflow's name, when known.
        ref: the task reference at fault, when one is.
    """

    def __init__(self, problem: str, *, workflow: str | None = None, ref: str | None = None):
        self.problem = problem
        self.workflow = workflow
        self.ref = ref
        where = ""
        if workflow is not None:
            where += f"workflow {workflow!r}"
        if ref is not None:
            where += (", " if where else "") + f"task {ref!r}"
        super().__init__(f"{where}: {problem}" if where else problem)


class NotFound(CadenzaError, LookupError):
    """An id or name the caller gave does not exist (run, task, definition).

    Attributes:
        what: the kind of thing looked for ("run", "task", "workflow", ...).
        ident: the id or name given.
    """

    def __init__(self, what: str, ident: str):
        self.what = what
        self.ident = ident
        super().__init__(f"no {what} {ident!r}")


class InvalidOperation(CadenzaError):
    """An operation makes no sense in the target's current state.

    For example resuming a run that is not paused, or completing a task of a
    run that already ended. `state` says what was found.

    Attributes:
        run_id: the run concerned, when there is one.
        state: the status found (e.g. "COMPLETED").
    """

    def __init__(self, message: str, *, run_id: str | None = None, state: str | None = None):
        self.run_id = run_id
        self.state = state
        super().__init__(message)


class InvalidArgument(CadenzaError, ValueError, TypeError):
    """An argument has the wrong type or is out of range; nothing was queued or changed.

    For example a priority of 150, a task id that is not a string, a NaN
    delay. `argument` names the parameter; the message says what was
    expected and what was given. It is both a `ValueError` and a
    `TypeError`, so code catching either keeps working. Fix the call.
    """

    def __init__(self, argument: str, problem: str):
        self.argument = argument
        self.problem = problem
        super().__init__(f"{argument}: {problem}")


class RuntimeClosed(InvalidOperation):
    """The runtime is not open, or closed while the call was pending.

    Open it with `async with Runtime(...) as rt:`. A call pending at
    shutdown (a start, a `wait`, a long `poll`) gets this error; what was
    journaled before it is kept and resumes at the next start.
    """

    def __init__(self, why: str = "the runtime is not open: use `async with Runtime(...) as rt:`"):
        super().__init__(why)


class StaleTask(InvalidOperation):
    """A result arrived for a task attempt that is no longer current.

    The attempt was retried, timed out, cancelled or already completed; the
    result was ignored and nothing changed. A worker should drop the task.

    Attributes:
        task_id: the attempt the result was for.
    """

    def __init__(self, task_id: str, why: str):
        self.task_id = task_id
        super().__init__(f"task {task_id!r} is stale: {why}; the result was ignored")


class TerminalError(CadenzaError):
    """Raised by a worker to fail its task for good, without retries.

    The task ends FAILED_WITH_TERMINAL_ERROR; `output` is kept as its output.

    Attributes:
        reason: the task's reason.
        output: the task's output, if any.
    """

    def __init__(self, reason: str = "", *, output: dict[str, Any] | None = None):
        self.reason = reason
        self.output = output
        super().__init__(reason)


class PayloadError(InvalidArgument):
    """A payload (workflow input, task output, signal) cannot be stored as JSON.

    Nothing was journaled for the call that carried it; pass JSON-compatible
    values (dict, list, str, int, float, bool, None).
    """

    def __init__(self, message: str, *, argument: str = "payload"):
        self.argument = argument
        self.problem = message
        Exception.__init__(self, message)


class JournalCorrupted(CadenzaError):
    """A journal record failed its checksum or could not be decoded.

    The damaged record is named and never applied. The database should be
    restored from a backup or the run inspected with `cadenza show`.

    Attributes:
        stream_id: the run (or definition) whose record is damaged, when known.
        record: the damaged record's sequence number, when known.
    """

    def __init__(self, message: str, *, stream_id: str | None = None, record: int | None = None):
        self.stream_id = stream_id
        self.record = record
        super().__init__(message)


class JournalBusy(CadenzaError):
    """Another live owner holds the SQLite journal; nothing was written.

    A SQLite journal has exactly one owning process (one `Runtime`): a
    second `Runtime` on the same file, in another process or in this one,
    is refused until the owner closes or dies (the lock goes with it, even
    on SIGKILL). Read-only inspection (`cadenza runs`, `cadenza show`,
    `cadenza.inspect(path)`) works beside the owner. Several processes share
    work through PostgreSQL, never through one SQLite file.

    Attributes:
        path: the journal file.
        pid: the owner's process id, when it could be read.
        host: the owner's host name, when it could be read.
    """

    def __init__(self, path: str, *, pid: int | None = None, host: str | None = None):
        self.path = path
        self.pid = pid
        self.host = host
        owner = f"process {pid if pid is not None else '?'} on host {host or '?'}"
        super().__init__(
            f"the journal {path!r} is owned by {owner}; nothing was written. One Runtime "
            "owns a SQLite journal: close it (or stop that process) first; `cadenza runs` "
            "and `cadenza.inspect(path)` read it beside its owner"
        )


class InternalError(CadenzaError):
    """An invariant of cadenza itself was broken: a bug, never the caller's fault.

    Raised instead of continuing with corrupt state; please report it with the
    message and, in simulation, the seed.
    """


def invariant(condition: bool, message: str) -> None:
    """Check an internal invariant; unlike `assert` it survives `python -O`."""
    if not condition:
        raise InternalError(message)
