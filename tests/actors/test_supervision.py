"""Restart strategies, restart intensity and escalation."""

from __future__ import annotations

from typing import Any

import pytest

from cadenza._errors import NotFound
from cadenza.actors import (
    ActorCrashed,
    ActorRef,
    ActorStopped,
    ActorSystem,
    Strategy,
    Supervisor,
    VirtualClock,
)
from tests._logs import capture_logs
from tests.actors._support import Boom, Gate, Req, events, tracked

Journal = list[tuple[Any, ...]]


async def _three_children(
    system: ActorSystem, supervisor: Supervisor, journal: Journal
) -> list[ActorRef[Any]]:
    """Spawn a, b, c under `supervisor` and activate them (each has an instance)."""
    refs = [
        supervisor.spawn(lambda name=name: tracked(name, journal), name=name)  # type: ignore[misc]
        for name in "abc"
    ]
    for ref in refs:
        await ref.tell("ping")
    await system.quiescent()
    journal.clear()
    return refs


async def _restarted_by_crash_of_b(vclock: VirtualClock, strategy: Strategy) -> Journal:
    journal: Journal = []
    async with ActorSystem(clock=vclock) as system:
        supervisor = system.supervisor("sup", strategy=strategy)
        a, b, c = await _three_children(system, supervisor, journal)
        await b.tell("crash")
        await system.quiescent()
        restarted = list(journal)
        for ref in (a, b, c):
            await ref.tell("after")
        await system.quiescent()
        assert sorted(events(journal, "got")) == ["a", "b", "c"]
    return restarted


async def test_one_for_one_restarts_only_the_failed_child(vclock: VirtualClock) -> None:
    """Siblings keep their instances when one child crashes."""
    assert events(await _restarted_by_crash_of_b(vclock, Strategy.ONE_FOR_ONE), "stopped") == ["b"]


async def test_one_for_all_restarts_every_sibling(vclock: VirtualClock) -> None:
    """Every child of the supervisor is stopped and will start afresh."""
    stopped = events(await _restarted_by_crash_of_b(vclock, Strategy.ONE_FOR_ALL), "stopped")
    assert sorted(stopped) == ["a", "b", "c"]


async def test_rest_for_one_restarts_the_failed_child_and_those_spawned_after_it(
    vclock: VirtualClock,
) -> None:
    """Children spawned before the failed one are left alone."""
    stopped = events(await _restarted_by_crash_of_b(vclock, Strategy.REST_FOR_ONE), "stopped")
    assert sorted(stopped) == ["b", "c"]


async def test_a_restarted_child_keeps_its_mailbox_and_gets_a_fresh_instance(
    vclock: VirtualClock,
) -> None:
    """started() runs again on the next message; nothing queued is lost."""
    journal: Journal = []
    async with ActorSystem(clock=vclock) as system:
        supervisor = system.supervisor("sup", strategy=Strategy.ONE_FOR_ALL)
        a, b, _c = await _three_children(system, supervisor, journal)
        gate = Gate()
        await a.tell(gate)
        await gate.entered.wait()
        await a.tell("queued")
        await b.tell("crash")
        gate.release.set()
        await system.quiescent()
    assert ("got", "a", "queued") in journal
    assert journal.index(("gate", "a")) < journal.index(("stopped", "a")), (
        "a sibling busy in a batch is restarted after that batch, not cancelled"
    )
    assert journal.index(("stopped", "a")) < journal.index(("got", "a", "queued"))
    assert events(journal, "started").count("a") == 1  # the fresh incarnation


async def test_restarts_beyond_the_intensity_escalate_to_the_parent_then_to_the_system(
    vclock: VirtualClock,
) -> None:
    """A child supervisor that gives up is restarted whole by its parent; then the top gives up."""
    journal: Journal = []
    escalated: list[BaseException] = []
    async with ActorSystem(clock=vclock) as system:
        system.on_escalation = escalated.append
        top = system.supervisor("top", max_restarts=1, within_s=60)
        child = system.supervisor("child", parent=top, max_restarts=1, within_s=60)
        x = child.spawn(lambda: tracked("x", journal), name="x")
        y = child.spawn(lambda: tracked("y", journal), name="y")
        await y.tell("ping")
        await system.quiescent()

        with capture_logs() as logs:
            await x.tell("crash")  # child restarts x (1 of 1)
            await system.quiescent()
            assert "y" not in events(journal, "stopped")
            await x.tell("crash")  # child gives up; top restarts child's subtree
            await system.quiescent()
            assert "y" in events(journal, "stopped")
            assert escalated == []
            await x.tell("crash")  # child's history was cleared: restart
            await system.quiescent()
            assert escalated == []
            await x.tell("crash")  # child gives up; top (1 of 1 used) gives up
            await system.quiescent()
        gave_up = [e["supervisor"] for e in logs if e["event"] == "supervisor.gave_up"]
        assert gave_up == ["child", "child", "top"]
        assert len(escalated) == 1
        assert isinstance(escalated[0], Boom)
        with pytest.raises(ActorStopped):
            await x.tell("more")
        with pytest.raises(ActorStopped):
            await y.tell("more")
        with pytest.raises(ActorStopped):
            child.spawn(lambda: tracked("z", journal), name="z")
        assert top.children() == []
        assert child.children() == []


