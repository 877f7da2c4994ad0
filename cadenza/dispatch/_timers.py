"""The timer service: one actor, one wake-up, due timers fired in a batch.

Design note
-----------
Every delayed thing (a retry's backoff, a `callbackAfterSeconds`, later
WAIT tasks and timeouts) is an entry `(deadline, seq, target, message)` in
one heap this actor keeps (in its `TimerState`). At most one clock callback
is armed: for the earliest deadline. When it fires, the actor pops every entry whose deadline
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

With `deliver_many`, the due entries of a wake-up are handed over together,
in order (the engine wakes many parked runs in one pass: `engine.run._woken`);
it must take every one and never raise.

Timers are not journaled here: each is derived from journaled run state
(a task's `ready_at`, a WAIT's deadline) and re-armed when the run is
recovered.

Restarts: the heap lives in a `TimerState` that whoever spawns the service
makes and hands to every incarnation (as a worker group's `GroupState`), so
a supervised restart loses no pending entry. A batch's arms enter the heap
before anything is delivered, and due entries leave it one at a time as
each is told; a crash costs at most the one entry whose delivery failed.
An incarnation's `stopped()` cancels its wake-up and tells the service a
`Fire`, so the next incarnation starts at once and arms the earliest again
(refused, and so nothing, when the system or the service is stopping).
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import math
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from cadenza._log import get_logger
from cadenza.actors import (
    Actor,
    ActorRef,
    ActorStopped,
    ActorSystemStopped,
    Clock,
    MailboxFull,
    TimerHandle,
)

log = get_logger("cadenza.dispatch")

DeliverMany = Callable[[list[tuple[ActorRef[Any], Any]]], Awaitable[None]]
LATENESS_KEPT = 64  # the last firings' lateness the dashboard shows


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


@dataclass(slots=True)
class TimerState:
    """Everything the timer service holds; outlives restarts of its actor."""

    heap: list[tuple[float, int, ActorRef[Any], Any]] = field(default_factory=list)
    seq: itertools.count[int] = field(default_factory=itertools.count)
    armed: tuple[float, TimerHandle] | None = None  # the wake-up, while an incarnation runs
    wakeups: int = 0
    fired: int = 0
    lateness: deque[float] = field(
        default_factory=lambda: deque(maxlen=LATENESS_KEPT)
    )  # s, newest last (the dashboard)
    late: Callable[[float], None] | None = None  # told how late each timer fired (metrics)

    def pending(self) -> int:
        return len(self.heap)


class TimerService(Actor[Any]):
    """See the module note. `pending()` counts armed entries; `state` outlives restarts."""

    def __init__(
        self,
        clock: Clock,
        *,
        resolution_s: float = 0.0,
        state: TimerState | None = None,
        deliver_many: DeliverMany | None = None,
    ):
        if resolution_s < 0:
            raise ValueError(f"resolution_s must not be negative, got {resolution_s}")
        self.clock = clock
        self.deliver_many = deliver_many
        self.resolution_s = resolution_s
        self.timers = state if state is not None else TimerState()

    @property
    def heap(self) -> list[tuple[float, int, ActorRef[Any], Any]]:
        return self.timers.heap

    @property
    def wakeups(self) -> int:
        return self.timers.wakeups

    @property
    def fired(self) -> int:
        return self.timers.fired

    def pending(self) -> int:
        return self.timers.pending()

    async def receive_batch(self, messages: list[Any]) -> None:
        timers = self.timers
        heap = timers.heap
        for message in messages:
            if isinstance(message, Arm):
                heapq.heappush(
                    heap, (message.when, next(timers.seq), message.target, message.message)
                )
            elif isinstance(message, ArmMany):
                heap.extend(
                    (a.when, next(timers.seq), a.target, a.message) for a in message.entries
                )
                heapq.heapify(heap)
        now = self.clock.now()
        while heap and heap[0][0] <= now:  # (deadline, arming order); each leaves as it is told
            if self.deliver_many is not None:
                await self._deliver_due(self.deliver_many, now)
                break
            when, _seq, target, message = heapq.heappop(heap)
            await target.tell(message)
            self._fired(now, when)
        self._rearm()

    async def _deliver_due(self, deliver_many: DeliverMany, now: float) -> None:
        """Every due entry at once, to `deliver_many`, which takes them all, never raising."""
        heap, due = self.timers.heap, []
        while heap and heap[0][0] <= now:
            when, _seq, target, message = heapq.heappop(heap)
            due.append((target, message))
            self._fired(now, when)
        await deliver_many(due)

    def _fired(self, now: float, when: float) -> None:
        timers = self.timers
        timers.fired += 1
        timers.lateness.append(now - when)
        if timers.late is not None:
            timers.late(now - when)

    async def stopped(self) -> None:
        timers = self.timers
        if timers.armed is not None:
            timers.armed[1].cancel()
            timers.armed = None
        if timers.heap:  # a restart: the next incarnation arms the earliest again, at once
            with contextlib.suppress(MailboxFull, ActorStopped, ActorSystemStopped):
                self.context.self_ref.tell_nowait(Fire())

    def _rearm(self) -> None:
        timers = self.timers
        if not timers.heap:
            if timers.armed is not None:
                timers.armed[1].cancel()
                timers.armed = None
            return
        earliest = timers.heap[0][0]
        if self.resolution_s > 0:
            earliest = math.ceil(earliest / self.resolution_s) * self.resolution_s
        if timers.armed is not None:
            if timers.armed[0] == earliest:
                return
            timers.armed[1].cancel()
        timers.armed = (earliest, self.clock.call_at(earliest, self._wake))

    def _wake(self) -> None:
        self.timers.armed = None
        self.timers.wakeups += 1
        # MailboxFull: the actor has work queued; it re-arms after that batch
        with contextlib.suppress(MailboxFull, ActorStopped, ActorSystemStopped):
            self.context.self_ref.tell_nowait(Fire())
