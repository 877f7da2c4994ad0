"""What only the SQLite journal promises: group commit, durability, damage detection."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from cadenza._errors import JournalCorrupted
from cadenza.persistence import (
    Journal,
    JournalWriteError,
    SqliteJournal,
    open_journal,
)
from tests._logs import capture_logs
from tests.persistence._helpers import append


def _read_seq(path: Path, seq: int) -> str | None:
    """The stream of record `seq`, read through a brand-new connection."""
    con = sqlite3.connect(path)
    try:
        row = con.execute("SELECT stream_id FROM records WHERE seq = ?", (seq,)).fetchone()
    finally:
        con.close()
    return None if row is None else str(row[0])


async def test_group_commit_gathers_concurrent_appends_and_each_is_durable_on_return(
    tmp_path: Path,
) -> None:
    """200 concurrent appenders share few commits; each resumes only once its record is visible."""
    path = tmp_path / "j.db"
    seen: dict[int, str | None] = {}

    async with SqliteJournal(str(path)) as j:

        async def appender(i: int) -> None:
            seq = await j.append(append(f"run-{i % 7}", [{"i": i}]))
            seen[seq] = _read_seq(path, seq)  # before yielding to anybody else

        async with anyio.create_task_group() as tg:
            for i in range(200):
                tg.start_soon(appender, i)
        assert j.stats.records == 200
        assert j.stats.commits < 200
        assert j.stats.largest_batch > 1
    assert sorted(seen) == list(range(1, 201))
    assert all(sid is not None and sid.startswith("run-") for sid in seen.values())


async def test_batch_max_bounds_a_transaction(tmp_path: Path) -> None:
    """No transaction carries more than batch_max appends."""
    async with SqliteJournal(str(tmp_path / "j.db"), batch_max=8) as j:
        async with anyio.create_task_group() as tg:
            for i in range(50):
                tg.start_soon(j.append, append(f"run-{i}"))
        assert j.stats.records == 50
        assert j.stats.largest_batch == 8


async def test_appends_survive_close_and_reopen(tmp_path: Path) -> None:
    """Everything appended is there after reopening the file; seq continues."""
    path = str(tmp_path / "j.db")
    async with SqliteJournal(path) as j:
        await j.append(append("a", [{"i": 1}], key="K"))
        await j.append(append("a", [{"i": 2}], snapshot={"n": 2}, key="K"))
        await j.append(append("a", [{"i": 3}], status="DONE", terminal=True, key="K"))
        await j.append(append("b", [{"i": 1}]))
        await j.put_definition("flow", 1, {"tasks": []})
    async with SqliteJournal(path, durability="normal") as j:
        loaded = await j.load("a")
        assert loaded is not None
        assert loaded.snapshot == {"n": 2}
        assert loaded.events == [{"i": 3}]
        assert loaded.info.terminal
        assert await j.unfinished() == ["b"]
        assert await j.find_key("K") == "a"
        assert [d.name for d in await j.definitions()] == ["flow"]
        assert await j.append(append("c")) == 5
        assert (await j.put_definition("flow", 2, {"tasks": [1]})).version == 2
        assert [d.version for d in await j.definitions()] == [1, 2]


async def test_close_flushes_appends_still_pending(tmp_path: Path) -> None:
    """Appends accepted before close() are committed by it, not dropped."""
    path = tmp_path / "j.db"
    j = SqliteJournal(str(path))
    await j.open()
    seqs: list[int] = []

    async def appender(i: int) -> None:
        seqs.append(await j.append(append(f"run-{i}")))

    async with anyio.create_task_group() as tg:
        for i in range(20):
            tg.start_soon(appender, i)
        while len(j._committer._pending) < 19:  # the first commits alone; wait for the rest
            await anyio.lowlevel.checkpoint()
        await j.close()
    assert sorted(seqs) == list(range(1, 21))
    assert all(_read_seq(path, seq) is not None for seq in seqs)


def _damage(path: Path, table: str, column: str, where: str, value: object) -> None:
    """Flip one byte of a blob, in place, through a plain sqlite3 connection."""
    con = sqlite3.connect(path)
    try:
        select = f"SELECT {column} FROM {table} WHERE {where} = ?"
        (blob,) = con.execute(select, (value,)).fetchone()
        flipped = bytearray(blob)
        flipped[len(flipped) // 2] ^= 0x20
        update = f"UPDATE {table} SET {column} = ? WHERE {where} = ?"
        con.execute(update, (bytes(flipped), value))
        con.commit()
    finally:
        con.close()


async def test_a_damaged_record_is_named_and_never_returned(tmp_path: Path) -> None:
    """load raises JournalCorrupted naming stream and seq; other streams still load."""
    path = tmp_path / "j.db"
    async with SqliteJournal(str(path)) as j:
        await j.append(append("good", [{"i": 1}]))
        await j.append(append("bad", [{"i": 1}]))
        damaged = await j.append(append("bad", [{"text": "hello world"}]))
        await j.append(append("good", [{"i": 2}]))
    _damage(path, "records", "payload", "seq", damaged)
    async with SqliteJournal(str(path)) as j:
        with capture_logs() as logs, pytest.raises(JournalCorrupted) as caught:
            await j.load("bad")
        assert (caught.value.stream_id, caught.value.record) == ("bad", damaged)
        assert "'bad'" in str(caught.value)
        assert f"record {damaged}" in str(caught.value)
        assert "nothing of the stream was applied" in str(caught.value)
        assert {"event": "journal.corrupted", "stream_id": "bad", "record": damaged}.items() <= (
            logs[-1].items()
        )
        good = await j.load("good")
        assert good is not None
        assert good.events == [{"i": 1}, {"i": 2}]


async def test_a_damaged_snapshot_is_named_and_never_returned(tmp_path: Path) -> None:
    """A snapshot failing its checksum raises JournalCorrupted naming the record it was taken at."""
    path = tmp_path / "j.db"
    async with SqliteJournal(str(path)) as j:
        await j.append(append("run", [{"i": 1}]))
        at = await j.append(append("run", [{"i": 2}], snapshot={"state": "folded"}))
    _damage(path, "streams", "snapshot", "stream_id", "run")
    async with SqliteJournal(str(path)) as j:
        with pytest.raises(JournalCorrupted, match="snapshot of stream 'run'") as caught:
            await j.load("run")
        assert caught.value.record == at


@pytest.mark.parametrize(
    ("setup", "fragment"),
    [
        ("garbage", "not a SQLite database"),
        ("foreign", "not a cadenza journal"),
        ("future", "schema version '3'"),
    ],
)
async def test_a_file_that_is_not_our_journal_is_refused_untouched(
    tmp_path: Path, setup: str, fragment: str
) -> None:
    """Opening random bytes, another app's database or a newer journal raises JournalCorrupted."""
    path = tmp_path / "j.db"
    if setup == "garbage":
        path.write_bytes(bytes(range(256)) * 64)
    else:
        con = sqlite3.connect(path)
        if setup == "foreign":
            con.execute("CREATE TABLE accounts (id INTEGER)")
        else:
            con.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
            con.execute("INSERT INTO meta VALUES ('schema_version', '3')")
        con.commit()
        con.close()
    before = path.read_bytes()
    with pytest.raises(JournalCorrupted, match=fragment) as caught:
        await SqliteJournal(str(path)).open()
    assert "was not modified" in str(caught.value)
    assert path.read_bytes() == before
    assert [p.name async for p in anyio.Path(tmp_path).iterdir()] == ["j.db"]


