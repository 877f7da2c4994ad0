"""The delivery seam: the one place a simulation may reorder or delay messages.

Every accepted `tell` calls `system.delivery.deliver(sender, target, message,
enqueue)` exactly once. `enqueue()` puts the message in the target's mailbox;
it must be called at most once per message, on the event loop thread. The
default `ImmediateDelivery` calls it at once (and the system short-cuts it).

A replacement may call `enqueue` later, or in another order across senders,
but must keep each sender's messages in the order they were delivered: the
kernel promises per-sender FIFO, and only this seam can break it.

While a message sits in a `Delivery` it counts against the target's mailbox
bound (so a slow seam still applies back-pressure) but not toward
`ActorSystem.quiescent()`: a seam that holds messages owns its own idea of
"idle" (typically it releases them from clock callbacks, which
`VirtualClock.advance` drives).

`current_actor()` names the actor whose runner is executing (its `started`,
batch or `stopped`), and is `None` elsewhere; it is the `sender` passed to the
seam.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Protocol

from cadenza._errors import InternalError

if TYPE_CHECKING:
    from cadenza.actors._mailbox import _Cell

_current: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "cadenza_current_actor", default=None
)


def current_actor() -> str | None:
    """The name of the actor whose batch (or lifecycle hook) is running, else None."""
    return _current.get()


@contextlib.contextmanager
def acting_as(name: str) -> Iterator[None]:
    """Send as actor `name` inside: work done for an actor outside its batch (a run started
    in a batch) keeps that actor's order with what it sends later (a `Delivery` orders by
    sender)."""
    token = _current.set(name)
    try:
        yield
    finally:
        _current.reset(token)


class Delivery(Protocol):
    """Hands accepted messages to mailboxes; see the module note."""

    def deliver(
        self, sender: str | None, target: str, message: object, enqueue: Callable[[], None]
    ) -> None:
        """Arrange for `enqueue()` to be called once, keeping per-sender order."""
        ...


class ImmediateDelivery:
    """The production seam: enqueue at once, in call order."""

    def deliver(
        self, sender: str | None, target: str, message: object, enqueue: Callable[[], None]
    ) -> None:
        enqueue()


class _Enqueue:
    """The `enqueue` callable handed to a non-default Delivery, callable once."""

    __slots__ = ("_called", "_cell", "_message")

    def __init__(self, cell: _Cell, message: object):
        self._cell = cell
        self._message = message
        self._called = False

    def __call__(self) -> None:
        if self._called:  # (not `invariant`: its message would be formatted every time)
            raise InternalError(f"a Delivery enqueued a message to {self._cell.name!r} twice")
        self._called = True
        self._cell._in_flight -= 1
        self._cell._arrive(self._message)
