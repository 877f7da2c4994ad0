"""A run's deadlines as its actor keeps them: one wake-up armed, expiry, the row's timer, the audit.

Design note
-----------
`RunDeadlines` is a part the run's actor owns. After every batch the actor
keeps exactly one wake-up armed, for its earliest deadline
(`core._deadlines.next_wake`), and writes that deadline into its stream row
when the run is parked, so recovery can re-arm it without loading the run.
A wake-up applies `core._deadlines.expire` for the current time; a stale or
duplicate one changes nothing. The recovery audit compares the deadline the
row promised with the one the state implies and repairs a difference.

A parked row's `wake_at` is a promise that a wake-up for it is armed: the
batch that writes such a row arms exactly that deadline (even when an
earlier wake-up is armed already), and recovery arms every parked row's
`wake_at` from the row before anything can load the run. So a run loaded
from a parked row (a read, a signal, a stale wake-up) knows that wake-up
as armed and does not arm it again: reading a parked run arms nothing.
The row can lag: an alert-only deadline that passed is reported without a
record, so the row may still name it. A batch that writes a row therefore
re-arms unless what is armed is certainly still pending (in the future).
"""

from __future__ import annotations

from cadenza._log import get_logger
from cadenza.core._deadlines import expire, next_wake
from cadenza.core._events import Event
from cadenza.core._state import IN_PROGRESS_AT_ONCE, WorkflowState
from cadenza.core._user_defined import awaiting
from cadenza.engine.run._effects import ArmWake
from cadenza.engine.run._services import RunServices
from cadenza.language._definition import WorkflowDef
from cadenza.persistence import StreamInfo

log = get_logger("cadenza.engine")


def timers_held(state: WorkflowState) -> dict[str, int]:
    """The run's pending WAIT deadlines, by task type (what the per-type quota counts)."""
    held: dict[str, int] = {}
    if state.status.terminal:
        return held
    for task in state.tasks:
        if (
            task.type == "WAIT"
            and task.wake_at is not None
            and not task.retried
            and not task.status.terminal
        ):
            held[task.name] = held.get(task.name, 0) + 1
    return held


def parked(state: WorkflowState) -> bool:
    """Only waiting on timers or signals: nothing queued, nothing with a worker."""
    if state.status.terminal or not state.started:
        return False
    pending = [t for t in state.tasks if not t.retried and not t.status.terminal]
    # a START_WORKFLOW waits for its run's start, which recovery must repeat: not parked; a
    # system task awaiting its completion from outside waits for a signal
    return bool(pending) and all(
        (t.type in IN_PROGRESS_AT_ONCE and t.type != "START_WORKFLOW") or awaiting(t)
        for t in pending
    )


class RunDeadlines:
    """One run's wake-up bookkeeping; see the module note."""

    def __init__(self, services: RunServices):
        self.services = services
        self.armed: float | None = None  # a wake-up known armed (by this incarnation or the row)
        self.alerted_until = 0.0  # alert-only deadlines up to here were reported
        self._memo: tuple[int, float | None] | None = None  # (events applied, next wake)
        self._wrote: StreamInfo | None = None  # the row this batch committed, if any

    def loaded(self, row: StreamInfo) -> None:
        """The run was loaded from `row`: a parked row's wake-up is armed already (module note)."""
        self.armed = row.wake_at if row.parked else None

    def new_batch(self) -> None:
        """Forget the memo: the next wake also depends on the time, which moved."""
        self._memo = None
        self._wrote = None

    def woken(self, when: float) -> None:
        """The wake-up for `when` arrived: it is no longer armed."""
        if self.armed is not None and when >= self.armed:
            self.armed = None

    def expire(
        self, definition: WorkflowDef | None, state: WorkflowState, now: float
    ) -> list[Event]:
        """The events of the deadlines passed by `now` (logging alert-only ones once)."""
        if definition is None or state.status.terminal:
            return []
        env = self.services.environment()
        expired, alerts = expire(definition, state, env, now, since=self.alerted_until)
        for alert in alerts:
            log.warning(
                "run.deadline_passed",
                run_id=state.id,
                kind=alert.kind,
                task_id=alert.task_id,
                due=alert.when,
            )
        self.alerted_until = now
        return expired

    def audit(
        self, definition: WorkflowDef | None, state: WorkflowState, expected: float | None
    ) -> None:
        """Compare the deadline recovery armed with the one the state implies; repair a difference."""
        actual = self.next_wake(definition, state)
        if actual == expected:
            self.armed = expected  # recovery armed exactly this one
            return
        self.armed = None  # `arm` after the batch arms the right one
        self.services.timer_repaired(state.id, expected, actual)

    def row(
        self, definition: WorkflowDef | None, state: WorkflowState, *, terminal: bool
    ) -> StreamInfo:
        """The run's current-state row: status, and what recovery needs without loading it."""
        # a run holding a system task that awaits its completion is loaded at recovery all
        # the same: the task's concurrency slot is counted again (`acts`, `Hold`)
        is_parked = parked(state) and not any(awaiting(t) for t in state.tasks)
        wake_at = self.next_wake(definition, state)
        self._wrote = state_row(
            state, terminal=terminal, parked=is_parked, wake_at=wake_at if is_parked else None
        )
        return self._wrote

    def next_wake(self, definition: WorkflowDef | None, state: WorkflowState) -> float | None:
        """The run's next deadline, computed at most once per state within a batch."""
        if definition is None:
            return None
        if self._memo is not None and self._memo[0] == state.events:
            return self._memo[1]
        wake = next_wake(definition, state, self.services.environment(), self.services.clock.now())
        self._memo = (state.events, wake)
        return wake

    def arm(self, definition: WorkflowDef | None, state: WorkflowState) -> ArmWake | None:
        """The wake-up to arm for the earliest deadline still to act on, if not armed yet.

        Armed already: `armed` is at or before it and will come, which a
        batch that wrote a row must be sure of — a parked row promises its
        `wake_at` exactly, and an `armed` in the past may be a row's stale
        promise (module note).
        """
        if state.status.terminal:
            return None
        wake = self.next_wake(definition, state)
        if wake is None or wake == self.armed:
            return None
        armed = self.armed
        wrote = self._wrote
        if (
            armed is None
            or wake < armed
            or (wrote is not None and (wrote.parked or armed <= self.services.clock.now()))
        ):
            self.armed = wake
            return ArmWake(state.id, wake)
        return None


def state_row(
    state: WorkflowState, *, terminal: bool, parked: bool = False, wake_at: float | None = None
) -> StreamInfo:
    """A run's current-state row from its state: what recovery reads without loading it."""
    return StreamInfo(
        stream_id=state.id,
        kind=state.name,
        version=state.version,
        status=state.status.value,
        terminal=terminal,
        created_at=state.created_at,
        updated_at=state.updated_at,
        key=state.key,
        correlation_id=state.correlation_id,
        parent_id=state.parent_id,
        priority=state.priority,
        parked=parked,
        wake_at=wake_at,
        timers=timers_held(state) or None,
    )
