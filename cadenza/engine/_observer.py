"""What the engine tells an observer (metrics), at the few events it has to be told.

The engine knows only this protocol; `cadenza.observe.Metrics` implements
it. Each call is made on the event loop, from an actor: it must be quick
and must not raise.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from cadenza.core._events import Event
from cadenza.core._state import WorkflowState
from cadenza.persistence import StreamInfo


class Observer(Protocol):
    """Told of durable batches, fired timers, recovery and unserved task types."""

    def recovered(self, rows: Iterable[StreamInfo]) -> None:
        """Recovery found these runs' rows unfinished."""
        ...

    def committed(self, state: WorkflowState, events: Sequence[Event], append_s: float) -> None:
        """A run's batch of `events` is durable, after `append_s` of wall time; `state` is after it."""
        ...

    def timer_late(self, late_s: float) -> None:
        """A timer fired `late_s` after its deadline (on the runtime's clock)."""
        ...

    def unserved_type(self, task_type: str, group: str) -> None:
        """Tasks of `task_type` waited in `group` with no worker or poller past the limit."""
        ...
