"""A bug met while handling a run's message fails that run, named; never leaves it RUNNING.

Design note
-----------
The pure core (`decide`, `apply`, `expire`, `operation_events`, ...) should
never raise anything but its refusals (`StaleTask`, `InvalidOperation`,
`NotFound`), which the run actor answers. Anything else is a bug, in the
core most likely, and deterministic: raising it out of the actor would
crash it, the restart would replay the journal and meet it again, and the
run would stay RUNNING for ever while its actor crash-loops. Instead
`failed_inside` ends the run there and then: its unfinished tasks are
CANCELED and the run is FAILED with a reason naming the function that
raised and the error ("internal error in decide: OverflowError: ..."),
journaled with the batch's other events (the events the batch applied
before the bug stay: they are what the run's state holds). The error is
logged at ERROR with its traceback, for the bug report.
"""

from __future__ import annotations

from cadenza._errors import InternalError
from cadenza._log import get_logger
from cadenza.core._events import Event, TaskCanceled, WorkflowFailed
from cadenza.core._state import WorkflowState, apply

log = get_logger("cadenza.engine")

_ENGINE = "cadenza.engine"


def failed_inside(
    run_id: str, state: WorkflowState | None, exc: Exception, now: float, events: list[Event]
) -> InternalError | None:
    """End `state` FAILED for the bug `exc` (call it in the `except` block that caught it).

    Applies the failure's events to `state` and adds them to `events`; returns
    None, or the `InternalError` to answer with when the run cannot be failed
    (it has not started, or it has ended already).
    """
    where = where_raised(exc)
    error = f"{type(exc).__name__}: {exc}"
    log.error("run.failed_inside", run_id=run_id, where=where, error=error, exc_info=True)
    if state is None or not state.started or state.status.terminal:
        return InternalError(f"run {run_id}: internal error in {where}: {error}")
    reason = f"internal error in {where}: {error}"
    ending: list[Event] = [
        TaskCanceled(at=now, task_id=task.id, reason=reason)
        for task in state.tasks
        if not task.status.terminal
    ]
    ending.append(WorkflowFailed(at=now, reason=reason))
    for event in ending:
        apply(state, event)
        events.append(event)
    return None


def where_raised(exc: BaseException) -> str:
    """The first function outside the engine `exc` came through (`decide`, `apply`, ...).

    If it never left the engine, the engine function that raised it.
    """
    name = "the run actor"
    tb = exc.__traceback__
    while tb is not None:
        frame = tb.tb_frame
        name = frame.f_code.co_name
        if not str(frame.f_globals.get("__name__", "")).startswith(_ENGINE):
            return name
        tb = tb.tb_next
    return name
