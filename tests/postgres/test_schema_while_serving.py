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


async def test_a_journal_opens_while_a_commit_round_holds_what_its_ddl_wants(
    pg_url: str,
) -> None:
    first = PostgresJournal(pg_url, owner="serving")
    await first.open()  # the schema exists: a second opener runs the DDL over it
    await first.close()
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
