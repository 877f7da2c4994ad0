"""A process joining a shared PostgreSQL journal while others write to it (issue 17, item 7).

Opening runs the schema DDL (`_postgres_schema.DDL`) in one transaction:
`CREATE INDEX IF NOT EXISTS` locks a table that exists (ShareLock) before it
sees the index is there, and the last statements upsert rows (`counters`'
`seq`) every commit round locks. A serving process in the middle of a
round — holding `seq`, about to write `records` — and a joining one running
the DDL then wait on each other: PostgreSQL breaks the deadlock by failing
one, and it was the joiner's open, so a restarted process died at start
(found by the real-process crash test: `child exited 1 before 'ready'`).
The DDL now waits only a bounded time for a lock and is retried.

The round is played by hand on a connection of its own, so the interleaving
is exact: it holds `seq`, the joiner's DDL is seen waiting for it, then the
round asks for `records`.
"""

from __future__ import annotations

import anyio
import asyncpg

from cadenza.persistence import PostgresJournal
from cadenza.persistence._postgres_schema import DDL_DIGEST


async def _waiting_for_a_lock(url: str, application: str) -> bool:
    conn = await asyncpg.connect(url)
    try:
        found = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND application_name = $1",
            application,
        )
    finally:
        await conn.close()
    return bool(found)


async def _mark_made_by_another_cadenza(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("UPDATE cadenza.meta SET value = 'older' WHERE key = 'schema_ddl'")
    finally:
        await conn.close()


async def test_a_joiner_runs_no_ddl_over_a_schema_its_ddl_made(pg_url: str) -> None:
    """A serving process holds a lock every DDL statement on `streams` waits for: a process
    joining a schema its own DDL made opens at once, as it runs none. Before, each open ran
    the DDL, waited out its lock timeout and retried (30 times, about 55 s, then failed)."""
    first = PostgresJournal(pg_url, owner="serving")
    await first.open()
    await first.close()
    serving = await asyncpg.connect(pg_url)
    joiner = PostgresJournal(pg_url, owner="joining")
    try:
        tx = serving.transaction()
        await tx.start()
        await serving.execute("LOCK TABLE cadenza.streams IN SHARE ROW EXCLUSIVE MODE")
        with anyio.fail_after(10):
            await joiner.open()
        await tx.rollback()
    finally:
        await serving.close()
        await joiner.close()


async def test_a_schema_another_cadenza_made_gets_this_ones_ddl_and_mark(pg_url: str) -> None:
    """A table this cadenza's DDL adds, missing from a schema marked by another (an
    upgrade), is made at open, and the mark becomes this DDL's."""
    first = PostgresJournal(pg_url, owner="older")
    await first.open()
    await first.close()
    conn = await asyncpg.connect(pg_url)
    try:
        await conn.execute("DROP TABLE cadenza.inbox_dead")
        await _mark_made_by_another_cadenza(pg_url)
        async with PostgresJournal(pg_url, owner="newer"):
            assert await conn.fetchval("SELECT to_regclass('cadenza.inbox_dead') IS NOT NULL")
            mark = await conn.fetchval("SELECT value FROM cadenza.meta WHERE key = 'schema_ddl'")
            assert mark == DDL_DIGEST
    finally:
        await conn.close()


async def test_a_journal_opens_while_a_commit_round_holds_what_its_ddl_wants(
    pg_url: str,
) -> None:
    first = PostgresJournal(pg_url, owner="serving")
    await first.open()
    await first.close()
    await _mark_made_by_another_cadenza(pg_url)  # so the joiner runs its DDL over the schema
    round_ = await asyncpg.connect(pg_url)
    joiner = PostgresJournal(pg_url, owner="joining")
    opened: list[BaseException | None] = []

    async def join() -> None:
        try:
            await joiner.open()
            opened.append(None)
        except BaseException as exc:  # the outcome is what the test reads
            opened.append(exc)

    try:
        async with anyio.create_task_group() as tg:
            tx = round_.transaction()
            await tx.start()
            await round_.execute("UPDATE cadenza.counters SET value = value WHERE name = 'seq'")
            tg.start_soon(join)
            with anyio.fail_after(30):  # the joiner's DDL reaches `seq` and waits for it
                while not await _waiting_for_a_lock(pg_url, "cadenza"):  # noqa: ASYNC110
                    await anyio.sleep(0.02)
            try:  # the round goes on to write its records: a deadlock with the DDL
                with anyio.fail_after(30):
                    await round_.execute("LOCK TABLE cadenza.records IN ROW EXCLUSIVE MODE")
                await tx.commit()
            except asyncpg.DeadlockDetectedError:  # (this side was the one failed)
                await tx.rollback()
        assert opened == [None], f"the joiner could not open: {opened!r}"
    finally:
        await round_.close()
        await joiner.close()
