"""What user code sees of an actor: `Actor`, its `ActorContext`, `ActorRef`, `Reply`.

An actor's state is touched only by its own runner, one batch at a time;
`tell` and `ask` on an `ActorRef` are the only ways in. `ask` builds the
message around a fresh `Reply` (the promise the handler completes), tells it
and awaits the reply, with a deadline measured on the system's clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from cadenza.actors._errors import ActorCrashed, AskTimeout

if TYPE_CHECKING:
    from cadenza.actors._clock import Clock
    from cadenza.actors._mailbox import _Cell
    from cadenza.actors._system import ActorSystem

M = TypeVar("M")
T = TypeVar("T")


class Actor(Generic[M]):
    """Subclass and override `receive` (or `receive_batch`).

    A fresh instance is made by the factory for each incarnation: on the first
    message, after a restart, after passivation. `context` is set before
    `started()` runs.
    """

    context: ActorContext

    async def started(self) -> None:
        """Called once per incarnation, before its first message (e.g. load state)."""

    async def receive(self, message: M) -> None:
        """Handle one message; raising makes the actor crash (see the supervisor)."""
        raise NotImplementedError(f"{type(self).__name__} must override receive or receive_batch")

    async def receive_batch(self, messages: list[M]) -> None:
        """Handle queued messages together; by default `receive` each in order.

        If the default is kept and `receive` raises, only the failing message
        is dropped: the rest of the batch goes back to the head of the mailbox
        for the next incarnation. An override that raises loses its batch.
        """
        for message in messages:
            await self.receive(message)

    async def stopped(self) -> None:
        """Called on stop, before a restart, on passivation and at system shutdown."""


class ActorContext:
    """An actor's handle on itself and its system."""

    __slots__ = ("_cell", "clock", "name", "self_ref", "system")

    def __init__(self, cell: _Cell, self_ref: ActorRef[Any]):
        self._cell = cell
        self.system: ActorSystem = cell.system
        self.self_ref = self_ref
        self.name: str = cell.name
        self.clock: Clock = cell.system.clock

    def passivate(self) -> None:
        """Drop this incarnation once the mailbox is empty after the current batch.

        `stopped()` is awaited; the next message starts a fresh instance via the
        factory (for an entity, the pool forgets it entirely meanwhile).
        """
        self._cell._passivate = True

    def stop(self) -> None:
        """Stop this actor after the current batch.

        Messages still queued fail with `ActorStopped`, later tells raise it.
        For an entity, whose key always resolves, the queued messages fail and
        the entity is passivated; a later message starts a fresh one.
        """
        self._cell._request_stop()


class Reply(Generic[T]):
    """The promise an asked message carries as its `reply` attribute.

    `set` and `fail` after the reply is done are no-ops. A `Reply` can also be
    made directly (inside a running loop) and awaited.
    """

    __slots__ = ("_future",)

    def __init__(self, future: asyncio.Future[T] | None = None):
        self._future: asyncio.Future[T] = (
            future if future is not None else asyncio.get_running_loop().create_future()
        )

    def set(self, value: T) -> None:
        if not self._future.done():
            self._future.set_result(value)

    def fail(self, exc: BaseException) -> None:
        future = self._future
        if not future.done():
            future.set_exception(exc)
            # An asker awaiting it still gets the exception; a reply nobody
            # awaits (the asker gave up) must not log "never retrieved".
            future.exception()

    def done(self) -> bool:
        return self._future.done()

    def __await__(self) -> Generator[Any, None, T]:
        return self._future.__await__()


ErrorFor = Callable[[object], BaseException]
"""Makes the error set on the reply of a message that will not be handled."""


def _reply_of(message: object) -> Reply[Any] | None:
    reply = getattr(message, "reply", None)
    return reply if isinstance(reply, Reply) else None


def crashed_error(actor: str, cause: BaseException, why: str | None = None) -> ErrorFor:
    """An `ErrorFor` making `ActorCrashed` chained to `cause`."""

    def make(message: object) -> BaseException:
        if why is None:
            err = ActorCrashed(actor, type(message).__name__)
        else:
            err = ActorCrashed(actor, type(message).__name__, why)
        err.__cause__ = cause
        return err

    return make


class _AskTimer:
    """Fails an ask (its reply, or its wait for mailbox space) at the deadline."""

    __slots__ = ("actor", "future", "timeout_s", "waiter")

    def __init__(self, actor: str, timeout_s: float, future: asyncio.Future[Any]):
        self.actor = actor
        self.timeout_s = timeout_s
        self.future = future
        self.waiter: asyncio.Future[None] | None = None

    def expire(self) -> None:
        if not self.future.done():
            self.future.set_exception(AskTimeout(self.actor, self.timeout_s))
            self.future.exception()
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(AskTimeout(self.actor, self.timeout_s))


class ActorRef(Generic[M]):
    """The address of an actor: `tell` (or `tell_soon`, `tell_nowait`) and `ask` are the ways in."""

    __slots__ = ("_cell", "name")

    def __init__(self, cell: _Cell, name: str):
        self._cell = cell
        self.name = name

    def _resolve(self) -> _Cell:
        """The cell to send to (an entity ref looks it up in its pool)."""
        return self._cell

    def _identity(self) -> object:
        return self._cell

    async def tell(self, message: M) -> None:
        """Enqueue `message`; if the mailbox is full, wait for space (never drops).

        Raises `ActorStopped` if the actor was stopped and `ActorSystemStopped`
        if the system is not running. Does not yield to the loop when there is
        space.
        """
        cell = self._resolve()
        if not cell._try_send(message):
            await cell._send_waiting(message, None)

    def tell_soon(self, message: M) -> None:
        """Enqueue `message` without ever waiting, keeping the sender's order.

        If the mailbox is full (or senders already wait for space), the message
        waits its turn behind them and is admitted, as this sender's, when
        space frees: it is never dropped and never overtaken by a later
        message. For actors and clock callbacks, which must not block. If the
        actor stops before admitting it, its `reply` (if any) fails. Raises
        `ActorStopped` or `ActorSystemStopped` as `tell` does.
        """
        self._resolve()._send_soon(message)

    def tell_nowait(self, message: M) -> None:
        """Enqueue `message` or raise `MailboxFull` (nothing is sent then)."""
        self._resolve()._send_nowait(message)

    async def ask(self, make: Callable[[Reply[T]], M], *, timeout_s: float | None = None) -> T:
        """Tell `make(reply)` and await the reply.

        Raises `AskTimeout` after `timeout_s` on the system's clock (the wait
        for mailbox space counts), `ActorCrashed` if the actor failed while
        handling the message (the original error chained), `ActorStopped` or
        `ActorSystemStopped` if it was never handled.
        """
        cell = self._resolve()
        future: asyncio.Future[T] = cell.system._loop_or_raise().create_future()
        message = make(Reply(future))
        if timeout_s is None:
            if not cell._try_send(message):
                await cell._send_waiting(message, None)
            return await future
        clock = cell.system.clock
        timer = _AskTimer(self.name, timeout_s, future)
        handle = clock.call_at(clock.now() + timeout_s, timer.expire)
        try:
            if not cell._try_send(message):
                await cell._send_waiting(message, timer)
            return await future
        finally:
            handle.cancel()

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other._identity() == self._identity()

    def __hash__(self) -> int:
        return hash(self._identity())

    def __repr__(self) -> str:
        return f"<ActorRef {self.name!r}>"
