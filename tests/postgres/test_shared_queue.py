"""The worker-group queues shared by every process on PostgreSQL (issue 17, item 4).

Several `SharedQueue`s on one database stand for several processes, each
with its own connections; concurrency comes from real concurrent claims on
the server, and lease expiry is set on the database's clock, never slept for.
"""

from __future__ import annotations

import json
import random

import anyio
import asyncpg
import pytest

from cadenza.persistence._postgres_queue import (
    QUEUE_LOCK,
    TRY_LOCK,
    Limits,
    QueuedRow,
    SharedQueue,
    _lock_key,
)

LEASE_S = 30.0


def row(task_id: str, priority: int = 0, task_type: str = "t", group: str = "g") -> QueuedRow:
    return QueuedRow(task_id, group, task_type, priority, f"run-{task_id}", {"id": task_id})


async def expire_leases(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("UPDATE cadenza.queue SET lease_until = now() - interval '1 second'")
    finally:
        await conn.close()


async def schema(url: str) -> None:
    """The journal's schema (the queue table lives in it)."""
    from cadenza.persistence import PostgresJournal

    async with PostgresJournal(url, exclusive=False):
        pass


async def test_claims_come_in_global_priority_then_age_order(pg_url: str) -> None:
    await schema(pg_url)
    async with SharedQueue(pg_url) as a, SharedQueue(pg_url) as b:
        await a.push([row("low-1", 0), row("high-1", 50), row("low-2", 0)])
        await b.push([row("high-2", 50), row("top", 99), row("other", 99, task_type="u")])
        got = [c.task_id for c in await b.claim("g", "t", "w1", LEASE_S, limit=2)]
        got += [c.task_id for c in await a.claim("g", "t", "w2", LEASE_S, limit=10)]
        assert got == ["top", "high-1", "high-2", "low-1", "low-2"]
        assert await a.claim("g", "t", "w3", LEASE_S) == []
        claimed = await a.claim("g", "u", "w3", LEASE_S)
        assert [(c.task_id, c.run_id, c.body) for c in claimed] == [
            ("other", "run-other", {"id": "other"})
        ]


async def test_concurrent_claimers_never_get_the_same_task(pg_url: str) -> None:
    await schema(pg_url)
    queues = [SharedQueue(pg_url) for _ in range(3)]
    for q in queues:
        await q.open()
    try:
        await queues[0].push([row(f"t{i}", i % 5) for i in range(300)])
        got: list[str] = []

        async def claimer(q: SharedQueue, worker: str) -> None:
            while claimed := await q.claim("g", "t", worker, LEASE_S, limit=7):
                got.extend(c.task_id for c in claimed)

        async with anyio.create_task_group() as tg:
            for n in range(9):
                tg.start_soon(claimer, queues[n % 3], f"w{n}")
        assert sorted(got) == sorted(f"t{i}" for i in range(300))  # each exactly once
    finally:
        for q in queues:
            await q.close()


async def test_a_lease_that_ran_out_is_reaped_not_claimed_again_and_its_holder_refused(
    pg_url: str,
) -> None:
    """The same task id handed to a second worker could not tell the late worker's result
    from the new one's: a row whose lease ran out is reaped instead — marked lapsed and its
    run's owner told through the inbox in the same transaction (it queues a new attempt)."""
    await schema(pg_url)
    async with SharedQueue(pg_url) as q:
        await q.push([row("a"), row("b")])
        (first,) = await q.claim("g", "t", "dead-worker", LEASE_S)
        assert first.task_id == "a"
        assert await q.extend("a", "dead-worker", LEASE_S)
        assert await q.touch("a") == "held"
        await expire_leases(pg_url)
        assert [c.task_id for c in await q.claim("g", "t", "w2", LEASE_S, limit=5)] == ["b"]
        assert await q.reap("g", "t") == [("a", "run-a")]
        assert await q.reap("g", "t") == []  # once
        assert await q.claim("g", "t", "w3", LEASE_S) == []  # lapsed: never claimable
        assert not await q.ack("a", "dead-worker")
        assert not await q.extend("a", "dead-worker", LEASE_S)
        assert await q.finish("a") == "stale"
        assert await q.touch("a") == "stale"
        assert await q.finish("b") == "held"  # claimed after the expiry: live
        assert await q.finish("nope") == "absent"
        conn = await asyncpg.connect(pg_url)
        try:
            told = await conn.fetch("SELECT run_id, kind, body FROM cadenza.inbox")
        finally:
            await conn.close()
        assert [(r[0], r[1], json.loads(r[2])) for r in told] == [
            ("run-a", "lapsed", {"task_id": "a"})
        ]
        await q.withdraw(["a", "b"])
        assert await q.waiting("g", "t") == 0


async def test_finish_removes_a_held_row_and_posts_to_the_inbox_in_one_transaction(
    pg_url: str,
) -> None:
    await schema(pg_url)
    async with SharedQueue(pg_url) as q:
        await q.push([row("a"), row("b")])
        await q.claim("g", "t", "w1", LEASE_S, limit=2)
        assert await q.finish("a", ("run-a", "result", {"task_id": "a"})) == "held"
        assert await q.finish("a", ("run-a", "result", {"task_id": "a"})) == "absent"
        assert await q.finish("b") == "held"
        assert await q.in_flight("t") == 0
        conn = await asyncpg.connect(pg_url)
        try:
            assert await conn.fetchval("SELECT count(*) FROM cadenza.inbox") == 1
        finally:
            await conn.close()


async def test_a_global_rate_limit_counts_claims_in_the_window_across_claimers(
    pg_url: str,
) -> None:
    """At most 3 claims in any 60 s across two 'processes', acks or not; claims older than
    the window (moved into the past on the database's clock) no longer count."""
    await schema(pg_url)
    rate = Limits(rate=(3, 60.0))
    async with SharedQueue(pg_url) as a, SharedQueue(pg_url) as b:
        await a.push([row(f"t{i}") for i in range(8)])
        got = await a.claim("g", "t", "w1", LEASE_S, limit=2, limits=rate)
        assert await a.finish(got[0].task_id) == "held"
        got += await b.claim("g", "t", "w2", LEASE_S, limit=5, limits=rate)
        assert len(got) == 3
        assert await b.claim("g", "t", "w3", LEASE_S, limits=rate) == []
        conn = await asyncpg.connect(pg_url)
        try:
            await conn.execute("UPDATE cadenza.queue_claims SET at = at - interval '61 seconds'")
        finally:
            await conn.close()
        assert len(await b.claim("g", "t", "w3", LEASE_S, limit=5, limits=rate)) == 3


async def test_a_global_concurrency_limit_holds_across_concurrent_claimers(pg_url: str) -> None:
    """With concurrency=3, nine claimers on three 'processes' never hold more than three
    tasks at once (SKIP LOCKED would let each spend the budget against its own count)."""
    await schema(pg_url)
    queues = [SharedQueue(pg_url) for _ in range(3)]
    for q in queues:
        await q.open()
    rng = random.Random(7)
    try:
        await queues[0].push([row(f"t{i}") for i in range(60)])
        held: set[str] = set()
        most = 0
        done: list[str] = []

        async def claimer(q: SharedQueue, worker: str) -> None:
            nonlocal most
            while len(done) < 60:
                claimed = await q.claim("g", "t", worker, LEASE_S, limit=2, concurrency=3)
                for c in claimed:
                    held.add(c.task_id)
                most = max(most, len(held))
                for c in claimed:
                    await anyio.sleep(rng.uniform(0, 0.003))
                    held.discard(c.task_id)  # before the ack: the count can only be low
                    assert await q.ack(c.task_id, worker)
                    done.append(c.task_id)
                if not claimed:
                    await anyio.sleep(0.001)

        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:
                for n in range(9):
                    tg.start_soon(claimer, queues[n % 3], f"w{n}")
        assert sorted(done) == sorted(f"t{i}" for i in range(60))
        assert 1 <= most <= 3
    finally:
        for q in queues:
            await q.close()


async def test_a_limited_claim_stops_at_the_limit_and_never_waits_for_another(
    pg_url: str,
) -> None:
    """The limit counts live leases of every process; a claim meeting another limited claim
    in flight (its transaction open) answers empty at once instead of waiting or skipping."""
    await schema(pg_url)
    async with SharedQueue(pg_url) as a, SharedQueue(pg_url) as b:
        await a.push([row(f"t{i}", priority=i) for i in range(6)])
        got = await a.claim("g", "t", "w1", LEASE_S, limit=5, concurrency=3)
        assert [c.task_id for c in got] == ["t5", "t4", "t3"]
        assert await b.claim("g", "t", "w2", LEASE_S, limit=5, concurrency=3) == []
        assert await b.ack("t5", "w1")
        assert [c.task_id for c in await b.claim("g", "t", "w2", LEASE_S, concurrency=3)] == ["t2"]
        await expire_leases(pg_url)  # dead workers' leases no longer count (nor are claimed)
        got = await b.claim("g", "t", "w3", LEASE_S, limit=5, concurrency=3)
        assert [c.task_id for c in got] == ["t1", "t0"]
        await a.push([row(f"t{i}", priority=i) for i in (6, 7)])
        conn = await asyncpg.connect(pg_url)
        try:
            await conn.execute("BEGIN")  # another process in the middle of a limited claim
            assert await conn.fetchval(TRY_LOCK, QUEUE_LOCK, _lock_key("t"))
            await expire_leases(pg_url)
            with anyio.fail_after(2):  # no wait: an empty answer
                assert await a.claim("g", "t", "w4", LEASE_S, concurrency=3) == []
            await conn.execute("ROLLBACK")
        finally:
            await conn.close()
        got = await a.claim("g", "t", "w4", LEASE_S, limit=5, concurrency=3)
        assert [c.task_id for c in got] == ["t7", "t6"]


async def test_bad_arguments_are_refused(pg_url: str) -> None:
    await schema(pg_url)
    async with SharedQueue(pg_url) as q:
        with pytest.raises(ValueError, match="limit"):
            await q.claim("g", "t", "w", LEASE_S, limit=0)
        with pytest.raises(ValueError, match="lease_s"):
            await q.claim("g", "t", "w", 0)