@pytest.mark.parametrize("failing", ["once", "until-fixed"])
async def test_a_failed_commit_is_split_and_only_what_fails_alone_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    """A failed round is retried append by append (issue 13, item 3): a one-off failure
    loses nothing; a failure that lasts fails each appender alone; nothing of it is kept."""
    async with SqliteJournal(str(tmp_path / "j.db")) as j:
        rounds = j._rounds
        real_commit = rounds._commit
        calls = 0

        class FailingCommit:
            """The connection, but COMMIT fails as a full disk makes it fail."""

            def __init__(self, db: sqlite3.Connection):
                self.db = db

            def __getattr__(self, name: str) -> Any:
                return getattr(self.db, name)

            def execute(self, statement: str, *args: Any) -> Any:
                nonlocal calls
                if statement == "COMMIT":
                    calls += 1
                    if calls == 2 or (failing == "until-fixed" and 2 < calls <= 12):
                        raise sqlite3.OperationalError("disk I/O error (injected)")
                return self.db.execute(statement, *args)

        def commit_failing(db: sqlite3.Connection, batch: Any) -> Any:
            return real_commit(FailingCommit(db), batch)  # type: ignore[arg-type]

        monkeypatch.setattr(rounds, "_commit", commit_failing)
        assert await j.append(append("before", [{"kept": True}])) == 1
        outcomes: dict[int, int | JournalWriteError] = {}

        async def appender(i: int) -> None:
            try:
                outcomes[i] = await j.append(append(f"run-{i}", [{"i": i}]))
            except JournalWriteError as exc:
                outcomes[i] = exc

        with capture_logs() as logs:
            async with anyio.create_task_group() as tg:
                for i in range(10):
                    tg.start_soon(appender, i)
        assert calls == 12  # the round of ten, then each of them alone
        failed = {i: e for i, e in outcomes.items() if isinstance(e, JournalWriteError)}
        assert any(entry["event"] == "journal.round_split" for entry in logs)
        if failing == "once":
            assert failed == {}
            assert sorted(outcomes.values()) == list(range(2, 12))  # type: ignore[type-var]
            assert j.stats.records == 11
            return
        assert len(failed) == 10
        for i, exc in failed.items():
            assert exc.stream_id == f"run-{i}"
            assert exc.batch_size == 1
            assert isinstance(exc.__cause__, sqlite3.OperationalError)
            assert f"'run-{i}'" in str(exc)
            assert await j.load(f"run-{i}") is None
        assert any(entry["event"] == "journal.commit_failed" for entry in logs)
        assert j.stats.records == 1
        assert await j.append(append("after", [{"ok": True}])) == 2  # no seq was used up
        kept = await j.load("before")
        assert kept is not None
        assert kept.events == [{"kept": True}]
        loaded = await j.load("after")
        assert loaded is not None
        assert loaded.events == [{"ok": True}]


