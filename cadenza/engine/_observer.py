"""What the engine tells an observer (metrics), at the few events it has to be told.

The engine knows only this protocol; `cadenza.observe.Metrics` implements
it. Each call is made on the event loop, from an actor: it must be quick
and must not raise. (The timer service's `TimerState.late` and the groups'
`Unserved.counted` are plain callbacks the observer sets itself.)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from cadenza.core._events import Event
from cadenza.core._state import WorkflowState
from cadenza.persistence import StreamInfo


class Observer(Protocol):
    """Told of recovery and of each run's durable batches."""

    def recovered(self, rows: Iterable[StreamInfo]) -> None:
        """Recovery found these runs' rows unfinished."""
        ...

    def committed(self, state: WorkflowState, events: Sequence[Event], append_s: float) -> None:
        """A run's batch of `events` is durable, after `append_s` of wall time; `state` is after it."""
        ...
