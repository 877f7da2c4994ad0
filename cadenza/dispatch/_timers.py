"""The timer service: one actor, one wake-up, due timers fired in a batch.

Design note
-----------
Every delayed thing (a retry's backoff, a `callbackAfterSeconds`, later
WAIT tasks and timeouts) is an entry `(deadline, seq, target, message)` in
one heap owned by this actor. At most one clock callback is armed: for the
earliest deadline. When it fires, the actor pops every entry whose deadline
has passed — never one that is still in the future — and tells each its
target, in (deadline, arming order). An idle runtime has nothing armed and
uses no CPU: there is no polling loop.

Storm guard: with `resolution_s > 0` the wake-up is armed at the earliest
deadline rounded UP to the next multiple of it, so deadlines that fall in
the same slot cost one wake-up and fire as one batch — at most one slot
late, never early. It is off (0) by default: the simulation sweep showed
that a slot's lateness lets a retry due at t reach its group after an
equal-priority task that became ready later (DESIGN invariant 3). Without
it, due timers still fire as one batch per wake-up. The heap is the only per-timer cost (a tuple and a
reference); a run arms one entry for its earliest deadline at a time.

Timers are not journaled here: each is derived from journaled run state
(a task's `ready_at`, a WAIT's deadline) and re-armed when the run is
recovered.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import math
from dataclasses import dataclass
from typing import Any

from cadenza._log import get_logger
from cadenza.actors import Actor, ActorRef, Clock, MailboxFull, TimerHandle

log = get_logger("cadenza.dispatch")


@dataclass(slots=True)
class Arm:
    when: float
    target: ActorRef[Any]
    message: Any


@dataclass(slots=True)
class ArmMany:
    """Many timers at once (recovery re-arming every parked run): one message, one heapify."""

    entries: list[Arm]


@dataclass(slots=True)
class Fire:
    pass


class TimerService(Actor[Any]):
    """See the module note. `pending()` counts armed entries."""

    def __init__(self, clock: Clock, *, resolution_s: float = 0.0):
        if resolution_s < 0:
            raise ValueError(f"resolution_s must not be negative, got {resolution_s}")
        self.clock = clock
        self.resolution_s = resolution_s
        self.wakeups = 0
        self.heap: list[tuple[float, int, ActorRef[Any], Any]] = []
        self.seq = itertools.count()
        self.armed: tuple[float, TimerHandle] | None = None
        self.fired = 0

    def pending(self) -> int:
        return len(self.heap)

    async def receive_batch(self, messages: list[Any]) -> None:
        for message in messages:
            if isinstance(message, Arm):
                heapq.heappush(
                    self.heap, (message.when, next(self.seq), message.target, message.message)
                )
            elif isinstance(message, ArmMany):
                self.heap.extend(
                    (a.when, next(self.seq), a.target, a.message) for a in message.entries
                )
                heapq.heapify(self.heap)
        now = self.clock.now()
        due: list[tuple[float, int, ActorRef[Any], Any]] = []
        while self.heap and self.heap[0][0] <= now:
            due.append(heapq.heappop(self.heap))
        for _when, _seq, target, message in due:
            await target.tell(message)
        self.fired += len(due)
        self._rearm()

    async def stopped(self) -> None:
        if self.armed is not None:
            self.armed[1].cancel()
            self.armed = None

    def _rearm(self) -> None:
        if not self.heap:
            if self.armed is not None:
                self.armed[1].cancel()
                self.armed = None
            return
        earliest = self.heap[0][0]
        if self.resolution_s > 0:
            earliest = math.ceil(earliest / self.resolution_s) * self.resolution_s
        if self.armed is not None:
            if self.armed[0] == earliest:
                return
            self.armed[1].cancel()
        self.armed = (earliest, self.clock.call_at(earliest, self._wake))

    def _wake(self) -> None:
        self.armed = None
        self.wakeups += 1
        with contextlib.suppress(
            MailboxFull
        ):  # the actor has work queued; it re-arms after that batch
            self.context.self_ref.tell_nowait(Fire())