@pytest.mark.parametrize(("durability", "level"), [("full", 2), ("normal", 1)])
async def test_wal_and_synchronous_pragmas_are_set(
    tmp_path: Path, durability: str, level: int
) -> None:
    """The file is in WAL mode and the writer commits at the chosen synchronous level."""
    path = tmp_path / "j.db"
    async with SqliteJournal(str(path), durability=durability) as j:
        conn = j._wconn
        assert conn is not None
        assert list(await conn.execute_fetchall("PRAGMA synchronous")) == [(level,)]
        assert list(await conn.execute_fetchall("PRAGMA foreign_keys")) == [(1,)]
        con = sqlite3.connect(path)
        assert con.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        con.close()


def test_an_unknown_durability_is_refused_naming_the_accepted_ones() -> None:
    """durability is 'full' or 'normal'; anything else fails before touching a file."""
    with pytest.raises(ValueError, match="'full', 'normal'"):
        SqliteJournal("x.db", durability="paranoid")
    with pytest.raises(ValueError, match="batch_max"):
        SqliteJournal("x.db", batch_max=0)


async def test_open_journal_gives_a_sqlite_journal(tmp_path: Path) -> None:
    """open_journal(path) is the SQLite journal, ":memory:" included."""
    for path in (str(tmp_path / "j.db"), ":memory:"):
        journal: Journal = open_journal(path, durability="normal")
        assert isinstance(journal, SqliteJournal)
        async with journal:
            assert await journal.append(append("a")) == 1


async def test_a_journal_written_before_the_newer_stream_columns_opens_and_gains_them(
    tmp_path: Path,
) -> None:
    """Files from before `parked`, `wake_at` and `timers` existed are migrated in place on open."""
    import sqlite3

    from cadenza.persistence import Append, SqliteJournal, StreamInfo

    path = str(tmp_path / "old.db")
    info = StreamInfo("s1", "wf", 1, "RUNNING", False, 1.0, 1.0)
    async with SqliteJournal(path) as journal:
        await journal.append(Append(info=info, events=[{"e": "x"}]))
    with sqlite3.connect(path) as db:
        for column in ("timers", "wake_at", "parked"):
            db.execute(f"ALTER TABLE streams DROP COLUMN {column}")
    async with SqliteJournal(path) as journal:
        loaded = await journal.load("s1")
        assert loaded is not None
        assert loaded.events == [{"e": "x"}]
        await journal.append(
            Append(
                info=StreamInfo(
                    "s1",
                    "wf",
                    1,
                    "RUNNING",
                    False,
                    1.0,
                    2.0,
                    parked=True,
                    wake_at=9.0,
                    timers={"w": 1},
                ),
                events=[],
            )
        )
        rows = await journal.unfinished_rows()
        assert (rows[0].parked, rows[0].wake_at, rows[0].timers) == (True, 9.0, {"w": 1})
