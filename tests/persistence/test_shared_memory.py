"""The simulation's shared in-memory journal keeps the PostgreSQL journal's lease contract."""

from __future__ import annotations

import json

import anyio
import anyio.lowlevel
import pytest

from cadenza import InternalError, InvalidOperation, RuntimeClosed, StaleTask
from cadenza.engine.shared._inbox_outcome import (
    error_of,
    outcome_of_error,
    outcome_of_value,
    refusal_of,
)
from cadenza.persistence import Append, DuplicateKey, JournalWriteError, OwnershipLost, StreamInfo
from cadenza.persistence._postgres_schema import PARTITIONS, partition_of
from cadenza.persistence._shared import OUTCOME_TTL_S
from cadenza.persistence._shared_memory import SharedMemoryJournal, SharedStore, StoreUnreachable


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def stream_in(partition: int) -> str:
    n = 0
    while partition_of(f"s-{n}") != partition:
        n += 1
    return f"s-{n}"


def append(sid: str, n: int = 0, *, epoch: int | None = None) -> Append:
    info = StreamInfo(sid, "flow", 1, "RUNNING", False, 0.0, float(n))
    return Append(info, [{"n": n}], epoch=epoch)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(clock: Clock) -> SharedStore:
    return SharedStore(clock=clock)


async def test_a_takeover_refuses_the_old_owners_late_write(
    store: SharedStore, clock: Clock
) -> None:
    """Once B took A's expired lease (a new epoch), A's append is refused and A loses it."""
    sid = stream_in(5)
    a, b = SharedMemoryJournal(store, "A"), SharedMemoryJournal(store, "B")
    await a.open()
    await b.open()
    assert await a.acquire(2.0, [5]) == {5: 1}
    await a.append(append(sid, 1))
    assert await b.acquire(2.0, [5]) == {}  # alive: not taken
    clock.now += 2.5
    assert await b.acquire(2.0, [5]) == {5: 2}
    with pytest.raises(OwnershipLost):
        await a.append(append(sid, 2))
    assert a.leases
    assert 5 not in a.leases.held
    await b.append(append(sid, 3))
    assert [(w.owner, w.epoch) for w in store.writes] == [("A", 1), ("B", 2)]
    assert store.refused == 1


async def test_state_read_under_a_lost_lease_is_refused_after_taking_it_back(
    store: SharedStore, clock: Clock
) -> None:
    """A write of state read at epoch 1 is refused at epoch 3, though the writer holds it again."""
    sid = stream_in(7)
    a, b = SharedMemoryJournal(store, "A"), SharedMemoryJournal(store, "B")
    await a.open()
    await b.open()
    assert await a.acquire(1.0, [7]) == {7: 1}
    clock.now += 1.5
    assert await b.acquire(1.0, [7]) == {7: 2}
    await b.release([7])
    assert await a.renew(1.0) == {7}  # A learns it lost 7 (its actors of 7 are dropped) ...
    assert await a.acquire(1.0, [7]) == {7: 3}  # ... and takes it back at once
    with pytest.raises(OwnershipLost) as refused:
        await a.append(append(sid, 1, epoch=1))
    assert refused.value.epoch == 1
    assert await a.append(append(sid, 2, epoch=3)) > 0  # read under the epoch it holds
    assert [(w.owner, w.epoch) for w in store.writes] == [("A", 3)]


async def test_balancing_spreads_the_partitions_and_a_dead_members_go_after_the_lease(
    store: SharedStore, clock: Clock
) -> None:
    """Two members split the partitions evenly; a killed one's are taken once its lease ran out."""
    a, b = SharedMemoryJournal(store, "A"), SharedMemoryJournal(store, "B")
    await a.open()
    await b.open()
    await a.balance(3.0)
    await b.balance(3.0)
    await a.balance(3.0)  # A releases B's share
    await b.balance(3.0)
    assert a.leases
    assert b.leases
    assert len(a.leases.held) == len(b.leases.held) == PARTITIONS // 2
    a.kill()
    await a.close()  # no graceful leave: the leases stay until they run out
    clock.now += 1.0
    assert (await b.balance(3.0)).acquired == {}
    clock.now += 2.5
    assert len((await b.balance(3.0)).acquired) == PARTITIONS // 2
    assert len(b.leases.held) == PARTITIONS


async def test_a_journal_cut_off_fails_every_call_and_a_write_transiently(
    store: SharedStore,
) -> None:
    """While unreachable, reads raise `StoreUnreachable` and appends a transient write error."""
    a = SharedMemoryJournal(store, "A")
    await a.open()
    await a.acquire(5.0)
    a.reachable = False
    with pytest.raises(StoreUnreachable):
        await a.info("s-0")
    with pytest.raises(JournalWriteError) as failed:
        await a.append(append("s-0"))
    assert failed.value.transient
    a.reachable = True
    await a.append(append("s-0"))


