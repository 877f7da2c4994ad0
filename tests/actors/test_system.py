"""Quiescence, busy tokens, background tasks and shutdown."""

from __future__ import annotations

import asyncio
from typing import Any

import anyio
import pytest

from cadenza.actors import (
    Actor,
    ActorSystem,
    ActorSystemStopped,
    RealClock,
    Reply,
    VirtualClock,
)
from tests.actors._support import Gate, Req, tracked


async def test_quiescent_waits_for_a_batch_in_hand(vclock: VirtualClock) -> None:
    """quiescent() returns only once the batch being handled is done."""
    journal: list[tuple[Any, ...]] = []
    returned: list[bool] = []

    async def wait_quiet(system: ActorSystem) -> None:
        await system.quiescent()
        returned.append(True)

    async with ActorSystem(clock=vclock) as system:
        ref = system.spawn(lambda: tracked("a", journal), name="a")
        gate = Gate()
        await ref.tell(gate)
        await ref.tell("after")
        async with anyio.create_task_group() as tg:
            tg.start_soon(wait_quiet, system)
            await gate.entered.wait()
            await anyio.wait_all_tasks_blocked()
            assert returned == []
            assert system.pending() == 2
            gate.release.set()
        assert returned == [True]
        assert system.pending() == 0
        assert journal[-1] == ("got", "a", "after")


async def test_quiescent_waits_for_busy_tokens(vclock: VirtualClock) -> None:
    """Work outside actors holds off quiescence while its token is held."""
    returned: list[bool] = []

    async def wait_quiet(system: ActorSystem) -> None:
        await system.quiescent()
        returned.append(True)

    async with ActorSystem(clock=vclock) as system:
        await system.quiescent()  # idle: returns at once
        async with anyio.create_task_group() as tg:
            with system.busy():
                assert system.pending() == 1
                tg.start_soon(wait_quiet, system)
                await anyio.wait_all_tasks_blocked()
                assert returned == []
        assert returned == [True]


async def test_stop_leaves_no_task_behind(vclock: VirtualClock) -> None:
    """Runners, background tasks and the task group are all gone after the block."""
    before = asyncio.all_tasks()
    journal: list[tuple[Any, ...]] = []
    async with ActorSystem(clock=vclock) as system:
        pool = system.entities(lambda key: tracked(key, journal), kind="t")
        refs = [
            system.spawn(lambda i=i: tracked(f"a{i}", journal), name=f"a{i}") for i in range(20)
        ]
        for ref in refs:
            await ref.tell("hi")
        for i in range(20):
            await pool.ref(str(i)).tell("hi")
        await system.quiescent()
        system.start_soon(anyio.sleep_forever)
        assert len(asyncio.all_tasks()) > len(before)
    assert asyncio.all_tasks() == before
    assert journal.count(("stopped", "a7")) == 1, "live actors get stopped() at shutdown"


async def test_stop_fails_unhandled_asks_with_actor_system_stopped(vclock: VirtualClock) -> None:
    """The batch in hand finishes; queued messages are never handled and their asks fail."""
    journal: list[tuple[Any, ...]] = []
    outcomes: list[Any] = []

    async def asker(ref: Any) -> None:
        try:
            outcomes.append(await ref.ask(lambda reply: Req("queued", reply)))
        except ActorSystemStopped as exc:
            outcomes.append(exc)

    system = ActorSystem(clock=vclock)
    async with system, anyio.create_task_group() as tg:
        ref = system.spawn(lambda: tracked("a", journal), name="a")
        gate = Gate()
        await ref.tell(gate)
        await gate.entered.wait()
        tg.start_soon(asker, ref)
        await anyio.wait_all_tasks_blocked()
        tg.start_soon(system.stop)
        await anyio.wait_all_tasks_blocked()
        with pytest.raises(ActorSystemStopped):
            await ref.tell("refused")
        gate.release.set()
    assert len(outcomes) == 1
    assert isinstance(outcomes[0], ActorSystemStopped)
    assert ("gate", "a") in journal, "the batch in hand was allowed to finish"
    assert journal[-1] == ("stopped", "a")
    with pytest.raises(ActorSystemStopped):
        await ref.tell("after")


async def test_stop_cancels_a_batch_that_outlives_the_grace(vclock: VirtualClock) -> None:
    """After grace_s on the clock, a stuck batch is cancelled and its ask fails."""
    outcomes: list[BaseException] = []

    class Stuck(Actor[Any]):
        async def receive(self, message: Any) -> None:
            await anyio.sleep_forever()

    async def asker(ref: Any) -> None:
        try:
            await ref.ask(lambda reply: Req("x", reply))
        except ActorSystemStopped as exc:
            outcomes.append(exc)

    before = asyncio.all_tasks()
    async with ActorSystem(clock=vclock) as system, anyio.create_task_group() as tg:
        ref = system.spawn(Stuck, name="stuck")
        tg.start_soon(asker, ref)
        await anyio.wait_all_tasks_blocked()
        tg.start_soon(system.stop, 2.0)
        await anyio.wait_all_tasks_blocked()
        await vclock.advance(1.9)
        await anyio.wait_all_tasks_blocked()
        assert outcomes == []
        await vclock.advance(0.1)
    assert len(outcomes) == 1
    assert asyncio.all_tasks() == before


