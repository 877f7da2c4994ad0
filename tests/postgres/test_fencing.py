"""Partition leases and the epoch fence of a shared PostgreSQL journal (issue 17, item 2).

Two journals with different owners stand for two processes sharing one
database. "A paused past its lease" is modelled on the database's clock by
moving the lease's expiry into the past, never by sleeping.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import asyncpg
import pytest

from cadenza.persistence import JournalWriteError, OwnershipLost, PostgresJournal
from cadenza.persistence._postgres_schema import LEASE_LOCK, PARTITIONS, partition_of
from tests.persistence._helpers import append

LEASE_S = 60.0


def stream_in(partition: int, start: int = 0) -> str:
    """A stream id that hashes to `partition`."""
    return next(sid for i in itertools.count(start) if partition_of(sid := f"run-{i}") == partition)


async def _sql(url: str, statement: str, *args: Any) -> list[Any]:
    conn = await asyncpg.connect(url)
    try:
        return list(await conn.fetch(statement, *args))
    finally:
        await conn.close()


async def expire(url: str, partition: int) -> None:
    """The lease's owner paused past it: its expiry is behind the database's clock."""
    await _sql(
        url,
        "UPDATE cadenza.leases SET expires_at = now() - interval '1 second' WHERE partition = $1",
        partition,
    )


async def written_by(url: str, stream_id: str) -> list[tuple[str, int]]:
    rows = await _sql(
        url, "SELECT owner, epoch FROM cadenza.records WHERE stream_id = $1 ORDER BY seq", stream_id
    )
    return [(row[0], row[1]) for row in rows]


@asynccontextmanager
async def owners(url: str, *names: str) -> AsyncIterator[list[PostgresJournal]]:
    journals = [PostgresJournal(url, owner=name) for name in names]
    for j in journals:
        await j.open()
    try:
        yield journals
    finally:
        for j in journals:
            await j.close()


def test_partitions_are_stable_and_spread_evenly() -> None:
    """The same id always lands in the same partition; many ids fill all partitions evenly."""
    counts = Counter(partition_of(f"wf-{i}") for i in range(PARTITIONS * 100))
    assert set(counts) == set(range(PARTITIONS))
    assert min(counts.values()) > 50
    assert max(counts.values()) < 150
    assert partition_of("wf-7") == partition_of("wf-7")


async def test_an_owner_writes_only_the_partitions_it_holds(pg_url: str) -> None:
    """Held partition: written, the record carrying owner and epoch; any other: refused at
    once with OwnershipLost (not transient), nothing written."""
    async with owners(pg_url, "A") as (a,):
        assert await a.acquire(LEASE_S, [3]) == {3: 1}
        mine, other = stream_in(3), stream_in(4)
        await a.append(append(mine, [{"i": 1}]))
        with pytest.raises(OwnershipLost) as caught:
            await a.append(append(other, [{"i": 1}]))
        assert (caught.value.partition, caught.value.epoch) == (4, None)
        assert not caught.value.transient
        assert await a.load(other) is None
        assert await written_by(pg_url, mine) == [("A", 1)]


async def test_a_live_lease_is_kept_and_an_expired_one_is_taken_at_a_new_epoch(
    pg_url: str,
) -> None:
    async with owners(pg_url, "A", "B") as (a, b):
        assert await a.acquire(LEASE_S) == dict.fromkeys(range(PARTITIONS), 1)
        assert await b.acquire(LEASE_S) == {}
        await expire(pg_url, 5)
        assert await b.acquire(LEASE_S) == {5: 2}
        assert b.leases is not None
        assert b.leases.held == {5: 2}


async def test_a_stale_owners_late_write_is_refused_in_its_own_transaction(pg_url: str) -> None:
    """A paused past its lease and B took the partition over: A's next write there (A still
    believes it holds it) is refused by the epoch check, alone in its round; A hears of the
    loss once; B writes at the new epoch."""
    lost: list[int] = []
    async with owners(pg_url, "A", "B") as (a, b):
        assert a.leases is not None
        a.leases.on_lost = lost.append
        await a.acquire(LEASE_S, [1, 2])
        taken, kept = stream_in(1), stream_in(2)
        await a.append(append(taken, [{"by": "A"}]))
        await expire(pg_url, 1)
        assert await b.acquire(LEASE_S, [1]) == {1: 2}
        outcomes: dict[str, object] = {}

        async def attempt(sid: str) -> None:
            try:
                outcomes[sid] = await a.append(append(sid, [{"by": "A", "late": True}]))
            except OwnershipLost as exc:
                outcomes[sid] = exc

        commits = a.stats.commits
        async with anyio.create_task_group() as tg:
            tg.start_soon(attempt, taken)
            tg.start_soon(attempt, kept)
        assert a.stats.commits == commits + 1  # one round: the refusal failed only its append
        assert isinstance(outcomes[taken], OwnershipLost)
        assert isinstance(outcomes[kept], int)
        assert lost == [1]
        assert a.leases.held == {2: 1}
        await b.append(append(taken, [{"by": "B"}]))
        assert await written_by(pg_url, taken) == [("A", 1), ("B", 2)]
        loaded = await b.load(taken)
        assert loaded is not None
        assert loaded.events == [{"by": "A"}, {"by": "B"}]


async def test_renew_extends_what_is_ours_and_reports_what_was_taken(pg_url: str) -> None:
    lost: list[int] = []
    async with owners(pg_url, "A", "B") as (a, b):
        assert a.leases is not None
        a.leases.on_lost = lost.append
        await a.acquire(LEASE_S, [7, 8])
        await expire(pg_url, 7)
        await expire(pg_url, 8)
        assert await a.renew(LEASE_S) == set()  # expired, not taken: renewing keeps both
        await expire(pg_url, 8)
        assert await b.acquire(LEASE_S, [7, 8]) == {8: 2}  # 7 was renewed, 8 was not
        assert await a.renew(LEASE_S) == {8}
        assert a.leases.held == {7: 1}
        assert lost == [8]
        with pytest.raises(OwnershipLost):
            await a.append(append(stream_in(8), [{"i": 1}]))


async def test_release_and_close_hand_partitions_over_at_once(pg_url: str) -> None:
    """A graceful leave: released partitions are taken at once (no expiry to wait for)."""
    async with owners(pg_url, "A", "B") as (a, b):
        await a.acquire(LEASE_S, [10, 11, 12])
        await a.append(append(stream_in(10), [{"i": 1}]))
        assert await a.release([10]) == [10]
        assert await b.acquire(LEASE_S, [10, 11]) == {10: 2}
        with pytest.raises(OwnershipLost):
            await a.append(append(stream_in(10), [{"i": 2}]))
        await a.close()  # releases 11 and 12
        assert await b.acquire(LEASE_S, [11, 12]) == {11: 2, 12: 2}


async def test_recovery_lists_only_the_held_partitions_runs(pg_url: str) -> None:
    async with owners(pg_url, "A", "B") as (a, b):
        await a.acquire(LEASE_S, [20, 21])
        first, second = stream_in(20), stream_in(21)
        await a.append(append(first, created_at=1.0))
        await a.append(append(second, created_at=2.0))
        assert await a.unfinished() == [first, second]
        await a.release([21])
        assert await a.unfinished() == [first]
        assert [row.stream_id for row in await a.unfinished_rows()] == [first]
        assert await b.unfinished() == []
        await b.acquire(LEASE_S, [21])
        assert await b.unfinished() == [second]


async def _until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    for _ in range(500):
        if await check():
            return
        await anyio.sleep(0.01)
    raise AssertionError(f"never happened: {what}")


async def test_a_takeover_never_interleaves_with_a_round_in_flight(pg_url: str) -> None:
    """While A's round holds its fence (the lease row share-locked), B cannot take the
    partition even though the lease ran out; once the round commits, B takes it and A's
    next write is refused: each write is under exactly one owner's epoch."""
    async with owners(pg_url, "A", "B") as (a, b):
        await a.acquire(LEASE_S, [30])
        sid = stream_in(30)
        await a.append(append(sid, [{"n": 1}]))
        await expire(pg_url, 30)
        assert a._writer is not None
        writer = (await a._writer.connection()).get_server_pid()
        blocker = await asyncpg.connect(pg_url)
        seqs: list[int] = []
        try:
            await blocker.execute("BEGIN")
            await blocker.execute("SELECT value FROM cadenza.counters FOR UPDATE")
            async with anyio.create_task_group() as tg:

                async def late_round() -> None:
                    seqs.append(await a.append(append(sid, [{"n": 2}])))

                tg.start_soon(late_round)

                async def a_waits() -> bool:
                    return bool(
                        await blocker.fetchval(
                            "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1",
                            writer,
                        )
                    )

                try:
                    await _until(a_waits, "A's round waits inside its transaction")
                    assert await b.acquire(LEASE_S, [30]) == {}  # the fence holds the row
                    assert not seqs
                except BaseException:
                    blocker.terminate()  # a failure here must not leave A's round waiting
                    raise
                await blocker.execute("COMMIT")  # lets A's round through
        finally:
            await blocker.close()
        assert seqs == [2]
        assert await b.acquire(LEASE_S, [30]) == {30: 2}
        with pytest.raises(OwnershipLost):
            await a.append(append(sid, [{"n": 3}]))
        assert await written_by(pg_url, sid) == [("A", 1), ("A", 1)]


