"""A simulation event loop we own: virtual time, seeded interleavings, a step API.

Design note
-----------
`SimLoop` is an `asyncio.BaseEventLoop` with no selector and no I/O. It
replaces `_run_once`, the loop's one scheduling step:

- `time()` is virtual: it starts at 0 and moves only when nothing is ready,
  jumping straight to the earliest armed deadline (trio's MockClock with
  `autojump_threshold=0`). It never reads the wall clock and never sleeps.
- A step takes the *batch* of callbacks ready now (the ready queue plus
  every timer due at the current time), shuffles it with a `random.Random`
  seeded from the simulation's seed, and runs it. This is trio's scheduler
  approach ("shuffle within the ready batch"): every order it produces is
  one asyncio could produce, one seed always yields the same interleaving,
  and different seeds explore different ones. Callbacks scheduled while a
  batch runs go to the next batch, so nothing starves.
- `hold`, when set, is asked of every callback about to run: a held one is
  set aside (`held`), not run, until `release_held()` puts them all back in
  the ready queue. A simulation of several processes in one loop pauses a
  process (as SIGSTOP would) by holding the callbacks of its context. Held
  callbacks do not count as ready, so time moves on without them.

`Simulation(seed)` wraps a loop in a synchronous API, so a synchronous
driver (hypothesis' stateful runner) can push it a step at a time:
`step()`, `run_until_idle()` (run what is ready, never moving time),
`advance(seconds)` (move time, running everything that falls due, in order),
`spawn(coro)` and `run(coro)`. The loop counts as running only inside those
calls. `SimClock` is a `Clock` for the runtime whose epoch reading is
`start + loop.time()`: the runtime's timers are the loop's timers.

Nothing here uses threads or the wall clock; call_soon_threadsafe has no
self-pipe to write to (there is no other thread to wake us). Determinism
also needs the code under test to take its randomness from the seed, and
not to iterate over sets of strings (their order follows PYTHONHASHSEED,
so a replay in another process may need the same PYTHONHASHSEED).
"""

from __future__ import annotations

import asyncio
import asyncio.events
import contextlib
import contextvars
import heapq
import random
import threading
from collections import deque
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar, cast

from cadenza.actors._clock import TimerHandle

T = TypeVar("T")

DEFAULT_START = 1_767_225_600.0  # 2026-01-01T00:00Z, the VirtualClock's default


class SimDeadlock(RuntimeError):
    """`Simulation.run` found nothing ready and nothing armed, yet its coroutine is not done.

    The code under test waits for something no timer or callback will ever
    provide (a lost message, a missing wake-up). Replay the seed to see it.
    """


class SimTimeout(RuntimeError):
    """`Simulation.run` passed its simulated-time budget; the coroutine may be stuck."""


class SimLoop(asyncio.BaseEventLoop):
    """An event loop with virtual time and a seeded order; see the module note."""

    def __init__(self, seed: int, *, shuffle: bool = True) -> None:
        super().__init__()
        self.seed = seed
        self.shuffle = shuffle
        self.rng = random.Random(seed)
        self.now = 0.0
        self.batches = 0
        self.callbacks = 0
        self.on_batch: list[Callable[[], None]] = []
        self.hold: Callable[[asyncio.Handle], bool] | None = None
        self.held: list[asyncio.Handle] = []

    # -- what BaseEventLoop leaves to subclasses -----------------------------

    def time(self) -> float:
        return self.now

    def _process_events(self, event_list: Any) -> None:
        """No selector, no events."""

    def _write_to_self(self) -> None:
        """No other thread to wake: call_soon_threadsafe only appends."""

    def _run_once(self) -> None:
        """One step of `run_forever`: jump time if idle, then run one batch."""
        if not self.has_ready():
            deadline = self.next_deadline()
            if deadline is None:
                raise SimDeadlock("run_forever on a loop with nothing ready and nothing armed")
            self.now = max(self.now, deadline)
        self.run_batch()

    # -- scheduling ------------------------------------------------------------

    def _queues(self) -> tuple[deque[asyncio.Handle], list[asyncio.TimerHandle]]:
        base = cast(Any, self)
        return base._ready, base._scheduled

    def _drop_cancelled(self) -> None:
        base = cast(Any, self)
        scheduled: list[asyncio.TimerHandle] = base._scheduled
        if base._timer_cancelled_count > 64 and base._timer_cancelled_count * 2 > len(scheduled):
            kept = [h for h in scheduled if not h.cancelled()]
            for handle in scheduled:
                if handle.cancelled():
                    cast(Any, handle)._scheduled = False
            heapq.heapify(kept)
            base._scheduled = kept
            base._timer_cancelled_count = 0
            scheduled = kept
        while scheduled and scheduled[0].cancelled():
            base._timer_cancelled_count -= 1
            cast(Any, heapq.heappop(scheduled))._scheduled = False

    def next_deadline(self) -> float | None:
        """The loop time of the earliest armed timer, or None."""
        self._drop_cancelled()
        _ready, scheduled = self._queues()
        return scheduled[0].when() if scheduled else None

    def has_ready(self) -> bool:
        """True if a callback is ready or a timer is due at the current time."""
        ready, _scheduled = self._queues()
        if ready:
            return True
        deadline = self.next_deadline()
        return deadline is not None and deadline <= self.now

    def run_batch(self) -> int:
        """Run the callbacks ready now, in a seeded order; returns how many ran."""
        ready, scheduled = self._queues()
        self._drop_cancelled()
        while scheduled and scheduled[0].when() <= self.now:
            handle = heapq.heappop(scheduled)
            cast(Any, handle)._scheduled = False
            if not handle.cancelled():
                ready.append(handle)
        batch = [ready.popleft() for _ in range(len(ready))]
        if self.hold is not None:
            hold = self.hold
            kept: list[asyncio.Handle] = []
            for callback in batch:
                (self.held if hold(callback) else kept).append(callback)
            batch = kept
        if self.shuffle and len(batch) > 1:
            self.rng.shuffle(batch)
        ran = 0
        for callback in batch:
            if not callback.cancelled():
                callback._run()
                ran += 1
        self.batches += 1
        self.callbacks += ran
        for hook in self.on_batch:
            hook()
        return ran

    def release_held(self) -> int:
        """Put every held callback back in the ready queue (`hold` is asked again); how many."""
        ready, _scheduled = self._queues()
        count = len(self.held)
        ready.extend(self.held)
        self.held.clear()
        return count


