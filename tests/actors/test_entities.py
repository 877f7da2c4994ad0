"""Entity pools: activation by key, passivation, per-entity give-up."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from cadenza.actors import Actor, ActorCrashed, ActorSystem, Reply, VirtualClock
from tests.actors._support import Boom, Req


class Account(Actor[Any]):
    """Keeps a balance in a shared 'store' (its journal); passivates on "sleep"."""

    def __init__(self, key: str, store: dict[str, int], lifecycle: list[tuple[str, str]]):
        self.key = key
        self.store = store
        self.lifecycle = lifecycle
        self.balance = 0

    async def started(self) -> None:
        self.lifecycle.append(("started", self.key))
        self.balance = self.store.get(self.key, 0)

    async def stopped(self) -> None:
        self.lifecycle.append(("stopped", self.key))
        self.store[self.key] = self.balance

    async def receive(self, message: Any) -> None:
        if isinstance(message, Req):
            if message.value == "crash":
                raise Boom(self.key)
            message.reply.set(self.balance)
        elif message == "sleep":
            self.context.passivate()
        elif message == "quit":
            self.context.stop()
        else:
            self.balance += int(message)


async def test_an_entity_is_created_on_its_first_message_and_passivated_on_request(
    vclock: VirtualClock,
) -> None:
    """Passivation drops the instance (stopped() awaited) and the next message re-creates it."""
    store: dict[str, int] = {}
    lifecycle: list[tuple[str, str]] = []
    async with ActorSystem(clock=vclock) as system:
        pool = system.entities(lambda key: Account(key, store, lifecycle), kind="account")
        ref = pool.ref("alice")
        assert pool.active() == 0
        assert pool.keys() == []
        await ref.tell(5)
        await pool.ref("bob").tell(1)
        await system.quiescent()
        assert pool.active() == 2
        assert sorted(pool.keys()) == ["alice", "bob"]
        await ref.tell("sleep")
        await system.quiescent()
        assert pool.active() == 1
        assert pool.keys() == ["bob"]
        assert lifecycle == [("started", "alice"), ("started", "bob"), ("stopped", "alice")]
        assert await ref.ask(lambda reply: Req("balance", reply)) == 5
        assert lifecycle[-1] == ("started", "alice")
        assert pool.active() == 2
        assert ref.name == "account/alice"
        assert ref == pool.ref("alice")
        assert ref != pool.ref("bob")


async def test_a_message_arriving_during_passivation_starts_a_fresh_instance(
    vclock: VirtualClock,
) -> None:
    """Nothing is lost when a tell races the stopped() of a passivating entity."""
    in_stopped = anyio.Event()
    release = anyio.Event()
    made: list[str] = []
    got: list[Any] = []

    class Slow(Actor[Any]):
        async def stopped(self) -> None:
            in_stopped.set()
            await release.wait()

        async def receive(self, message: Any) -> None:
            got.append(message)
            if message == "sleep":
                self.context.passivate()

    def make(key: str) -> Slow:
        made.append(key)
        return Slow()

    async with ActorSystem(clock=vclock) as system:
        pool = system.entities(make, kind="slow")
        await pool.ref("k").tell("sleep")
        await in_stopped.wait()
        await pool.ref("k").tell("late")
        release.set()
        await system.quiescent()
        assert got == ["sleep", "late"]
        assert made == ["k", "k"]
        assert pool.active() == 1


async def test_a_million_keys_cost_nothing_once_passivated(vclock: VirtualClock) -> None:
    """Passivated entities keep no instance and no cell (a smaller million: 2,000)."""
    store: dict[str, int] = {}
    async with ActorSystem(clock=vclock) as system:
        pool = system.entities(lambda key: Account(key, store, []), kind="account")
        for i in range(2000):
            await pool.ref(str(i)).tell(i)
            await pool.ref(str(i)).tell("sleep")
        await system.quiescent()
        assert pool.active() == 0
        assert pool.keys() == []
        assert sum(store.values()) == sum(range(2000))


async def test_an_entity_crashing_past_its_intensity_is_given_up(vclock: VirtualClock) -> None:
    """Past max_restarts its queued asks fail with ActorCrashed and on_give_up is called."""
    store: dict[str, int] = {}
    lifecycle: list[tuple[str, str]] = []
    gave_up: list[tuple[str, BaseException]] = []
    async with ActorSystem(clock=vclock) as system:
        pool = system.entities(
            lambda key: Account(key, store, lifecycle),
            kind="account",
            max_restarts=1,
            within_s=60,
            on_give_up=lambda key, exc: gave_up.append((key, exc)),
        )
        ref = pool.ref("carol")
        other = pool.ref("dave")
        await other.tell(1)
        with pytest.raises(ActorCrashed):
            await ref.ask(lambda reply: Req("crash", reply))
        assert gave_up == []
        queued: Reply[Any] = Reply()
        await ref.tell(Req("crash", Reply()))
        await ref.tell(Req("balance", queued))
        await system.quiescent()
        with pytest.raises(ActorCrashed) as info:
            await queued
        assert isinstance(info.value.__cause__, Boom)
        assert [key for key, _ in gave_up] == ["carol"]
        assert isinstance(gave_up[0][1], Boom)
        keys = pool.keys()
        assert "carol" not in keys, "a given-up entity is forgotten"
        assert await other.ask(lambda reply: Req("balance", reply)) == 1, "others are untouched"
        assert await ref.ask(lambda reply: Req("balance", reply)) == 0, "the key resolves anew"


async def test_an_entity_given_up_escalates_by_default(vclock: VirtualClock) -> None:
    """Without on_give_up, the system's on_escalation hears of it."""
    escalated: list[BaseException] = []
    async with ActorSystem(clock=vclock) as system:
        system.on_escalation = escalated.append
        pool = system.entities(lambda key: Account(key, {}, []), kind="account", max_restarts=0)
        with pytest.raises(ActorCrashed):
            await pool.ref("x").ask(lambda reply: Req("crash", reply))
        assert [type(e) for e in escalated] == [Boom]


async def test_an_entity_that_stops_itself_drops_its_queue_and_can_be_addressed_again(
    vclock: VirtualClock,
) -> None:
    """context.stop() on an entity passivates it; its key still resolves afterwards."""
    lifecycle: list[tuple[str, str]] = []
    async with ActorSystem(clock=vclock) as system:
        pool = system.entities(lambda key: Account(key, {}, lifecycle), kind="account")
        ref = pool.ref("e")
        await ref.tell("quit")
        await system.quiescent()
        assert pool.keys() == []
        assert lifecycle == [("started", "e"), ("stopped", "e")]
        await ref.tell(3)
        assert await ref.ask(lambda reply: Req("balance", reply)) == 3


async def test_entity_kinds_are_unique(vclock: VirtualClock) -> None:
    """Two pools cannot share a kind (it prefixes their actors' names)."""
    from cadenza.actors import ActorNameTaken

    system = ActorSystem(clock=vclock)
    system.entities(lambda key: Account(key, {}, []), kind="k")
    with pytest.raises(ActorNameTaken):
        system.entities(lambda key: Account(key, {}, []), kind="k")