def test_an_owner_and_exclusive_do_not_mix() -> None:
    with pytest.raises(ValueError, match="exclusive must be False"):
        PostgresJournal("postgresql://u@h/db", owner="A", exclusive=True)
    with pytest.raises(ValueError, match="owner must be a non-empty string"):
        PostgresJournal("postgresql://u@h/db", owner="")


async def test_an_owner_stalled_inside_a_round_is_cut_off_by_the_server(pg_url: str) -> None:
    """A round left open (its process paused mid-round) holds the fence only `stalled_s`:
    the server then ends A's write session, B takes the partition over, and A's next write
    (on a new connection) is refused."""
    a = PostgresJournal(pg_url, owner="A", stalled_s=0.5)
    async with a, PostgresJournal(pg_url, owner="B") as b:
        await a.acquire(LEASE_S, [40])
        assert a._writer is not None
        conn = await a._writer.connection()
        assert await conn.fetchval("SHOW idle_in_transaction_session_timeout") == "500ms"
        await conn.execute("BEGIN")  # a round that stops right after taking its fence
        # Held for sure while B tries (a slow, loaded machine must not let the server end
        # the session first): the cut-off is set back to the journal's own just after.
        await conn.execute("SET LOCAL idle_in_transaction_session_timeout = '1h'")
        await conn.fetchval(f"SELECT pg_advisory_xact_lock_shared({LEASE_LOCK}, 40)")
        await expire(pg_url, 40)
        assert await b.acquire(LEASE_S, [40]) == {}
        await conn.execute("SET LOCAL idle_in_transaction_session_timeout = '500ms'")

        async def taken_over() -> bool:
            return bool(await b.acquire(LEASE_S, [40]))

        await _until(taken_over, "the server ended A's stalled session")
        late = append(stream_in(40), [{"late": True}])
        with pytest.raises(OwnershipLost):
            await _append_past_a_dead_session(a, late)


async def _append_past_a_dead_session(j: PostgresJournal, item: Any) -> int:
    """Append; if the first try went down with a session the server ended, once more."""
    try:
        return await j.append(item)
    except OwnershipLost:
        raise
    except JournalWriteError as exc:
        if not exc.transient:
            raise
        return await j.append(item)  # on a new connection
