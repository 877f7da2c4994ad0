"""tell_soon: a send that never waits, yet keeps each sender's order under back-pressure.

An actor may not block on another's full mailbox (two actors telling each
other would deadlock), so `tell_soon` queues the message behind the senders
already waiting; the receiver admits them, oldest first, as it frees space.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio
import pytest

from cadenza.actors import (
    Actor,
    ActorRef,
    ActorStopped,
    ActorSystem,
    ActorSystemStopped,
    MailboxFull,
    Reply,
    VirtualClock,
)


@dataclass(frozen=True)
class Go:
    """Makes a `Sender` tell_soon `count` numbered messages to `to`."""

    to: ActorRef[Any]
    count: int


class Sender(Actor[Any]):
    """Sends `"{name}{i}"` for i in range(count), without waiting, in one batch."""

    def __init__(self, name: str):
        self.name = name
        self.sent = 0

    async def receive(self, message: Go) -> None:
        for _ in range(message.count):
            message.to.tell_soon(f"{self.name}{self.sent}")
            self.sent += 1


class Held(Actor[Any]):
    """Records what it gets; "hold" blocks its batch until `release` is set."""

    def __init__(self, got: list[Any], release: anyio.Event):
        self.got = got
        self.release = release

    async def receive(self, message: Any) -> None:
        if message == "hold":
            await self.release.wait()
        self.got.append(message)


@asynccontextmanager
async def releasing(release: anyio.Event) -> AsyncIterator[None]:
    """Set `release` however the block ends, so a failing test never hangs the shutdown."""
    try:
        yield
    finally:
        release.set()


def of(sender: str, got: list[Any]) -> list[Any]:
    return [m for m in got if isinstance(m, str) and m.startswith(sender)]


async def test_tell_soon_from_a_full_mailbox_keeps_each_senders_order(
    vclock: VirtualClock,
) -> None:
    """Two actors and a non-actor overflow a mailbox of one: nothing is lost, none overtakes."""
    got: list[Any] = []
    release = anyio.Event()
    async with ActorSystem(clock=vclock) as system, releasing(release):
        target = system.spawn(lambda: Held(got, release), name="target", mailbox_size=1)
        a = system.spawn(lambda: Sender("a"), name="a")
        b = system.spawn(lambda: Sender("b"), name="b")
        await target.tell("hold")
        await anyio.wait_all_tasks_blocked()
        target.tell_soon("fills")  # the one slot
        for _ in range(3):  # three rounds, interleaving a, b and this task
            await a.tell(Go(target, 4))
            await b.tell(Go(target, 4))
            await anyio.wait_all_tasks_blocked()
            target.tell_soon(f"x{_}")
        with pytest.raises(MailboxFull):
            target.tell_nowait("overtaker")  # not past the queued ones either
        assert got == []
        release.set()
        await system.quiescent()
    assert len(got) == 2 + 12 + 12 + 3
    assert got[:2] == ["hold", "fills"]
    assert of("a", got) == [f"a{i}" for i in range(12)]
    assert of("b", got) == [f"b{i}" for i in range(12)]
    assert of("x", got) == ["x0", "x1", "x2"]
    # FIFO across senders too: the order they were told in
    assert got[2:10] == [*(f"a{i}" for i in range(4)), *(f"b{i}" for i in range(4))]


async def test_tell_soon_is_admitted_in_turn_with_waiting_tells(vclock: VirtualClock) -> None:
    """A waiting tell and a tell_soon from the same sender arrive in the order made."""
    got: list[Any] = []
    release = anyio.Event()

    async with ActorSystem(clock=vclock) as system, releasing(release):
        target = system.spawn(lambda: Held(got, release), name="target", mailbox_size=1)
        await target.tell("hold")
        await anyio.wait_all_tasks_blocked()
        await target.tell("fills")
        async with anyio.create_task_group() as tg:
            tg.start_soon(target.tell, "waited")
            await anyio.wait_all_tasks_blocked()
            target.tell_soon("soon")
            release.set()
        await system.quiescent()
    assert got == ["hold", "fills", "waited", "soon"]


class Recording:
    """A delivery seam that records (sender, message) and delivers at once."""

    def __init__(self) -> None:
        self.seen: list[tuple[str | None, object]] = []

    def deliver(
        self, sender: str | None, target: str, message: object, enqueue: Callable[[], None]
    ) -> None:
        self.seen.append((sender, message))
        enqueue()


async def test_an_overflowing_tell_soon_is_delivered_as_its_sender(vclock: VirtualClock) -> None:
    """The seam sees the actor that sent it, not a background task, so it keeps its order."""
    seam = Recording()
    got: list[Any] = []
    release = anyio.Event()
    async with ActorSystem(clock=vclock, delivery=seam) as system, releasing(release):
        target = system.spawn(lambda: Held(got, release), name="target", mailbox_size=1)
        a = system.spawn(lambda: Sender("a"), name="a")
        await target.tell("hold")
        await anyio.wait_all_tasks_blocked()
        await a.tell(Go(target, 3))
        await anyio.wait_all_tasks_blocked()
        release.set()
        await system.quiescent()
    assert [m for m in got if m != "hold"] == ["a0", "a1", "a2"]
    assert [(s, m) for s, m in seam.seen if m in ("a0", "a1", "a2")] == [
        ("a", "a0"),
        ("a", "a1"),
        ("a", "a2"),
    ]


@dataclass
class Ask:
    reply: Reply[Any]


async def test_queued_tell_soon_fails_its_reply_when_the_actor_stops(vclock: VirtualClock) -> None:
    """Never dropped silently: a queued message with a reply learns the actor stopped."""
    release = anyio.Event()
    got: list[Any] = []
    async with ActorSystem(clock=vclock) as system, releasing(release):
        sup = system.supervisor("sup")
        target = sup.spawn(lambda: Held(got, release), name="target", mailbox_size=1)
        await target.tell("hold")
        await anyio.wait_all_tasks_blocked()
        target.tell_soon("fills")
        reply: Reply[Any] = Reply()
        target.tell_soon(Ask(reply))
        sup.stop_child(target)
        release.set()
        with pytest.raises(ActorStopped):
            await reply
        with pytest.raises(ActorStopped):
            target.tell_soon("late")
    with pytest.raises(ActorSystemStopped):
        target.tell_soon("after")


async def test_queued_tell_soon_fails_its_reply_at_shutdown(vclock: VirtualClock) -> None:
    """At stop(), what still waits for space fails with ActorSystemStopped."""
    release = anyio.Event()
    got: list[Any] = []
    reply: Reply[Any]
    async with ActorSystem(clock=vclock) as system, releasing(release):
        target = system.spawn(lambda: Held(got, release), name="target", mailbox_size=1)
        await target.tell("hold")
        await anyio.wait_all_tasks_blocked()
        target.tell_soon("fills")
        reply = Reply()
        target.tell_soon(Ask(reply))
        async with anyio.create_task_group() as tg:
            tg.start_soon(system.stop)
            await anyio.wait_all_tasks_blocked()
            release.set()
    with pytest.raises(ActorSystemStopped):
        await reply
    assert got == ["hold"]
