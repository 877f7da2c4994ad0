"""What only the PostgreSQL journal has to show: reopening, damage, a broken connection,
group commit, several writers, a schema it cannot read (the shared promises are in
tests/persistence/test_contract.py, run against every journal)."""

from __future__ import annotations

import asyncio
import os
import random
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import asyncpg
import pytest

from cadenza._errors import JournalBusy, JournalCorrupted
from cadenza.persistence import (
    DuplicateKey,
    JournalClosed,
    JournalFaults,
    JournalWriteError,
    PostgresJournal,
)
from tests.persistence._helpers import append


async def _sql(url: str, statement: str, *args: Any) -> list[Any]:
    conn = await asyncpg.connect(url)
    try:
        return list(await conn.fetch(statement, *args))
    finally:
        await conn.close()


async def test_appends_survive_close_and_reopen(pg_url: str) -> None:
    """Everything appended is there for the next journal on the database; seq continues."""
    async with PostgresJournal(pg_url) as j:
        await j.append(append("a", [{"i": 1}], key="K"))
        await j.append(append("a", [{"i": 2}], snapshot={"n": 2}, key="K"))
        await j.append(append("a", [{"i": 3}], status="DONE", terminal=True, key="K"))
        await j.append(append("b", [{"i": 1}]))
        await j.put_definition("flow", 1, {"tasks": []})
    async with PostgresJournal(pg_url, durability="normal") as j:
        loaded = await j.load("a")
        assert loaded is not None
        assert loaded.snapshot == {"n": 2}
        assert loaded.events == [{"i": 3}]
        assert loaded.info.terminal
        assert await j.unfinished() == ["b"]
        assert await j.find_key("K") == "a"
        assert await j.append(append("c")) == 5
        assert (await j.put_definition("flow", 2, {"tasks": [1]})).version == 2
        assert [d.version for d in await j.definitions()] == [1, 2]


async def test_durability_sets_the_commit_wait(pg_url: str) -> None:
    """ "full" waits for the server's WAL flush at each commit; "normal" does not."""
    for durability, expected in (("full", "on"), ("normal", "off")):
        async with PostgresJournal(pg_url, durability=durability) as j:
            conn = await j._writer.connection()  # type: ignore[union-attr]
            assert await conn.fetchval("SHOW synchronous_commit") == expected
    with pytest.raises(ValueError, match="durability"):
        PostgresJournal(pg_url, durability="sometimes")


async def test_concurrent_appends_share_commits(pg_url: str) -> None:
    """64 appenders at once are gathered into far fewer transactions, every seq once."""
    async with PostgresJournal(pg_url) as j:
        seqs: list[int] = []

        async def appender(i: int) -> None:
            for n in range(5):
                seqs.append(await j.append(append(f"run-{i}", [{"n": n}])))

        async with anyio.create_task_group() as tg:
            for i in range(64):
                tg.start_soon(appender, i)
        assert sorted(seqs) == list(range(1, 321))
        assert j.stats.largest_batch > 1
        assert j.stats.commits < 320
        loaded = await j.load("run-7")
        assert loaded is not None
        assert loaded.events == [{"n": n} for n in range(5)]


async def test_a_damaged_record_is_named_and_never_returned(pg_url: str) -> None:
    """A flipped byte fails the checksum: load names stream and seq; others still load."""
    async with PostgresJournal(pg_url) as j:
        await j.append(append("good", [{"i": 1}]))
        damaged = await j.append(append("bad", [{"text": "hello world"}]))
        await j.append(append("good", [{"i": 2}]))
    await _sql(
        pg_url,
        "UPDATE cadenza.records SET payload = overlay(payload placing 'J'::bytea from 5) "
        "WHERE seq = $1",
        damaged,
    )
    async with PostgresJournal(pg_url) as j:
        with pytest.raises(JournalCorrupted) as caught:
            await j.load("bad")
        assert (caught.value.stream_id, caught.value.record) == ("bad", damaged)
        assert "nothing of the stream was applied" in str(caught.value)
        both = await j.load_many(["good", "bad"])
        assert isinstance(both["bad"], JournalCorrupted)
        good = both["good"]
        assert not isinstance(good, JournalCorrupted)
        assert good is not None
        assert good.events == [{"i": 1}, {"i": 2}]