async def test_the_inbox_hands_each_partitions_messages_in_posting_order(
    store: SharedStore,
) -> None:
    """Posts are taken by partition, oldest first, and gone once done; a post wakes listeners."""
    a, b = SharedMemoryJournal(store, "A"), SharedMemoryJournal(store, "B")
    await a.open()
    await b.open()
    box_a, box_b = a.open_inbox(0.1), b.open_inbox(0.1)
    await box_a.open()
    await box_b.open()
    one, two = stream_in(1), stream_in(2)
    for n, sid in enumerate([one, two, one]):
        await box_a.post(sid, "signal", {"n": n})
    assert box_b.notified == 3
    taken = await box_b.take([1])
    assert [(p.run_id, p.body["n"]) for p in taken] == [(one, 0), (one, 2)]
    await box_b.done([p.id for p in taken])
    assert await box_b.size() == 1
    await box_a.close()
    await box_b.close()


async def test_an_awaited_posts_outcome_is_written_with_its_removal_and_taken_once(
    store: SharedStore, clock: Clock
) -> None:
    """The owner's `done` writes an awaited message's outcome and wakes its poster, who takes
    it (gone after); an outcome nobody takes is dropped `OUTCOME_TTL_S` later."""
    a, b = SharedMemoryJournal(store, "A"), SharedMemoryJournal(store, "B")
    await a.open()
    await b.open()
    box_a, box_b = a.open_inbox(60.0), b.open_inbox(60.0)  # no poll comes: woken by `done`
    await box_a.open()
    await box_b.open()
    sid = stream_in(3)
    awaited = await box_a.post(sid, "operate", {"op": "pause"}, awaited=True)
    forgotten = await box_a.post(sid, "operate", {"op": "resume"}, awaited=True)
    taken = await box_b.take([3])
    assert [p.awaited for p in taken] == [True, True]
    async with anyio.create_task_group() as tg:
        heard: list[dict[str, object]] = []

        async def wait() -> None:
            heard.append(await box_a.outcome(awaited))

        tg.start_soon(wait)
        await anyio.lowlevel.checkpoint()
        await box_b.done([awaited, forgotten], {awaited: {"value": None}, forgotten: {"value": 1}})
    assert heard == [{"value": None}]
    assert set(store.outcomes) == {forgotten}
    clock.now += OUTCOME_TTL_S + 1
    other = await box_a.post(sid, "signal", {}, awaited=True)
    await box_b.done([other], {other: {"value": 2}})
    assert set(store.outcomes) == {other}  # the forgotten one dropped
    await box_a.close()
    await box_b.close()


async def test_a_dead_letter_leaves_the_inbox_for_the_dead_letters_with_its_reason(
    store: SharedStore,
) -> None:
    """`done(dead=...)` moves the message aside in the step that deletes the applied ones;
    a row whose body is not a JSON object is taken with the reason, never raised."""
    a = SharedMemoryJournal(store, "A")
    await a.open()
    box = a.open_inbox(0.1)
    await box.open()
    sid = stream_in(4)
    bad = await box.post(sid, "teleport", {"to": "mars"})
    good = await box.post(sid, "signal", {"n": 1})
    store.inbox.append((99, 4, sid, "signal", "[1, 2", False))  # torn body
    taken = await box.take([4])
    assert [(p.id, p.unreadable is None) for p in taken] == [(bad, True), (good, True), (99, False)]
    assert taken[2].body == {}
    await box.done([bad, good, 99], dead={bad: "unknown kind", 99: "torn"})
    assert await box.size() == 0
    letters = await box.dead_letters()
    assert [(d.posted.id, d.posted.kind, d.reason) for d in letters] == [
        (bad, "teleport", "unknown kind"),
        (99, "signal", "torn"),
    ]
    assert letters[0].posted.body == {"to": "mars"}
    await box.close()


async def test_an_appends_inbox_mark_is_kept_with_its_stream_and_only_grows(
    store: SharedStore,
) -> None:
    """`Append.inbox_seen` is written in the append's own step; `applied_through` answers
    the highest one per stream (a later append without a mark, or with a lower one, keeps
    it), and nothing for a stream that never had one."""
    a = SharedMemoryJournal(store, "A")
    await a.open()
    await a.balance(30.0)
    box = a.open_inbox(0.1)
    await box.open()
    one, two = stream_in(5), stream_in(6)
    for sid, seen in ((one, 7), (one, None), (one, 3), (two, None)):
        info = StreamInfo(sid, "flow", 1, "RUNNING", False, 0.0, 0.0)
        await a.append(Append(info, [{"n": 1}], inbox_seen=seen))
    assert await box.applied_through([one, two, "s-none"]) == {one: 7}
    await box.close()


def test_an_outcome_carries_the_owners_refusal_with_its_class_and_attributes() -> None:
    """`StaleTask`, `InvalidOperation` and `DuplicateKey` come back as themselves; a value
    that is not JSON travels as None; an unknown error class as InternalError."""
    for error in (
        StaleTask("t-1", "it was retried"),
        InvalidOperation("run r is not paused", run_id="r", state="RUNNING"),
        DuplicateKey("k", "r-2"),
    ):
        outcome = json.loads(json.dumps(outcome_of_error(error)))
        back = error_of(outcome)
        assert type(back) is type(error)
        assert str(back) == str(error)
        assert vars(back) == vars(error)
    assert outcome_of_value(object()) == {"value": None}
    assert isinstance(error_of({"error": "Unheard", "message": "m"}), InternalError)
    assert refusal_of(RuntimeClosed()) is None  # the owner closing: no answer, applied again
