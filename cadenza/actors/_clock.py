"""Time comes in through a clock, never from the global modules.

Design note
-----------
Everything in cadenza that waits for time — timers, ask deadlines, lease
expiry, `Runtime.wait(timeout=...)` — goes through a `Clock`: `now()` reads
Unix epoch seconds and `call_at(when, callback)` runs a plain callback once
`now() >= when`. Callbacks must be quick and non-blocking (typically they
`tell` an actor); they run on the event loop.

`RealClock` maps epoch deadlines onto the running asyncio loop's monotonic
timer, so a wall-clock jump does not fire timers early or late by the jump.

`VirtualClock` never moves by itself. `await clock.advance(s)` walks the
pending callbacks in deadline order (ties in arming order), sets `now()` to
each deadline, runs the callback, and then waits until every attached system
is quiescent before taking the next, so the consequences of one timer (which
may arm earlier timers) are processed before later timers fire. A callback
due at or before the current time runs at the next `advance`, including
`advance(0)`.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

import anyio
import anyio.lowlevel


class TimerHandle(Protocol):
    """What `Clock.call_at` returns: something that can be cancelled."""

    def cancel(self) -> None: ...


class Clock(Protocol):
    """The source of time for a runtime; see the module note."""

    def now(self) -> float:
        """Unix epoch seconds."""
        ...

    def call_at(self, when: float, callback: Callable[[], None]) -> TimerHandle:
        """Run `callback()` once `now() >= when`; cancel through the handle."""
        ...


async def sleep_until(clock: Clock, when: float) -> None:
    """Wait on `clock` until `when` (epoch seconds); cancellable."""
    if clock.now() >= when:
        await anyio.lowlevel.checkpoint()
        return
    event = anyio.Event()
    handle = clock.call_at(when, event.set)
    try:
        await event.wait()
    finally:
        handle.cancel()


class RealClock:
    """Wall time on the running asyncio loop (monotonic underneath)."""

    def __init__(self) -> None:
        self._epoch_at_zero = time.time() - time.monotonic()

    def now(self) -> float:
        return self._epoch_at_zero + time.monotonic()

    def call_at(self, when: float, callback: Callable[[], None]) -> TimerHandle:
        loop = asyncio.get_running_loop()
        return loop.call_at(loop.time() + (when - self.now()), callback)


class _VirtualTimer:
    __slots__ = ("callback", "cancelled", "seq", "when")

    def __init__(self, when: float, seq: int, callback: Callable[[], None]):
        self.when = when
        self.seq = seq
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True

    def __lt__(self, other: _VirtualTimer) -> bool:
        return (self.when, self.seq) < (other.when, other.seq)


class VirtualClock:
    """A clock that moves only when told to; see the module note.

    `start` is the epoch reading before the first advance (default: a fixed
    instant, so runs are reproducible).
    """

    def __init__(self, start: float = 1_767_225_600.0) -> None:  # 2026-01-01T00:00Z
        self._now = float(start)
        self._heap: list[_VirtualTimer] = []
        self._seq = itertools.count()
        self._idle_checks: list[Callable[[], Awaitable[None]]] = []

    def now(self) -> float:
        """The virtual reading, Unix epoch seconds; it moves only by `advance`."""
        return self._now

    def call_at(self, when: float, callback: Callable[[], None]) -> TimerHandle:
        """Run `callback()` when `advance` reaches `when`; cancel through the handle."""
        timer = _VirtualTimer(when, next(self._seq), callback)
        heapq.heappush(self._heap, timer)
        return timer

    def attach(self, idle: Callable[[], Awaitable[None]]) -> None:
        """Register a coroutine function that returns once a system is idle."""
        self._idle_checks.append(idle)

    def detach(self, idle: Callable[[], Awaitable[None]]) -> None:
        """Forget an idle check registered with `attach` (no error if it was not)."""
        if idle in self._idle_checks:
            self._idle_checks.remove(idle)

    def next_deadline(self) -> float | None:
        """The earliest pending deadline, or None."""
        self._drop_cancelled()
        return self._heap[0].when if self._heap else None

    def pending(self) -> int:
        """How many callbacks are armed and not cancelled."""
        return sum(1 for t in self._heap if not t.cancelled)

    async def advance(self, seconds: float) -> None:
        """Move time forward by `seconds`, firing what falls due in order.

        Between firings it waits until every attached system is idle (a
        runtime settles), so the consequences of one timer happen before
        the next fires. A local worker that never returns therefore blocks
        it: test hung workers with `cadenza.testing.Simulation`.

        Raises:
            ValueError: `seconds` is negative.
        """
        if seconds < 0:
            raise ValueError(f"cannot move a clock backwards (advance({seconds}))")
        target = self._now + seconds
        await self._settle()
        while True:
            self._drop_cancelled()
            if not self._heap or self._heap[0].when > target:
                break
            timer = heapq.heappop(self._heap)
            self._now = max(self._now, timer.when)
            timer.callback()
            await self._settle()
        self._now = target
        await self._settle()

    async def advance_to(self, when: float) -> None:
        """Move time forward to the epoch reading `when` (no-op if already past), as `advance`."""
        await self.advance(max(0.0, when - self._now))

    def _drop_cancelled(self) -> None:
        while self._heap and self._heap[0].cancelled:
            heapq.heappop(self._heap)

    async def _settle(self) -> None:
        await anyio.lowlevel.checkpoint()
        for idle in list(self._idle_checks):
            await idle()
