"""The actor system: spawns actors, counts work, and shuts everything down.

Design note
-----------
`async with ActorSystem(clock=...) as system:` enters one anyio task group;
a keeper task in it hosts the background tasks of `start_soon` (so an error
in one of them cancels the block and surfaces from `async with`). Actor
runners are bare asyncio tasks the system tracks itself (see `_mailbox`);
none outlives `stop()`.

Shutdown (`stop()`, or leaving the block):
1. new tells, and tells waiting for mailbox space, raise `ActorSystemStopped`;
2. batches in hand finish, up to `grace_s` on the clock, then their runners are
   cancelled (their asks fail with `ActorSystemStopped`); queued messages are
   never handled: their replies fail with `ActorSystemStopped`;
3. `stopped()` of every live instance is awaited (again bounded by `grace_s`);
4. background tasks are cancelled and awaited.
On a `VirtualClock` the grace only runs out when someone advances the clock.

Escalation. When a top-level supervisor (or, by default, an entity pool)
gives up, `system.on_escalation(exc)` is called. The default logs
`system.escalated` and records the error; `stop()` (and leaving the block
without another error in flight) then raises the recorded errors as one
`ExceptionGroup` (use `except*`), once. Replace `on_escalation` to handle
them yourself; nothing is recorded then.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator
from types import TracebackType
from typing import Any, TypeVar

import anyio
import anyio.abc

from cadenza._log import get_logger
from cadenza.actors._actor import Actor, ActorRef
from cadenza.actors._clock import Clock
from cadenza.actors._delivery import Delivery, ImmediateDelivery, _current
from cadenza.actors._entities import EntityPool
from cadenza.actors._errors import ActorNameTaken, ActorSystemStopped
from cadenza.actors._mailbox import _Cell
from cadenza.actors._supervisor import Strategy, Supervisor

log = get_logger("cadenza.actors")

M = TypeVar("M")


class _BusyToken:
    __slots__ = ("_system",)

    def __init__(self, system: ActorSystem):
        self._system = system

    def __enter__(self) -> None:
        self._system._tokens += 1

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        system = self._system
        system._tokens -= 1
        system._maybe_idle()


class ActorSystem:
    """Hosts actors, supervisors and entity pools; see the module note."""

    def __init__(
        self,
        *,
        clock: Clock,
        delivery: Delivery | None = None,
        name: str = "cadenza",
        batch_max: int = 256,
    ):
        if batch_max < 1:
            raise ValueError(f"batch_max must be at least 1, not {batch_max}")
        self.name = name
        self.clock = clock
        self.batch_max = batch_max
        self._delivery: Delivery = delivery if delivery is not None else ImmediateDelivery()
        self._immediate = type(self._delivery) is ImmediateDelivery
        self.on_escalation: Callable[[BaseException], None] = self._record_escalation
        self._escalations: list[BaseException] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._bg: anyio.abc.TaskGroup | None = None
        self._accepting = False  # started and not stopping
        self._stopping = False  # stop() has begun (stays True once stopped)
        self._stop_started = False
        self._stopped_event = asyncio.Event()
        self._keeper_wake = asyncio.Event()
        self._keeper_done = asyncio.Event()
        self._keeper_started = asyncio.Event()
        self._keeper_task: asyncio.Task[None] | None = None
        self._host: asyncio.Task[Any] | None = None  # the task that entered the system
        self._host_cancelled = False
        self._fatal_error: BaseException | None = None
        self._cells: dict[str, _Cell] = {}
        self._pools: dict[str, EntityPool[Any]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._messages = 0  # queued or in hand
        self._runners = 0
        self._tokens = 0
        self._idle: asyncio.Event | None = None
        self._root = Supervisor(
            self, "root", strategy=Strategy.ONE_FOR_ONE, max_restarts=3, within_s=5.0, parent=None
        )

    def __repr__(self) -> str:
        return f"<ActorSystem {self.name!r} pending={self.pending()}>"

    @property
    def delivery(self) -> Delivery:
        """The delivery seam, fixed at construction."""
        return self._delivery

    # -- lifecycle -------------------------------------------------------

    async def __aenter__(self) -> ActorSystem:
        if self._loop is not None or self._stop_started:
            raise RuntimeError(f"actor system {self.name!r} can be started only once")
        self._loop = asyncio.get_running_loop()
        # The background task group lives inside the keeper task, never in the
        # caller's: `async with` may be entered and left by different tasks
        # (pytest fixtures, services), and no cancel scope is left dangling.
        self._host = asyncio.current_task()
        self._keeper_task = self._loop.create_task(self._keeper(), name=f"{self.name}-keeper")
        await self._keeper_started.wait()
        if self._bg is None:
            await self._keeper_task
            raise self._fatal_error or RuntimeError(f"actor system {self.name!r} did not start")
        self._accepting = True
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        with anyio.CancelScope(shield=True):
            await self._shutdown(5.0)
        if (
            self._host_cancelled
            and isinstance(exc, asyncio.CancelledError)
            and self._host is not None
        ):
            self._host.uncancel()  # our cancellation, not the caller's: raise the cause instead
            self._host_cancelled = False
            self._raise_fatal()
        if exc is None:
            self._raise_fatal()
            self._raise_escalations()
        return None

    async def stop(self, grace_s: float = 5.0) -> None:
        """Shut down as the module note says; raise recorded escalations, once.

        Do not call it from inside an actor's batch: it waits for that batch.
        """
        await self._shutdown(grace_s)
        self._raise_fatal()
        self._raise_escalations()

    def _raise_fatal(self) -> None:
        error, self._fatal_error = self._fatal_error, None
        if error is None:
            return
        if isinstance(error, BaseExceptionGroup):
            raise error
        raise BaseExceptionGroup(f"actor system {self.name!r} failed", [error])

    def _cancel_host(self) -> None:
        """A fatal error cancels the block that entered the system, as a task group would."""
        host = self._host
        if (
            host is not None
            and not host.done()
            and not self._host_cancelled
            and not self._stop_started
        ):
            self._host_cancelled = True
            host.cancel()

    async def _keeper(self) -> None:
        """Host the background task group until shutdown; a task's failure is fatal."""
        try:
            async with anyio.create_task_group() as bg:
                self._bg = bg
                self._keeper_started.set()
                await self._keeper_wake.wait()
                bg.cancel_scope.cancel()
        except BaseException as exc:  # a background task failed: stop() raises it
            log.error("system.background_failed", system=self.name, error=repr(exc))
            if self._fatal_error is None:
                self._fatal_error = exc
            self._accepting = False
            self._cancel_host()
        finally:
            self._bg = None
            self._keeper_started.set()
            self._keeper_done.set()

    async def _shutdown(self, grace_s: float) -> None:
        if self._stop_started:
            await self._stopped_event.wait()
            return
        self._stop_started = True
        self._accepting = False
        self._stopping = True
        try:
            if self._loop is not None:
                for cell in self._all_cells():  # tells waiting for space are refused too
                    cell._fail_senders(lambda _message: self._not_running())
                await self._finish_runners(grace_s)
                await self._stop_instances(grace_s)
                self._keeper_wake.set()
                await self._keeper_done.wait()
        finally:
            self._stopped_event.set()
            log.info("system.stopped", system=self.name)

    async def _finish_runners(self, grace_s: float) -> None:
        with self._deadline(grace_s):
            while self._tasks:
                await asyncio.wait(list(self._tasks))
        if self._tasks:
            tasks = list(self._tasks)
            log.warning("system.batches_cancelled", system=self.name, actors=len(tasks))
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _stop_instances(self, grace_s: float) -> None:
        cells = self._all_cells()
        for cell in cells:  # whatever a cancelled runner left queued
            cell._drop_all(lambda _message: self._not_running())
        live = [cell for cell in cells if cell._instance is not None]
        with self._deadline(grace_s):
            for cell in live:
                token = _current.set(cell.name)
                try:
                    await cell._discard()
                finally:
                    _current.reset(token)
        abandoned = [cell.name for cell in live if cell._instance is not None]
        if abandoned:
            log.warning("system.stop_hooks_abandoned", system=self.name, actors=abandoned)
            for cell in live:
                cell._instance = None

    @contextlib.contextmanager
    def _deadline(self, seconds: float) -> Iterator[anyio.CancelScope]:
        scope = anyio.CancelScope()
        handle = self.clock.call_at(self.clock.now() + seconds, scope.cancel)
        try:
            with scope:
                yield scope
        finally:
            handle.cancel()

    # -- making actors ---------------------------------------------------

    def spawn(
        self,
        factory: Callable[[], Actor[M]],
        *,
        name: str,
        mailbox_size: int = 1024,
        supervisor: Supervisor | None = None,
    ) -> ActorRef[M]:
        """Add an actor (under `supervisor`, or the implicit root: one-for-one, 3 in 5 s).

        It owns no task until its first message. Raises `ActorNameTaken` if the
        name is in use.
        """
        parent = supervisor if supervisor is not None else self._root
        return self._spawn_cell(factory, name=name, mailbox_size=mailbox_size, parent=parent)

    def _spawn_cell(
        self,
        factory: Callable[[], Actor[M]],
        *,
        name: str,
        mailbox_size: int,
        parent: Supervisor,
    ) -> ActorRef[M]:
        if self._stop_started:
            raise self._not_running()
        if name in self._cells:
            raise ActorNameTaken(name)
        cell = _Cell(self, name, factory, parent, mailbox_size)
        parent._adopt(cell)
        self._cells[name] = cell
        return cell.ref

    def supervisor(
        self,
        name: str,
        *,
        strategy: Strategy = Strategy.ONE_FOR_ONE,
        max_restarts: int = 3,
        within_s: float = 5.0,
        parent: Supervisor | None = None,
    ) -> Supervisor:
        """A supervisor; without `parent` it is top-level and escalates to `on_escalation`."""
        return Supervisor(
            self,
            name,
            strategy=strategy,
            max_restarts=max_restarts,
            within_s=within_s,
            parent=parent,
        )

    def entities(
        self,
        factory: Callable[[str], Actor[M]],
        *,
        kind: str,
        mailbox_size: int = 1024,
        max_restarts: int = 3,
        within_s: float = 5.0,
        on_give_up: Callable[[str, BaseException], None] | None = None,
    ) -> EntityPool[M]:
        """A pool of actors addressed by key (see `EntityPool`); `kind` must be unique."""
        if kind in self._pools:
            raise ActorNameTaken(kind)
        pool = EntityPool(
            self,
            factory,
            kind=kind,
            mailbox_size=mailbox_size,
            max_restarts=max_restarts,
            within_s=within_s,
            on_give_up=on_give_up,
        )
        self._pools[kind] = pool
        return pool

    # -- work outside actors, quiescence ---------------------------------

    def busy(self) -> contextlib.AbstractContextManager[None]:
        """A token for work outside actors; `quiescent()` waits while it is held."""
        return _BusyToken(self)

    def start_soon(
        self, fn: Callable[..., Awaitable[Any]], *args: Any, name: str | None = None
    ) -> None:
        """Run `fn(*args)` in the system's task group; cancelled by `stop()`.

        An exception from it cancels the `async with` block and is raised
        from it (as an anyio task group does).
        """
        bg = self._bg
        if bg is None or not self._accepting:
            raise self._not_running()
        bg.start_soon(self._background, fn, args, name=name or getattr(fn, "__qualname__", None))

    @staticmethod
    async def _background(fn: Callable[..., Awaitable[Any]], args: tuple[Any, ...]) -> None:
        _current.set(None)  # not an actor, even if started by one
        await fn(*args)

    async def quiescent(self) -> None:
        """Return once no message is queued or in hand and no busy token is held."""
        while self._runners or self._tokens:
            event = self._idle
            if event is None:
                event = self._idle = asyncio.Event()
            await event.wait()

    @property
    def stopping(self) -> bool:
        """`stop()` has begun (True from then on): actors being discarded are shutting down."""
        return self._stopping

    def pending(self) -> int:
        """Messages queued or in hand, plus busy tokens held (for diagnostics)."""
        return self._messages + self._tokens

    # -- internal --------------------------------------------------------

    def _maybe_idle(self) -> None:
        if self._runners == 0 and self._tokens == 0:
            event = self._idle
            if event is not None:
                self._idle = None
                event.set()

    def _handled(self, count: int) -> None:
        self._messages -= count

    def _runner_done(self, cell: _Cell) -> None:
        self._runners -= 1
        task = cell._task
        if task is not None:
            self._tasks.discard(task)
            cell._task = None
        self._maybe_idle()

    def _loop_or_raise(self) -> asyncio.AbstractEventLoop:
        loop = self._loop
        if loop is None:
            raise self._not_running()
        return loop

    def _not_running(self) -> ActorSystemStopped:
        if self._loop is None and not self._stop_started:
            return ActorSystemStopped(self.name, "has not been started (use `async with`)")
        if self._stopped_event.is_set():
            return ActorSystemStopped(self.name, "has stopped")
        return ActorSystemStopped(self.name, "is stopping")

    def _forget_cell(self, cell: _Cell) -> None:
        if self._cells.get(cell.name) is cell:
            del self._cells[cell.name]

    def _all_cells(self) -> list[_Cell]:
        cells = list(self._cells.values())
        for pool in self._pools.values():
            cells.extend(pool._cells.values())
        return cells

    def _escalate(self, exc: BaseException) -> None:
        try:
            self.on_escalation(exc)
        except Exception as hook_error:
            log.error("system.escalation_hook_failed", system=self.name, error=repr(hook_error))

    def _record_escalation(self, exc: BaseException) -> None:
        log.error("system.escalated", system=self.name, error=repr(exc))
        self._escalations.append(exc)

    def _raise_escalations(self) -> None:
        errors, self._escalations = self._escalations, []
        if errors:
            raise BaseExceptionGroup(
                f"actor system {self.name!r}: {len(errors)} escalation(s) from supervisors "
                "that gave up",
                errors,
            )

    def _fatal(self, exc: BaseException) -> None:
        log.error("system.fatal", system=self.name, error=repr(exc))
        if self._fatal_error is None:
            self._fatal_error = exc
        self._keeper_wake.set()
        self._cancel_host()
