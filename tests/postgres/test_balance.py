"""Members spread the partitions evenly: joining, leaving gracefully, dying (issue 17, item 2).

Each journal with an owner stands for one process; each `balance` call is one
tick of its heartbeat. A death is modelled on the database's clock (its member
row and leases moved into the past), never by sleeping.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from cadenza.persistence import PostgresJournal
from cadenza.persistence._postgres_members import EXPIRY_SLACK_S, next_tick_in, share_of
from cadenza.persistence._postgres_schema import PARTITIONS

LEASE_S = 30.0


def held(j: PostgresJournal) -> set[int]:
    assert j.leases is not None
    return set(j.leases.held)


def assert_spread(*journals: PostgresJournal) -> None:
    """Disjoint, covering every partition, and within one of each other."""
    sets = [held(j) for j in journals]
    assert sum(len(s) for s in sets) == PARTITIONS
    assert set().union(*sets) == set(range(PARTITIONS))
    sizes = [len(s) for s in sets]
    assert max(sizes) - min(sizes) <= 1, sizes


async def tick(*journals: PostgresJournal) -> None:
    for j in journals:
        await j.balance(LEASE_S)


async def _sql(url: str, statement: str, *args: Any) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(statement, *args)
    finally:
        await conn.close()


def test_shares_split_the_partitions_exactly() -> None:
    for n in range(1, 10):
        members = [f"m{i}" for i in range(n)]
        shares = [share_of(m, members) for m in members]
        assert sum(shares) == PARTITIONS
        assert max(shares) - min(shares) <= 1


async def test_members_joining_get_an_even_share_through_graceful_moves(pg_url: str) -> None:
    a = PostgresJournal(pg_url, owner="A")
    b = PostgresJournal(pg_url, owner="B")
    c = PostgresJournal(pg_url, owner="C")
    async with a, b, c:
        first = await a.balance(LEASE_S)
        assert (first.members, first.share, len(first.acquired)) == (["A"], PARTITIONS, PARTITIONS)
        joined = await b.balance(LEASE_S)  # A's leases are alive: B takes nothing yet
        assert (joined.members, joined.share, joined.acquired) == (["A", "B"], 32, {})
        moved = await a.balance(LEASE_S)  # A sees B and releases its surplus at once
        assert len(moved.released) == 32
        await tick(b)
        assert_spread(a, b)
        await tick(c, a, b, c)
        assert_spread(a, b, c)
        assert sorted(len(held(j)) for j in (a, b, c)) == [21, 21, 22]
        assert b.leases is not None
        assert all(epoch == 2 for epoch in b.leases.held.values())  # each was moved once


async def test_a_leaving_member_hands_over_at_once(pg_url: str) -> None:
    a = PostgresJournal(pg_url, owner="A")
    b = PostgresJournal(pg_url, owner="B")
    async with a:
        await b.open()
        await tick(a, b, a, b)
        assert_spread(a, b)
        await b.close()  # leaves: releases its partitions and deletes its member row
        report = await a.balance(LEASE_S)
        assert report.members == ["A"]
        assert held(a) == set(range(PARTITIONS))


async def test_a_dead_members_partitions_are_taken_over_once_its_lease_runs_out(
    pg_url: str,
) -> None:
    """C stops heartbeating (killed, or paused past its lease): once the database's clock
    passes its lease, the others take its partitions at new epochs, and its late writes
    are refused."""
    a = PostgresJournal(pg_url, owner="A")
    b = PostgresJournal(pg_url, owner="B")
    c = PostgresJournal(pg_url, owner="C")
    async with a, b, c:
        await tick(a, b, c, a, b, c)
        assert_spread(a, b, c)
        orphaned = held(c)
        await tick(a, b)  # C is silent, but its lease is alive: nothing moves
        assert_spread(a, b, c)
        for table in ("members", "leases"):
            await _sql(
                pg_url,
                f"UPDATE cadenza.{table} SET expires_at = now() - interval '1 second' "
                "WHERE owner = 'C'",
            )
        await tick(a, b, a, b)
        assert held(a) | held(b) == set(range(PARTITIONS))
        assert not held(a) & held(b)
        assert abs(len(held(a)) - len(held(b))) <= 1
        lost = await c.renew(LEASE_S)  # C wakes up: everything it held was taken
        assert lost == orphaned
        assert held(c) == set()


async def test_a_tick_comes_just_after_another_members_lease_runs_out(pg_url: str) -> None:
    """A tick reports when the first lease another member holds runs out; the next tick is
    then due just after it, not up to `lease_s / 3` later, so a dead member's partitions
    go within `lease_s` of its death. Alone, or with members renewing, ticks keep their
    `lease_s / 3` pace. (Before, the next tick came only `lease_s / 3` after the last.)"""
    async with PostgresJournal(pg_url, owner="A") as a:
        alone = await a.balance(LEASE_S)
        assert alone.expiry_in_s is None
        assert next_tick_in(LEASE_S, alone) == LEASE_S / 3
        async with PostgresJournal(pg_url, owner="B") as b:
            await tick(a, b, a, b)
            renewing = await a.balance(LEASE_S)
            assert renewing.expiry_in_s is not None
            assert next_tick_in(LEASE_S, renewing) == LEASE_S / 3  # B renews long before
            await _sql(  # B last renewed a while ago: its leases run out in 2 s
                pg_url,
                "UPDATE cadenza.leases SET expires_at = now() + interval '2 seconds' "
                "WHERE owner = 'B'",
            )
            dying = await a.balance(LEASE_S)
            assert dying.expiry_in_s is not None
            assert 1.0 < dying.expiry_in_s <= 2.0
            assert next_tick_in(LEASE_S, dying) == dying.expiry_in_s + EXPIRY_SLACK_S