class SimClock:
    """A `Clock` reading the simulation loop's time as epoch `start + loop.time()`."""

    def __init__(self, loop: SimLoop, start: float = DEFAULT_START) -> None:
        self.loop = loop
        self.start = start

    def now(self) -> float:
        return self.start + self.loop.now

    def call_at(self, when: float, callback: Callable[[], None]) -> TimerHandle:
        return self.loop.call_at(when - self.start, callback)


class Simulation:
    """A seeded simulation loop driven synchronously; see the module note."""

    def __init__(self, seed: int, *, start: float = DEFAULT_START, shuffle: bool = True) -> None:
        self.seed = seed
        self.loop = SimLoop(seed, shuffle=shuffle)
        self.clock = SimClock(self.loop, start)
        self.loop.set_exception_handler(self._on_loop_error)
        self.errors: list[dict[str, Any]] = []

    def _on_loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        self.errors.append(context)

    @property
    def time(self) -> float:
        """Simulated seconds since the start."""
        return self.loop.now

    def now(self) -> float:
        """The epoch reading of the simulation's clock."""
        return self.clock.now()

    @contextlib.contextmanager
    def _running(self) -> Iterator[None]:
        loop = self.loop
        if loop.is_running():
            raise RuntimeError("the simulation is already being driven (re-entrant call)")
        base = cast(Any, loop)
        previous = asyncio.events._get_running_loop()
        base._thread_id = threading.get_ident()
        asyncio.events._set_running_loop(loop)
        try:
            yield
        finally:
            base._thread_id = None
            asyncio.events._set_running_loop(previous)

    def spawn(
        self, coro: Coroutine[Any, Any, T], *, context: contextvars.Context | None = None
    ) -> asyncio.Task[T]:
        """Schedule `coro` as a task on the loop (in `context`); it runs at the next step."""
        with self._running():
            return self.loop.create_task(coro, context=context)

    def step(self) -> bool:
        """Run one batch, jumping time to the next deadline if nothing is ready.

        Returns False (and does nothing) if nothing is ready and nothing armed.
        """
        loop = self.loop
        with self._running():
            if not loop.has_ready():
                deadline = loop.next_deadline()
                if deadline is None:
                    return False
                loop.now = max(loop.now, deadline)
            loop.run_batch()
        return True

    def run_until_idle(self, *, batches_max: int = 1_000_000) -> int:
        """Run batches while anything is ready at the current time; returns batches run."""
        loop = self.loop
        count = 0
        with self._running():
            while loop.has_ready():
                if count >= batches_max:
                    raise SimTimeout(f"still busy after {batches_max} batches at t={loop.now}")
                loop.run_batch()
                count += 1
        return count

    def advance(self, seconds: float) -> None:
        """Move time forward by `seconds`, running everything that falls due, in order."""
        if seconds < 0:
            raise ValueError(f"cannot move a simulation backwards (advance({seconds}))")
        self.advance_to(self.loop.now + seconds)

    def advance_to(self, target: float) -> None:
        """Move loop time to `target` (no-op if past), running what falls due."""
        loop = self.loop
        self.run_until_idle()
        while True:
            deadline = loop.next_deadline()
            if deadline is None or deadline > target:
                break
            loop.now = max(loop.now, deadline)
            self.run_until_idle()
        loop.now = max(loop.now, target)
        self.run_until_idle()

    def run(self, coro: Coroutine[Any, Any, T], *, timeout_s: float | None = None) -> T:
        """Run `coro` to completion on the loop (others keep running); return its result.

        Raises `SimDeadlock` if it can never finish, `SimTimeout` if it has
        not finished `timeout_s` simulated seconds after it started.
        """
        task = self.spawn(coro)
        return self.wait(task, timeout_s=timeout_s)

    def wait(self, task: asyncio.Future[T], *, timeout_s: float | None = None) -> T:
        """Step until `task` is done; see `run`."""
        limit = None if timeout_s is None else self.loop.now + timeout_s
        while not task.done():
            if limit is not None:
                deadline = self.loop.next_deadline()
                if not self.loop.has_ready() and (deadline is None or deadline > limit):
                    self.advance_to(limit)
                    if not task.done():
                        raise SimTimeout(f"not done after {timeout_s} simulated seconds")
                    break
            if not self.step():
                raise SimDeadlock(
                    f"nothing ready and nothing armed at t={self.loop.now}, "
                    f"but {task!r} is not done (seed {self.seed})"
                )
        return task.result()

    def close(self) -> None:
        """Cancel what is left, let it unwind, and close the loop."""
        loop = self.loop
        if loop.is_closed():
            return
        with self._running():
            tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in tasks:
                task.cancel()
        for _ in range(1000):
            if not any(not t.done() for t in tasks):
                break
            if not self.step():
                break
        loop.close()
