"""The actor cell: a bounded deque mailbox and at most one runner task.

Design note
-----------
Ordering. Messages from one sender reach an actor in the order they were
told: `tell` appends to the mailbox (through the delivery seam) without
yielding, and the runner takes them from the head. Senders that found the
mailbox full wait in FIFO order and are admitted, oldest first, as soon as the
runner takes a batch; a new `tell` never overtakes a waiting one.

Back-pressure without blocking. An actor must not wait on another's full
mailbox (two actors telling each other would deadlock), so `tell_soon` joins
the same FIFO of waiting senders without a future: it is admitted in its
turn, as its sender (the seam sees who sent it), and nothing told later by
anyone overtakes it. The mailbox bound therefore holds back blocking senders
only; what non-blocking senders queue beyond it is bounded by what they send,
one deque entry per message, never dropped: if the actor stops first, a
message with a `reply` fails as a queued one would.

Activation. A cell owns no task while idle. The first message to arrive
(`_arrive`) starts one runner task; the runner creates the instance with the
factory if there is none and awaits `started()`, then repeatedly takes up to
`batch_max` messages and awaits `receive_batch(batch)`, yielding to the loop
between batches, until the mailbox is empty. Requests made meanwhile
(restart by the supervisor, `passivate()`, `stop()`) are applied between
batches, never by cancelling one. When the mailbox is empty and passivation
was requested, `stopped()` is awaited and the instance dropped; the runner then
ends. Runners are bare asyncio tasks tracked by the system, not anyio task
group children: starting one costs a fifth as much, and activation is the hot
path of an actor per workflow.

Counting. The system counts +1 per message when it enters a mailbox and
-len(batch) once the batch is handled or dropped, plus one per live runner and
per busy token; `quiescent()` wakes when the runners and tokens reach zero
(a queued message always has a live runner).

Failure. If the factory, `started()` or `receive_batch` raises an
`Exception`, the batch is dropped: each message in it whose `reply` is not done
fails with `ActorCrashed` (chaining the error). With the default
`receive_batch`, only the failing message is dropped and the rest of the batch
goes back to the head of the mailbox. The instance is then discarded
(`stopped()` best-effort, if `started()` had completed) and the parent decides:
the next batch gets a fresh instance, or the cell is closed. Other
`BaseException`s are not failures and propagate.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from cadenza._log import get_logger
from cadenza.actors._actor import (
    Actor,
    ActorContext,
    ActorRef,
    ErrorFor,
    _AskTimer,
    _reply_of,
    crashed_error,
)
from cadenza.actors._delivery import _current, _Enqueue
from cadenza.actors._errors import ActorStopped, ActorSystemStopped, MailboxFull

if TYPE_CHECKING:
    from cadenza.actors._entities import EntityPool
    from cadenza.actors._intensity import RestartWindow
    from cadenza.actors._system import ActorSystem

log = get_logger("cadenza.actors")


class _Parent(Protocol):
    """Who decides about a cell's failure: a Supervisor or an EntityPool."""

    def _child_failed(self, child: _Cell, exc: Exception) -> None: ...

    def _child_closed(self, child: _Cell) -> None: ...