async def _until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Wait (a bounded number of short looks) until the server shows `check`."""
    for _ in range(500):
        if await check():
            return
        await anyio.sleep(0.01)
    raise AssertionError(f"never happened: {what}")


async def test_a_connection_broken_mid_round_fails_that_round_and_the_next_one_reconnects(
    pg_url: str,
) -> None:
    """The server drops the writer while a round waits inside its transaction: that append
    fails with JournalWriteError and nothing of it is written; the next append succeeds on a
    new connection with the next seq (the failed round's seq was given back)."""
    async with PostgresJournal(pg_url) as j:
        assert await j.append(append("a", [{"i": 1}])) == 1
        writer = (await j._writer.connection()).get_server_pid()  # type: ignore[union-attr]
        blocker = await asyncpg.connect(pg_url)
        outcome: dict[str, object] = {}

        async def doomed() -> None:
            try:
                outcome["seq"] = await j.append(append("a", [{"i": 2}]))
            except JournalWriteError as exc:
                outcome["error"] = exc

        try:
            async with blocker.transaction():
                await blocker.execute("SELECT value FROM cadenza.counters FOR UPDATE")
                async with anyio.create_task_group() as tg:
                    tg.start_soon(doomed)

                    async def writer_waits() -> bool:
                        waiting = await blocker.fetchval(
                            "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1",
                            writer,
                        )
                        return bool(waiting)

                    await _until(writer_waits, "the writer waits on the counter row")
                    await blocker.execute("SELECT pg_terminate_backend($1)", writer)
        finally:
            await blocker.close()
        error = outcome.get("error")
        assert isinstance(error, JournalWriteError), outcome
        assert error.stream_id == "a"
        assert await j.append(append("a", [{"i": 3}])) == 2
        loaded = await j.load("a")
        assert loaded is not None
        assert loaded.events == [{"i": 1}, {"i": 3}]


async def test_two_journals_on_one_database_share_one_gapless_seq(pg_url: str) -> None:
    """Two writers that share the database (not exclusive, as processes sharing runs will
    be) get distinct seqs, gapless, in commit order."""
    async with (
        PostgresJournal(pg_url, exclusive=False) as one,
        PostgresJournal(pg_url, exclusive=False) as two,
    ):
        seqs: list[int] = []

        async def appender(j: PostgresJournal, name: str) -> None:
            for n in range(20):
                seqs.append(await j.append(append(name, [{"n": n}])))

        async with anyio.create_task_group() as tg:
            for i in range(4):
                tg.start_soon(appender, one, f"one-{i}")
                tg.start_soon(appender, two, f"two-{i}")
        assert sorted(seqs) == list(range(1, 161))
        loaded = await two.load("one-3")
        assert loaded is not None
        assert loaded.events == [{"n": n} for n in range(20)]


async def test_a_key_taken_by_another_writer_after_the_check_refuses_only_that_append(
    pg_url: str,
) -> None:
    """Two writers check one key while both read it free, and one commits it: the other's
    round meets the unique index. Only its keyed append is refused, with `DuplicateKey`
    naming the holder; the rest of its round commits, and nothing is retried by its
    appenders. Before, the whole round failed with a `JournalWriteError`.

    Which writer wins is PostgreSQL's: once the blocker commits, the two waiters race for
    the counter row, whatever order they queued in (the test assumed the first to queue
    won, and failed about one run in five). So each round holds a keyed append and an
    unkeyed one, and the test checks the loser's round, whichever it is."""
    async with (
        PostgresJournal(pg_url, exclusive=False) as one,
        PostgresJournal(pg_url, exclusive=False) as two,
    ):
        blocker = await asyncpg.connect(pg_url)
        try:
            gate = blocker.transaction()
            await gate.start()
            await blocker.execute("UPDATE cadenza.counters SET value = value WHERE name = 'seq'")
            rounds = {
                "a": asyncio.ensure_future(one.append(append("a", key="K"))),
                "c": asyncio.ensure_future(one.append(append("c"))),  # in a's round
            }
            await _until_waiting_on_locks(blocker, 1)  # one checked K free, waits for seqs
            rounds["b"] = asyncio.ensure_future(two.append(append("b", key="K")))
            rounds["d"] = asyncio.ensure_future(two.append(append("d")))  # in b's round
            await _until_waiting_on_locks(blocker, 2)  # so did two
            await gate.commit()
        finally:
            await blocker.close()
        outcomes = dict(
            zip(rounds, await asyncio.gather(*rounds.values(), return_exceptions=True), strict=True)
        )
        refused = [name for name in ("a", "b") if isinstance(outcomes[name], DuplicateKey)]
        assert len(refused) == 1, outcomes
        loser = refused[0]
        winner = "b" if loser == "a" else "a"
        assert outcomes[loser].holder == winner  # type: ignore[union-attr]
        assert not any(isinstance(outcomes[name], Exception) for name in ("c", "d", winner))
        losing = one if loser == "a" else two
        assert losing.stats.records == 1  # its round's other append, not retried
        assert await two.find_key("K") == winner
        assert await two.load(loser) is None


async def _until_waiting_on_locks(conn: Any, count: int) -> None:
    query = (
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE wait_event_type = 'Lock' AND datname = current_database()"
    )
    with anyio.fail_after(30):
        while await conn.fetchval(query) < count:  # noqa: ASYNC110 (another session's state)
            await anyio.sleep(0.01)


async def test_a_schema_from_a_newer_cadenza_is_refused_untouched(pg_url: str) -> None:
    """A journal schema of another version raises JournalCorrupted; nothing is created."""
    await _sql(pg_url, "CREATE SCHEMA cadenza")
    await _sql(pg_url, "CREATE TABLE cadenza.meta (key text PRIMARY KEY, value text NOT NULL)")
    await _sql(pg_url, "INSERT INTO cadenza.meta VALUES ('schema_version', '99')")
    with pytest.raises(JournalCorrupted, match="schema version '99'"):
        await PostgresJournal(pg_url).open()
    tables = await _sql(
        pg_url, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'cadenza'"
    )
    assert [t[0] for t in tables] == ["meta"]


def test_only_postgresql_urls_are_accepted() -> None:
    """A path that is not a postgresql:// URL is refused at construction, password hidden."""
    with pytest.raises(ValueError, match="expected a postgresql:// URL") as caught:
        PostgresJournal("mysql://u:pw@h/db")
    assert "pw" not in str(caught.value)
    assert "pw" not in repr(PostgresJournal("postgresql://u:pw@h/db"))


async def test_a_second_owner_is_refused_and_named_until_the_first_closes(pg_url: str) -> None:
    """An exclusive journal owns the database: another one gets JournalBusy naming the
    owner's pid and host, writes nothing, and opens once the owner has closed."""
    async with PostgresJournal(pg_url) as owner:
        await owner.append(append("a", [{"i": 1}]))
        second = PostgresJournal(pg_url)
        with pytest.raises(JournalBusy) as caught:
            await second.open()
        assert caught.value.pid == os.getpid()
        assert caught.value.host == socket.gethostname()
        assert f"process {os.getpid()}" in str(caught.value)
        assert "PostgreSQL" in str(caught.value)
        with pytest.raises(JournalClosed):
            await second.append(append("b"))
        assert await owner.append(append("a", [{"i": 2}])) == 2
    async with PostgresJournal(pg_url) as next_owner:
        loaded = await next_owner.load("a")
        assert loaded is not None
        assert loaded.events == [{"i": 1}, {"i": 2}]
        assert await next_owner.load("b") is None


async def test_an_injected_commit_failure_writes_nothing_of_its_round(pg_url: str) -> None:
    """The fault plan's failing commit (as the simulation injects it) is a transient
    JournalWriteError on PostgreSQL too; the next append takes the same seq."""
    journal = PostgresJournal(pg_url)
    journal.faults = JournalFaults(random.Random(0), fail_p=0.999, fail_burst_max=1)
    async with journal:
        with pytest.raises(JournalWriteError) as failed:
            await journal.append(append("a", [{"n": 1}]))
        assert failed.value.transient
        assert await journal.load("a") is None
        assert await journal.append(append("a", [{"n": 2}])) == 1
        loaded = await journal.load("a")
        assert loaded is not None
        assert loaded.events == [{"n": 2}]


async def test_a_writer_left_in_an_unusable_state_is_replaced(pg_url: str) -> None:
    """A round that fails on its connection (here: left inside a transaction the driver will
    not nest) drops that connection; the next append reconnects and succeeds."""
    async with PostgresJournal(pg_url) as j:
        conn = await j._writer.connection()  # type: ignore[union-attr]
        await conn.execute("BEGIN")
        with pytest.raises(JournalWriteError):
            await j.append(append("a", [{"i": 1}]))
        assert await j.append(append("a", [{"i": 2}])) == 1
        loaded = await j.load("a")
        assert loaded is not None
        assert loaded.events == [{"i": 2}]