async def test_crashes_spread_beyond_the_window_do_not_escalate(vclock: VirtualClock) -> None:
    """The intensity counts restarts within within_s on the clock only."""
    journal: Journal = []
    escalated: list[BaseException] = []
    async with ActorSystem(clock=vclock) as system:
        system.on_escalation = escalated.append
        supervisor = system.supervisor("sup", max_restarts=1, within_s=10)
        ref = supervisor.spawn(lambda: tracked("a", journal), name="a")
        for _ in range(3):
            await ref.tell("crash")
            await system.quiescent()
            await vclock.advance(11)
        assert escalated == []
        await ref.tell("crash")
        await ref.tell("crash")
        await system.quiescent()
        assert len(escalated) == 1


async def test_the_root_supervisor_escalation_is_raised_by_stop(vclock: VirtualClock) -> None:
    """With the default on_escalation, stop() raises what a top-level supervisor gave up on."""
    journal: Journal = []
    with pytest.raises(ExceptionGroup) as info:  # noqa: PT012
        async with ActorSystem(clock=vclock) as system:
            ref = system.spawn(lambda: tracked("a", journal), name="a")
            for _ in range(4):  # the implicit root allows 3 restarts in 5 s
                await ref.tell("crash")
                await system.quiescent()
            with pytest.raises(ActorStopped):
                await ref.tell("more")
    assert [type(e) for e in info.value.exceptions] == [Boom]


async def test_asks_queued_at_a_child_that_is_given_up_on_fail_with_actor_crashed(
    vclock: VirtualClock,
) -> None:
    """A gave-up subtree does not leave askers hanging."""
    journal: Journal = []
    async with ActorSystem(clock=vclock) as system:
        system.on_escalation = lambda exc: None
        supervisor = system.supervisor("sup", max_restarts=0)
        ref = supervisor.spawn(lambda: tracked("a", journal), name="a")
        gate = Gate()
        await ref.tell(gate)
        await gate.entered.wait()
        await ref.tell("crash")
        reply_holder: list[Any] = []
        await ref.tell(Req("queued", _capture(reply_holder, system)))
        gate.release.set()
        await system.quiescent()
        with pytest.raises(ActorCrashed) as info:
            await reply_holder[0]
        assert isinstance(info.value.__cause__, Boom)


def _capture(holder: list[Any], system: ActorSystem) -> Any:
    from cadenza.actors import Reply

    reply: Reply[Any] = Reply()
    holder.append(reply)
    return reply


async def test_stop_child_stops_it_after_its_batch_and_refuses_later_tells(
    vclock: VirtualClock,
) -> None:
    """A child removed at run time has stopped() awaited and leaves children()."""
    journal: Journal = []
    async with ActorSystem(clock=vclock) as system:
        supervisor = system.supervisor("sup")
        a, b, _c = await _three_children(system, supervisor, journal)
        supervisor.stop_child(b)
        await system.quiescent()
        assert events(journal, "stopped") == ["b"]
        assert [ref.name for ref in supervisor.children()] == ["a", "c"]
        with pytest.raises(ActorStopped):
            await b.tell("late")
        with pytest.raises(NotFound):
            supervisor.stop_child(b)
        other = system.supervisor("other")
        with pytest.raises(NotFound):
            other.stop_child(a)
        # the name is free again
        system.spawn(lambda: tracked("b", journal), name="b")


async def test_an_actor_can_stop_itself(vclock: VirtualClock) -> None:
    """context.stop() ends the actor after the current batch; queued asks fail."""
    from cadenza.actors import Actor

    class Quitter(Actor[Any]):
        async def receive(self, message: Any) -> None:
            if message == "quit":
                self.context.stop()

    async with ActorSystem(clock=vclock) as system:
        ref = system.spawn(Quitter, name="q")
        await ref.tell("quit")
        await system.quiescent()
        with pytest.raises(ActorStopped):
            await ref.tell("late")