class _Cell:
    """One actor's mailbox, instance and runner; see the module note."""

    __slots__ = (
        "_close_cause",
        "_closing",
        "_ctx",
        "_drop_with",
        "_factory",
        "_in_flight",
        "_instance",
        "_mailbox",
        "_occupied",
        "_passivate",
        "_per_message",
        "_restart",
        "_restarts",
        "_running",
        "_senders",
        "_size",
        "_task",
        "key",
        "name",
        "parent",
        "pool",
        "ref",
        "system",
    )

    def __init__(
        self,
        system: ActorSystem,
        name: str,
        factory: Callable[[], Actor[Any]],
        parent: _Parent,
        mailbox_size: int,
        *,
        pool: EntityPool[Any] | None = None,
        key: str = "",
        ref: ActorRef[Any] | None = None,
    ):
        if mailbox_size < 1:
            raise ValueError(f"mailbox_size must be at least 1, not {mailbox_size}")
        self.system = system
        self.name = name
        self.parent = parent
        self.pool = pool
        self.key = key
        self.ref: ActorRef[Any] = ref if ref is not None else ActorRef(self, name)
        self._factory = factory
        self._size = mailbox_size
        self._mailbox: deque[object] = deque()
        self._occupied = 0  # queued + held by a Delivery; bounded by _size
        self._in_flight = 0  # held by a Delivery
        # waiting for space, oldest first; a None future: a tell_soon, which nobody awaits
        self._senders: deque[tuple[asyncio.Future[None] | None, str | None, object]] = deque()
        self._instance: Actor[Any] | None = None
        self._ctx: ActorContext | None = None
        self._per_message = False
        self._running = False
        self._task: asyncio.Task[None] | None = None
        self._passivate = False
        self._restart = False
        self._closing = False
        self._close_cause: BaseException | None = None
        self._drop_with: ErrorFor | None = None
        self._restarts: RestartWindow | None = None  # an entity's recent restarts

    # -- sending ---------------------------------------------------------

    def _check_open(self) -> None:
        system = self.system
        if not system._accepting:
            raise system._not_running()
        if self._closing:
            raise ActorStopped(self.name)

    def _try_send(self, message: object) -> bool:
        """Accept at once if there is space (no yield); False if the caller must wait."""
        if not self.system._accepting or self._closing:
            self._check_open()
        if self._occupied >= self._size or self._senders:
            return False
        self._accept(_current.get(), message)
        return True

    def _send_nowait(self, message: object) -> None:
        if not self._try_send(message):
            raise MailboxFull(self.name, self._size)

    def _send_soon(self, message: object) -> None:
        """Accept at once if there is space, else queue behind the waiting senders."""
        if not self._try_send(message):
            self._senders.append((None, _current.get(), message))

    async def _send_waiting(self, message: object, timer: _AskTimer | None) -> None:
        """Wait in FIFO order for space; the runner admits the message for us."""
        loop = self.system._loop_or_raise()
        waiter: asyncio.Future[None] = loop.create_future()
        entry = (waiter, _current.get(), message)
        self._senders.append(entry)
        if timer is not None:
            timer.waiter = waiter
        try:
            await waiter
        except BaseException:
            with contextlib.suppress(ValueError):  # unless already admitted or failed
                self._senders.remove(entry)
            raise

    def _accept(self, sender: str | None, message: object) -> None:
        self._occupied += 1
        system = self.system
        if system._immediate:
            self._arrive(message)
            return
        self._in_flight += 1
        enqueue = _Enqueue(self, message)
        try:
            system.delivery.deliver(sender, self.name, message, enqueue)
        except BaseException:
            if not enqueue._called:  # the seam failed before taking it: undo
                enqueue._called = True
                self._in_flight -= 1
                self._occupied -= 1
            raise

    def _arrive(self, message: object) -> None:
        """Put a delivered message in the mailbox and make sure a runner is on it."""
        system = self.system
        if self._closing or not system._accepting:
            self._occupied -= 1
            reply = _reply_of(message)
            if reply is not None:
                reply.fail(ActorStopped(self.name) if self._closing else system._not_running())
            return
        self._mailbox.append(message)
        system._messages += 1
        if not self._running:
            self._start()

    def _admit(self) -> None:
        """Accept waiting senders' messages, oldest first, while there is space."""
        senders = self._senders
        while senders and self._occupied < self._size:
            waiter, sender, message = senders.popleft()
            if waiter is None:
                self._accept(sender, message)
                continue
            if waiter.done():
                continue
            self._accept(sender, message)
            waiter.set_result(None)

    # -- requests from the context, the supervisor, the pool -------------

    def _start(self) -> None:
        system = self.system
        self._running = True
        system._runners += 1
        task = system._loop_or_raise().create_task(self._run())
        system._tasks.add(task)
        self._task = task

    def _request_restart(self) -> None:
        """Discard the instance after the current batch (at once if idle)."""
        if self._closing:
            return
        if self._running:
            self._restart = True
        elif self._instance is not None and self.system._accepting:
            self._restart = True
            self._start()

    def _request_stop(self) -> None:
        if self.pool is None:
            self._close(None)
            return
        # An entity's key always resolves: drop what is queued and passivate.
        name = self.name
        self._drop_with = lambda _message: ActorStopped(name)
        self._passivate = True
        if not self._running and self.system._accepting:
            self._start()

    def _close(self, cause: BaseException | None) -> None:
        """Stop for good after the current batch; later tells raise ActorStopped."""
        if self._closing:
            return
        self._closing = True
        self._close_cause = cause
        if self._running or self.system._stopping:
            return  # the runner, or the system's shutdown, finishes it
        if self._instance is not None:
            self._start()  # to await stopped()
            return
        self._drop_all(self._close_error())
        self._finalize()

    def _close_error(self) -> ErrorFor:
        cause = self._close_cause
        if cause is None:
            name = self.name
            return lambda _message: ActorStopped(name)
        return crashed_error(self.name, cause, "was stopped after its supervisor gave up")

    # -- the runner ------------------------------------------------------

    async def _run(self) -> None:
        system = self.system
        mailbox = self._mailbox
        _current.set(self.name)
        try:
            while True:
                if system._stopping:
                    self._drop_all(lambda _message: system._not_running())
                    return
                if self._restart:
                    self._restart = False
                    await self._discard()
                    continue
                if self._closing:
                    self._drop_all(self._close_error())
                    await self._discard()
                    self._finalize()
                    return
                if self._drop_with is not None:
                    make_error, self._drop_with = self._drop_with, None
                    self._drop_all(make_error)
                if not mailbox:
                    if self._passivate:
                        self._passivate = False
                        if self._instance is not None:
                            await self._discard()
                            continue
                    if self.pool is not None:
                        self.pool._maybe_forget(self)
                    return
                await self._handle_batch()
                if mailbox:
                    await asyncio.sleep(0)  # let others run (and senders refill)
        except (asyncio.CancelledError, KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # not a failure: hand it to the system
            system._fatal(exc)
        finally:
            self._running = False
            system._runner_done(self)

    async def _handle_batch(self) -> None:
        system = self.system
        mailbox = self._mailbox
        count = len(mailbox)
        if count <= system.batch_max:
            batch = list(mailbox)
            mailbox.clear()
        else:
            count = system.batch_max
            batch = [mailbox.popleft() for _ in range(count)]
        self._occupied -= count
        if self._senders:
            self._admit()
        failed = batch
        settled = count
        try:
            instance = self._instance
            if instance is None:
                instance = await self._incarnate()
            if self._per_message:
                handled = 0
                try:
                    for message in batch:
                        await instance.receive(message)
                        handled += 1
                except Exception:
                    failed = batch[handled : handled + 1]
                    rest = batch[handled + 1 :]
                    if rest:  # not at fault: back to the head, for the next incarnation
                        mailbox.extendleft(reversed(rest))
                        self._occupied += len(rest)
                        settled = handled + 1
                    raise
            else:
                await instance.receive_batch(batch)
        except Exception as exc:
            self._fail(failed, crashed_error(self.name, exc))
            system._handled(settled)
            await self._crashed(exc)
            return
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError):
                self._fail(batch, lambda _message: system._not_running())
            else:
                self._fail(batch, crashed_error(self.name, exc))
            system._handled(count)
            raise
        system._handled(count)

    async def _incarnate(self) -> Actor[Any]:
        instance = self._factory()
        ctx = self._ctx
        if ctx is None:
            ctx = self._ctx = ActorContext(self, self.ref)
        instance.context = ctx
        self._per_message = type(instance).receive_batch is Actor.receive_batch
        await instance.started()
        self._instance = instance
        if self.pool is not None:
            self.pool._active += 1
        return instance

    async def _discard(self) -> None:
        """Drop the instance, awaiting its stopped() best-effort."""
        instance = self._instance
        if instance is None:
            return
        self._instance = None
        if self.pool is not None:
            self.pool._active -= 1
        try:
            await instance.stopped()
        except Exception as exc:
            log.warning("actor.stop_failed", actor=self.name, error=repr(exc))

    async def _crashed(self, exc: Exception) -> None:
        if self.system._stopping:  # the shutdown awaits stopped() of what is left
            if isinstance(exc, ActorSystemStopped):  # cut short by the shutdown: no crash
                log.debug("actor.stopped_mid_message", actor=self.name, error=repr(exc))
            else:
                log.warning("actor.crashed", actor=self.name, error=repr(exc))
            return
        log.warning("actor.crashed", actor=self.name, error=repr(exc))
        await self._discard()
        if self.system._stopping or self._closing:
            return
        self.parent._child_failed(self, exc)

    def _fail(self, messages: list[object], make_error: ErrorFor) -> None:
        for message in messages:
            reply = _reply_of(message)
            if reply is not None and not reply.done():
                reply.fail(make_error(message))

    def _drop_all(self, make_error: ErrorFor) -> None:
        """Fail every queued message and every waiting sender with `make_error`."""
        mailbox = self._mailbox
        count = len(mailbox)
        if count:
            self._fail(list(mailbox), make_error)
            mailbox.clear()
            self._occupied -= count
            self.system._handled(count)
        self._fail_senders(make_error)

    def _fail_senders(self, make_error: ErrorFor) -> None:
        """Make every `tell` waiting for space raise `make_error(message)`.

        A waiting `tell_soon` has nobody to raise to: its reply, if any, fails.
        """
        senders = self._senders
        while senders:
            waiter, _sender, message = senders.popleft()
            if waiter is None:
                self._fail([message], make_error)
            elif not waiter.done():
                waiter.set_exception(make_error(message))

    def _finalize(self) -> None:
        log.info("actor.stopped", actor=self.name)
        self.parent._child_closed(self)
        self.system._forget_cell(self)
