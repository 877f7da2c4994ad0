"""tell, ask, back-pressure, batching and the delivery seam."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anyio
import pytest

from cadenza.actors import (
    Actor,
    ActorCrashed,
    ActorNameTaken,
    ActorSystem,
    ActorSystemStopped,
    AskTimeout,
    MailboxFull,
    Reply,
    VirtualClock,
    current_actor,
)
from tests.actors._support import Boom, Gate, Req, Tracked, tracked


class Collector(Actor[Any]):
    def __init__(self, got: list[Any]):
        self.got = got

    async def receive(self, message: Any) -> None:
        self.got.append(message)


async def test_tells_from_one_sender_arrive_in_order(vclock: VirtualClock) -> None:
    """Messages told one after another are received in that order."""
    got: list[Any] = []
    async with ActorSystem(clock=vclock) as system:
        ref = system.spawn(lambda: Collector(got), name="c", mailbox_size=8)
        for i in range(100):
            await ref.tell(i)
        await system.quiescent()
    assert got == list(range(100))


async def test_ask_returns_the_value_the_handler_sets(vclock: VirtualClock) -> None:
    """ask builds the message around a Reply and awaits what the actor sets."""
    journal: list[tuple[Any, ...]] = []
    async with ActorSystem(clock=vclock) as system:
        ref = system.spawn(lambda: tracked("echo", journal), name="echo")
        assert await ref.ask(lambda reply: Req(41, reply)) == 41
        assert await ref.ask(lambda reply: Req("x", reply), timeout_s=5) == "x"
        assert vclock.pending() == 0, "the deadline of an answered ask is cancelled"


async def test_ask_times_out_on_the_virtual_clock(vclock: VirtualClock) -> None:
    """An unanswered ask raises AskTimeout (a TimeoutError) once the clock passes the deadline."""
    received = anyio.Event()
    outcome: list[BaseException] = []

    class Silent(Actor[Req]):
        async def receive(self, message: Req) -> None:
            received.set()

    async def asker(ref: Any) -> None:
        try:
            await ref.ask(lambda reply: Req(1, reply), timeout_s=5.0)
        except AskTimeout as exc:
            outcome.append(exc)

    async with ActorSystem(clock=vclock) as system:
        ref = system.spawn(Silent, name="silent")
        async with anyio.create_task_group() as tg:
            tg.start_soon(asker, ref)
            await received.wait()
            await vclock.advance(4.9)
            await anyio.wait_all_tasks_blocked()
            assert outcome == []
            await vclock.advance(0.1)
    assert len(outcome) == 1
    assert isinstance(outcome[0], TimeoutError)
    assert outcome[0].actor == "silent"  # type: ignore[attr-defined]


async def test_ask_to_an_actor_that_crashes_on_it_raises_actor_crashed(
    vclock: VirtualClock,
) -> None:
    """The asker learns of the crash, with the original error chained; the actor restarts."""
    journal: list[tuple[Any, ...]] = []
    async with ActorSystem(clock=vclock) as system:
        ref = system.spawn(lambda: tracked("a", journal), name="a")
        with pytest.raises(ActorCrashed) as info:
            await ref.ask(lambda reply: Req("crash", reply))
        assert isinstance(info.value.__cause__, Boom)
        assert await ref.ask(lambda reply: Req("again", reply)) == "again"
    assert [e for e in journal if e[0] == "started"] == [("started", "a"), ("started", "a")]


async def test_a_crash_drops_only_the_failing_message_with_the_default_receive_batch(
    vclock: VirtualClock,
) -> None:
    """Messages queued behind the failing one go to the next incarnation, in order."""
    journal: list[tuple[Any, ...]] = []
    async with ActorSystem(clock=vclock) as system:
        ref = system.spawn(lambda: tracked("a", journal), name="a")
        gate = Gate()
        await ref.tell(gate)
        await gate.entered.wait()
        for message in ("one", "crash", "two", "three"):
            await ref.tell(message)
        gate.release.set()
        await system.quiescent()
    assert [e[2] for e in journal if e[0] == "got"] == ["one", "two", "three"]
    assert [e[0] for e in journal if e[0] in ("started", "stopped")] == [
        "started",
        "stopped",
        "started",
        "stopped",  # at shutdown
    ]


async def test_a_crash_in_an_overridden_receive_batch_fails_every_ask_in_the_batch(
    vclock: VirtualClock,
) -> None:
    """The whole batch is dropped and each unanswered ask in it raises ActorCrashed."""
    release = anyio.Event()

    class Strict(Actor[Any]):
        async def receive_batch(self, messages: list[Any]) -> None:
            if messages[0] == "hold":
                await release.wait()
                return
            raise Boom("batch")

    results: list[BaseException] = []

    async def asker(ref: Any, value: int) -> None:
        try:
            await ref.ask(lambda reply: Req(value, reply))
        except ActorCrashed as exc:
            results.append(exc)

    async with ActorSystem(clock=vclock) as system:
        ref = system.spawn(Strict, name="strict")
        await ref.tell("hold")
        async with anyio.create_task_group() as tg:
            for value in range(3):
                tg.start_soon(asker, ref, value)
            await anyio.wait_all_tasks_blocked()
            assert system.pending() == 4
            release.set()
    assert len(results) == 3
    assert all(isinstance(exc.__cause__, Boom) for exc in results)


async def test_a_full_mailbox_makes_tell_wait_and_drops_nothing(vclock: VirtualClock) -> None:
    """Back-pressure: tell waits for space, tell_nowait raises MailboxFull, all arrive in order."""
    journal: list[tuple[Any, ...]] = []
    sent: list[int] = []

    async def late_sender(ref: Any) -> None:
        await ref.tell(3)
        sent.append(3)

    async with ActorSystem(clock=vclock) as system:
        ref = system.spawn(lambda: tracked("slow", journal), name="slow", mailbox_size=2)
        gate = Gate()
        await ref.tell(gate)
        await gate.entered.wait()  # the gate is in hand, the mailbox empty
        await ref.tell(1)
        await ref.tell(2)
        with pytest.raises(MailboxFull):
            ref.tell_nowait(99)
        async with anyio.create_task_group() as tg:
            tg.start_soon(late_sender, ref)
            await anyio.wait_all_tasks_blocked()
            assert sent == [], "tell must wait while the mailbox is full"
            assert system.pending() == 3
            gate.release.set()
        await system.quiescent()
    assert sent == [3]
    assert [e[2] for e in journal if e[0] == "got"] == [1, 2, 3]


async def test_waiting_senders_are_admitted_in_fifo_order(vclock: VirtualClock) -> None:
    """Senders blocked on a full mailbox get in oldest first, and new tells queue behind them."""
    got: list[Any] = []
    release = anyio.Event()

    class Held(Actor[Any]):
        async def receive(self, message: Any) -> None:
            if message == "hold":
                await release.wait()
            got.append(message)

    async with ActorSystem(clock=vclock) as system:
        ref = system.spawn(Held, name="held", mailbox_size=1)
        await ref.tell("hold")
        await anyio.wait_all_tasks_blocked()
        await ref.tell("queued")
        async with anyio.create_task_group() as tg:
            for i in range(5):
                tg.start_soon(ref.tell, f"waiter{i}")
                await anyio.wait_all_tasks_blocked()
            with pytest.raises(MailboxFull):
                ref.tell_nowait("overtaker")
            release.set()
        await system.quiescent()
    assert got == ["hold", "queued", *(f"waiter{i}" for i in range(5))]


async def test_messages_queued_during_a_batch_are_handled_in_one_batch(
    vclock: VirtualClock,
) -> None:
    """The runner drains the mailbox in batches of up to batch_max."""
    batches: list[list[Any]] = []
    gate = Gate()

    class Batcher(Actor[Any]):
        async def receive_batch(self, messages: list[Any]) -> None:
            batches.append(list(messages))
            if messages[0] is gate:
                gate.entered.set()
                await gate.release.wait()

    async with ActorSystem(clock=vclock, batch_max=3) as system:
        ref = system.spawn(Batcher, name="b")
        await ref.tell(gate)
        await gate.entered.wait()
        for i in range(5):
            await ref.tell(i)
        gate.release.set()
        await system.quiescent()
    assert batches == [[gate], [0, 1, 2], [3, 4]]


async def test_current_actor_names_the_running_actor_and_none_outside(
    vclock: VirtualClock,
) -> None:
    """current_actor() is the sender identity the delivery seam sees."""
    seen: list[str | None] = []

    class Who(Actor[Any]):
        async def started(self) -> None:
            seen.append(current_actor())

        async def receive(self, message: Any) -> None:
            seen.append(current_actor())
            seen.append(self.context.name)

    async with ActorSystem(clock=vclock) as system:
        ref = system.spawn(Who, name="who")
        await ref.tell("hi")
        await system.quiescent()
        assert current_actor() is None
    assert seen == ["who", "who", "who"]


@dataclass
class Forward:
    to: Any
    what: str


class Forwarder(Actor[Forward]):
    async def receive(self, message: Forward) -> None:
        await message.to.tell(message.what)


class HoldingDelivery:
    """Records every delivery and holds it until released, possibly reordered."""

    def __init__(self) -> None:
        self.seen: list[tuple[str | None, str, Any]] = []
        self.held: list[Callable[[], None]] = []

    def deliver(
        self, sender: str | None, target: str, message: object, enqueue: Callable[[], None]
    ) -> None:
        self.seen.append((sender, target, message))
        self.held.append(enqueue)

    def release(self, reverse: bool = False) -> None:
        held, self.held = self.held, []
        for enqueue in reversed(held) if reverse else held:
            enqueue()


async def test_a_custom_delivery_sees_sender_and_target_and_can_reorder(
    vclock: VirtualClock,
) -> None:
    """Every tell goes through the seam with its sender; the seam decides the order."""
    delivery = HoldingDelivery()
    got: list[Any] = []
    async with ActorSystem(clock=vclock, delivery=delivery) as system:
        sink = system.spawn(lambda: Collector(got), name="sink")
        forwarder = system.spawn(Forwarder, name="fwd")
        await forwarder.tell(Forward(sink, "via-fwd"))
        assert got == []
        assert system.pending() == 0
        delivery.release()
        await system.quiescent()
        await sink.tell("direct")
        assert [(s, t) for s, t, _ in delivery.seen] == [
            (None, "fwd"),
            ("fwd", "sink"),
            (None, "sink"),
        ]
        delivery.release(reverse=True)
        await system.quiescent()
    assert got == ["direct", "via-fwd"]


async def test_a_delivery_that_enqueues_twice_is_refused(vclock: VirtualClock) -> None:
    """A seam bug cannot duplicate a message."""
    from cadenza._errors import InternalError

    delivery = HoldingDelivery()
    async with ActorSystem(clock=vclock, delivery=delivery) as system:
        ref = system.spawn(lambda: Collector([]), name="c")
        await ref.tell("once")
        enqueue = delivery.held[0]
        enqueue()
        with pytest.raises(InternalError):
            enqueue()


async def test_messages_told_from_clock_callbacks_count_for_quiescence(
    vclock: VirtualClock,
) -> None:
    """A sync timer callback can tell; advance() settles the system after it."""
    got: list[Any] = []
    async with ActorSystem(clock=vclock) as system:
        vclock.attach(system.quiescent)
        ref = system.spawn(lambda: Collector(got), name="c")
        vclock.call_at(vclock.now() + 10, lambda: ref.tell_nowait("tick"))
        await vclock.advance(10)
        assert got == ["tick"]
        vclock.detach(system.quiescent)


async def test_tell_before_the_system_starts_raises(vclock: VirtualClock) -> None:
    """A system not entered with `async with` refuses messages."""
    system = ActorSystem(clock=vclock)
    ref = system.spawn(lambda: Collector([]), name="c")
    with pytest.raises(ActorSystemStopped):
        await ref.tell("early")


async def test_actor_names_are_unique(vclock: VirtualClock) -> None:
    """A name is a delivery address; spawning it twice is refused."""
    async with ActorSystem(clock=vclock) as system:
        system.spawn(lambda: Collector([]), name="same")
        with pytest.raises(ActorNameTaken):
            system.spawn(lambda: Collector([]), name="same")


async def test_a_reply_can_be_made_and_awaited_directly() -> None:
    """set/fail after done are no-ops; the first outcome wins."""
    reply: Reply[int] = Reply()
    reply.set(1)
    reply.set(2)
    reply.fail(Boom("late"))
    assert reply.done()
    assert await reply == 1


def test_tracked_is_an_actor() -> None:
    """Guard on the test support itself."""
    assert issubclass(Tracked, Actor)


async def test_an_ask_waiting_for_mailbox_space_times_out_and_sends_nothing(
    vclock: VirtualClock,
) -> None:
    """The ask deadline covers the wait for space; the timed-out message is never enqueued."""
    journal: list[tuple[Any, ...]] = []
    outcome: list[BaseException] = []

    async def asker(ref: Any) -> None:
        try:
            await ref.ask(lambda reply: Req("late", reply), timeout_s=3)
        except AskTimeout as exc:
            outcome.append(exc)

    async with ActorSystem(clock=vclock) as system:
        ref = system.spawn(lambda: tracked("a", journal), name="a", mailbox_size=1)
        gate = Gate()
        await ref.tell(gate)
        await gate.entered.wait()
        await ref.tell("fills")
        async with anyio.create_task_group() as tg:
            tg.start_soon(asker, ref)
            await anyio.wait_all_tasks_blocked()
            await vclock.advance(3)
        assert len(outcome) == 1
        with pytest.raises(MailboxFull):  # the slot is still taken by "fills"
            ref.tell_nowait("x")
        gate.release.set()
        await system.quiescent()
        await ref.tell("next")  # the fast path is free again
        await system.quiescent()
    assert [e[2] for e in journal if e[0] == "got"] == ["fills", "next"]


async def test_a_cancelled_tell_leaves_the_queue_of_waiting_senders(vclock: VirtualClock) -> None:
    """A sender that gives up waiting sends nothing and blocks no one."""
    journal: list[tuple[Any, ...]] = []
    async with ActorSystem(clock=vclock) as system:
        ref = system.spawn(lambda: tracked("a", journal), name="a", mailbox_size=1)
        gate = Gate()
        await ref.tell(gate)
        await gate.entered.wait()
        await ref.tell("fills")
        with anyio.CancelScope() as scope:
            vclock.call_at(vclock.now() + 1, scope.cancel)
            async with anyio.create_task_group() as tg:
                tg.start_soon(ref.tell, "abandoned")
                await anyio.wait_all_tasks_blocked()
                await vclock.advance(1)
                await anyio.sleep_forever()
        gate.release.set()
        await system.quiescent()
        ref.tell_nowait("after")
        await system.quiescent()
    assert [e[2] for e in journal if e[0] == "got"] == ["fills", "after"]


async def test_a_passivated_actor_is_recreated_by_its_factory_on_the_next_message(
    vclock: VirtualClock,
) -> None:
    """passivate() drops the instance once the mailbox is empty; started() runs again later."""
    lifecycle: list[str] = []

    class Napper(Actor[Any]):
        async def started(self) -> None:
            lifecycle.append("started")

        async def stopped(self) -> None:
            lifecycle.append("stopped")

        async def receive(self, message: Any) -> None:
            lifecycle.append(message)
            self.context.passivate()

    async with ActorSystem(clock=vclock) as system:
        ref = system.spawn(Napper, name="n")
        await ref.tell("one")
        await ref.tell("two")  # queued before the passivation applies
        await system.quiescent()
        await ref.tell("three")
        await system.quiescent()
    assert lifecycle == ["started", "one", "two", "stopped", "started", "three", "stopped"]
