"""A run's deadlines as its actor keeps them: one wake-up armed, expiry, the row's timer, the audit.

Design note
-----------
`RunTiming` is the part of `RunActor` that deals with time. After every
batch the actor keeps exactly one wake-up armed, for its earliest deadline
(`_deadlines.next_wake`), and writes that deadline into its stream row when
the run is parked, so recovery can re-arm it without loading the run. A
wake-up applies `_deadlines.expire` for the current time; a stale or
duplicate one changes nothing. The recovery audit compares the deadline the
row promised with the one the state implies and repairs a difference.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from cadenza.core._deadlines import expire, next_wake
from cadenza.core._events import Event
from cadenza.core._state import IN_PROGRESS_AT_ONCE, WorkflowState
from cadenza.engine._run_services import RunServices
from cadenza.language._definition import WorkflowDef
from cadenza.persistence import StreamInfo

log = structlog.get_logger()


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


class RunTiming:
    """Deadline bookkeeping mixed into `RunActor`; see the module note."""

    run_id: str
    services: RunServices
    definition: WorkflowDef | None

    if TYPE_CHECKING:  # provided by RunActor

        def _emit(self, events: list[Event], event: Event, *, decide: bool = True) -> None: ...

        def _decide(self, events: list[Event]) -> None: ...

    armed: float | None
    alerted_until: float
    _wake_memo: tuple[int, float | None] | None

    def _expire(self, state: WorkflowState, now: float, events: list[Event]) -> None:
        if self.definition is None or state.status.terminal:
            return
        env = self.services.environment()
        expired, alerts = expire(self.definition, state, env, now, since=self.alerted_until)
        for event in expired:
            self._emit(events, event, decide=False)
        if expired:
            self._decide(events)
        for alert in alerts:
            log.warning(
                "run.deadline_passed",
                run_id=state.id,
                kind=alert.kind,
                task_id=alert.task_id,
                due=alert.when,
            )
        self.alerted_until = now

    def _audit(self, state: WorkflowState, expected: float | None) -> None:
        """Compare the deadline recovery armed with the one the state implies; repair a difference."""
        actual = self._next_wake(state)
        if actual == expected:
            self.armed = expected  # recovery armed exactly this one
            return
        self.armed = None  # `_arm` after the batch arms the right one
        self.services.timer_repaired(state.id, expected, actual)

    def _row(self, state: WorkflowState, *, terminal: bool) -> StreamInfo:
        """The run's current-state row: status, and what recovery needs without loading it."""
        parked = self._parked(state)
        wake_at = self._next_wake(state)
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
            wake_at=wake_at if parked else None,
            timers=timers_held(state) or None,
        )

    def _next_wake(self, state: WorkflowState) -> float | None:
        """The run's next deadline, computed at most once per state within a batch.

        The memo is dropped at every batch: the answer also depends on the time
        (an alert-only deadline counts only until it passes).
        """
        if self.definition is None:
            return None
        if self._wake_memo is not None and self._wake_memo[0] == state.events:
            return self._wake_memo[1]
        wake = next_wake(
            self.definition, state, self.services.environment(), self.services.clock.now()
        )
        self._wake_memo = (state.events, wake)
        return wake

    def _parked(self, state: WorkflowState) -> bool:
        """Only waiting on timers or signals: nothing queued, nothing with a worker."""
        if state.status.terminal or not state.started:
            return False
        pending = [t for t in state.tasks if not t.retried and not t.status.terminal]
        return bool(pending) and all(t.type in IN_PROGRESS_AT_ONCE for t in pending)

    def _arm(self, state: WorkflowState) -> None:
        """Keep one wake-up armed for the earliest deadline still to act on."""
        if state.status.terminal:
            return
        wake = self._next_wake(state)
        if wake is not None and (self.armed is None or wake < self.armed):
            self.services.arm(wake, state.id)
            self.armed = wake