async def test_background_tasks_run_outside_any_actor_and_are_cancelled_at_stop(
    vclock: VirtualClock,
) -> None:
    """start_soon runs in the system's task group; stop() cancels it."""
    from cadenza.actors import current_actor

    seen: list[Any] = []
    cancelled: list[bool] = []

    async def background(tag: str) -> None:
        seen.append((tag, current_actor()))
        try:
            await anyio.sleep_forever()
        finally:
            cancelled.append(True)

    class Starter(Actor[Any]):
        async def receive(self, message: Any) -> None:
            self.context.system.start_soon(background, "from-actor")

    async with ActorSystem(clock=vclock) as system:
        await system.spawn(Starter, name="s").tell("go")
        await system.quiescent()
        await anyio.wait_all_tasks_blocked()
        await system.stop()
        assert cancelled == [True]
        with pytest.raises(ActorSystemStopped):
            system.start_soon(background, "late")
    assert seen == [("from-actor", None)]


async def test_a_failing_background_task_surfaces_from_the_block(vclock: VirtualClock) -> None:
    """Like any task group: the error cancels the block and is raised from it."""

    async def failing() -> None:
        raise ValueError("bg")

    with pytest.raises(ExceptionGroup) as info:  # noqa: PT012
        async with ActorSystem(clock=vclock) as system:
            system.start_soon(failing)
            await anyio.sleep_forever()
    assert info.group_contains(ValueError, match="bg")


async def test_a_base_exception_in_an_actor_is_not_a_failure_and_propagates(
    vclock: VirtualClock,
) -> None:
    """Only Exception is supervised; other BaseExceptions end the system."""

    class Fatal(BaseException):
        pass

    class Bad(Actor[Any]):
        async def receive(self, message: Any) -> None:
            raise Fatal()

    with pytest.raises(BaseExceptionGroup) as info:  # noqa: PT012
        async with ActorSystem(clock=vclock) as system:
            await system.spawn(Bad, name="bad").tell("x")
            await anyio.sleep_forever()
    assert info.group_contains(Fatal)


async def test_an_ask_started_before_stop_is_not_left_hanging(vclock: VirtualClock) -> None:
    """A reply fails rather than leaking when the system stops between tell and handling."""
    reply: Reply[Any] = Reply()
    async with ActorSystem(clock=vclock) as system:
        ref = system.spawn(lambda: tracked("a", []), name="a")
        gate = Gate()
        await ref.tell(gate)
        await gate.entered.wait()
        await ref.tell(Req("queued", reply))
        gate.release.set()
    with pytest.raises(ActorSystemStopped):
        await reply


async def test_the_system_runs_on_the_real_clock() -> None:
    """RealClock deadlines work the same way (a short ask timeout)."""
    from cadenza.actors import AskTimeout

    class Silent(Actor[Any]):
        async def receive(self, message: Any) -> None:
            pass

    async with ActorSystem(clock=RealClock()) as system:
        ref = system.spawn(Silent, name="s")
        with pytest.raises(AskTimeout):
            await ref.ask(lambda reply: Req(1, reply), timeout_s=0.01)


class _TellsOnceReleased(Actor[Any]):
    """Holds its gate, then tells another actor: refused once the system is stopping."""

    def __init__(self, other: Any):
        self.other = other

    async def receive(self, message: Any) -> None:
        message.entered.set()
        await message.release.wait()
        await self.other.tell("late")


async def test_an_actor_refused_by_the_stopping_system_is_not_logged_as_crashed(
    vclock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """Before: every batch cut short by Ctrl-C logged `actor.crashed` at WARNING (the demo
    printed one per order in flight); it is the shutdown, not a crash."""
    system = ActorSystem(clock=vclock)
    async with system, anyio.create_task_group() as tg:
        other = system.spawn(lambda: tracked("b", []), name="b")
        ref = system.spawn(lambda: _TellsOnceReleased(other), name="a")
        gate = Gate()
        await ref.tell(gate)
        await gate.entered.wait()
        tg.start_soon(system.stop)
        await anyio.wait_all_tasks_blocked()
        with caplog.at_level("DEBUG", logger="cadenza.actors"):
            gate.release.set()
            await system.stop()
    events = [(r.levelname, r.getMessage().split()[0]) for r in caplog.records]
    assert ("DEBUG", "actor.stopped_mid_message") in events
    assert not [e for e in events if e[0] == "WARNING"], events
