"""How a SQLite round writes stream rows: only what changed, yet the same rows as the full
upsert; the heads (and keys) of streams the writer wrote remembered, not read again."""

from __future__ import annotations

import gc
import re
import sqlite3
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cadenza.persistence import Append, DuplicateKey, SqliteJournal, StreamInfo
from cadenza.persistence import _schema as sql
from cadenza.persistence._codec import EncodedAppend, encode_append
from cadenza.persistence._schema import in_thread
from tests.persistence._helpers import append


@asynccontextmanager
async def _traced(j: SqliteJournal, seen: list[str]) -> AsyncIterator[None]:
    """Collect the statements the write connection runs while inside."""
    conn = j._wconn
    assert conn is not None
    await in_thread(conn, lambda db: db.set_trace_callback(seen.append))
    try:
        yield
    finally:
        await in_thread(conn, lambda db: db.set_trace_callback(None))


_HEADS_READ = sql.CHAIN_HEADS.split(" FROM ")[0]


def _stream_writes(seen: list[str]) -> list[str]:
    return [s for s in seen if re.match(r"\s*(INSERT INTO|UPDATE) streams", s)]


def _assigned(statement: str) -> set[str]:
    return set(re.findall(r"(\w+) = ", statement.split("WHERE")[0]))


async def test_an_append_keeping_the_indexed_columns_assigns_none_of_them(
    tmp_path: Path,
) -> None:
    """A running stream's next record (new updated_at and priority, same status) updates only
    columns no index of `streams` holds, so SQLite rewrites none of its indexes (issue 14);
    one changing only updated_at assigns that and the chain head alone."""
    async with SqliteJournal(str(tmp_path / "j.db")) as j:
        await j.append(append("run-1", [{"n": 1}], status="RUNNING"))
        seen: list[str] = []
        async with _traced(j, seen):
            await j.append(append("run-1", [{"n": 2}], status="RUNNING", priority=3))
            await j.append(append("run-1", [{"n": 3}], status="RUNNING", priority=3))
        writes = _stream_writes(seen)
        assert len(writes) == 2
        assert all(w.lstrip().startswith("UPDATE streams SET") for w in writes)
        assert _assigned(writes[0]).isdisjoint(sql.INDEXED_COLUMNS)
        assert {"priority", "updated_at", "last_stream_seq", "last_crc"} <= _assigned(writes[0])
        assert _assigned(writes[1]) == {"updated_at", "last_stream_seq", "last_crc"}
        info = await j.info("run-1")
        assert info is not None
        assert (info.priority, info.updated_at) == (3, 101.0)


async def test_an_append_changing_an_indexed_column_writes_the_whole_row(tmp_path: Path) -> None:
    """A status (or any indexed column) that changes goes through the full upsert."""
    async with SqliteJournal(str(tmp_path / "j.db")) as j:
        await j.append(append("run-1", [{"n": 1}], status="RUNNING"))
        seen: list[str] = []
        async with _traced(j, seen):
            await j.append(append("run-1", [{"n": 2}], status="DONE", terminal=True))
        writes = _stream_writes(seen)
        assert len(writes) == 1
        assert "ON CONFLICT" in writes[0]
        info = await j.info("run-1")
        assert info is not None
        assert (info.status, info.terminal) == ("DONE", True)
        assert await j.unfinished() == []


def test_indexed_columns_name_every_column_an_index_of_streams_reads() -> None:
    """`INDEXED_COLUMNS` covers each column in an index of `streams` or its WHERE (besides the
    key and `created_order`, which an update never assigns): else the narrow update would
    skip an index it must rewrite."""
    db = sqlite3.connect(":memory:")
    try:
        db.executescript(sql.DDL)
        columns = {row[1] for row in db.execute("PRAGMA table_info(streams)")}
        statements: list[Any] = [
            row[0]
            for row in db.execute(
                "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'streams'"
            )
        ]
        read = {"key"}  # the UNIQUE constraint's automatic index has no SQL
        for statement in statements:
            if statement is not None:
                read |= set(re.findall(r"\w+", statement.split(" ON streams ", 1)[1])) & columns
    finally:
        db.close()
    assert read - {"stream_id", "created_order"} == set(sql.INDEXED_COLUMNS)


# One append: (stream, kind, status, terminal, created_at, key?, correlation, priority, parked,
# wake_at, timers?, version, parent, snapshot?)
_appends = st.lists(
    st.tuples(
        st.integers(0, 2),
        st.sampled_from(["order", "refund"]),
        st.sampled_from(["RUNNING", "WAITING"]),
        st.booleans(),
        st.sampled_from([1.0, 2.0]),
        st.sampled_from([None, "a", "b"]),
        st.sampled_from([None, "c"]),
        st.integers(0, 1),
        st.booleans(),
        st.sampled_from([None, 5.0]),
        st.booleans(),
        st.integers(1, 2),
        st.sampled_from([None, "p"]),
        st.booleans(),
    ),
    min_size=1,
    max_size=12,
)


def _append_of(i: int, step: tuple[Any, ...]) -> Append:
    n, kind, status, terminal, created, key, corr, prio, parked, wake, timers, ver, parent, snap = (
        step
    )
    sid = f"run-{n}"
    row = StreamInfo(
        sid,
        kind,
        ver,
        status,
        terminal,
        created,
        float(i),
        key=None if key is None else f"{sid}-{key}",  # each stream its own keys
        correlation_id=corr,
        parent_id=parent,
        priority=prio,
        parked=parked,
        wake_at=wake,
        timers={"retry": i} if timers else None,
    )
    return Append(row, [{"i": i}], {"upto": i} if snap else None)


def _upserted_one_by_one(plan: list[Append]) -> list[tuple[Any, ...]]:
    """The `streams` rows the full upsert leaves, one append after another (the reference)."""
    db = sqlite3.connect(":memory:", isolation_level=None)
    try:
        db.executescript(sql.DDL)
        heads: dict[str, tuple[int, int]] = {}
        for seq, item in enumerate(plan, start=1):
            enc = encode_append(item)
            number, _crc = heads.get(enc.stream_id, (0, 0))
            heads[enc.stream_id] = (number + 1, enc.crc)
            snap = enc.snapshot is not None
            db.execute(
                sql.UPSERT_STREAM,
                (
                    *enc.row,
                    enc.snapshot,
                    enc.snapshot_crc,
                    seq if snap else None,
                    seq,
                    number + 1,
                    enc.crc,
                    number + 1 if snap else None,
                ),
            )
        return db.execute("SELECT * FROM streams ORDER BY stream_id").fetchall()
    finally:
        db.close()


async def _written(path: Path, plan: list[Append], together: bool) -> None:
    async with SqliteJournal(str(path)) as j:
        if together:  # one round: every append submitted before it starts
            async with anyio.create_task_group() as tg:
                for item in plan:
                    tg.start_soon(j.append, item)
            assert j.stats.commits == 1
        else:
            for item in plan:
                await j.append(item)
        for sid in {item.stream_id for item in plan}:
            loaded = await j.load(sid)  # the chain still checks
            assert loaded is not None


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=_appends, together=st.booleans())
def test_stream_rows_are_those_the_full_upsert_leaves(
    tmp_path_factory: pytest.TempPathFactory, steps: list[tuple[Any, ...]], together: bool
) -> None:
    """Whatever columns each append changes, in one round or one round each, the `streams`
    rows are exactly those of the full upsert applied one append after another."""
    plan = [_append_of(i, step) for i, step in enumerate(steps)]
    path = tmp_path_factory.mktemp("rows") / "j.db"
    anyio.run(_written, path, plan, together)
    rows = _stream_rows(path)
    assert rows == _upserted_one_by_one(plan)


def _stream_rows(path: Path) -> list[tuple[Any, ...]]:
    """Every row of the journal's `streams` table, by stream id."""
    db = sqlite3.connect(path)
    try:
        return db.execute("SELECT * FROM streams ORDER BY stream_id").fetchall()
    finally:
        db.close()


async def test_a_round_reads_no_head_of_a_stream_an_earlier_round_wrote(tmp_path: Path) -> None:
    """The writer remembers the heads its rounds committed: only streams it has not written
    since opening are read from the file."""
    async with SqliteJournal(str(tmp_path / "j.db")) as j:
        await j.append(append("run-1", [{"n": 1}]))
        seen: list[str] = []
        async with _traced(j, seen):
            await j.append(append("run-1", [{"n": 2}]))
        assert not [s for s in seen if s.startswith(_HEADS_READ)]
    async with SqliteJournal(str(tmp_path / "j.db")) as j:  # a new writer reads them
        seen = []
        async with _traced(j, seen):
            await j.append(append("run-1", [{"n": 3}]))
        assert [s for s in seen if s.startswith(_HEADS_READ)]
        loaded = await j.load("run-1")
        assert loaded is not None
        assert loaded.events == [{"n": 1}, {"n": 2}, {"n": 3}]


async def test_after_a_failed_round_the_heads_come_from_the_file_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A round whose COMMIT fails leaves no remembered head behind: the appends committed
    alone afterwards chain on from what the file holds, and the stream loads."""
    async with SqliteJournal(str(tmp_path / "j.db")) as j:
        await j.append(append("run-1", [{"n": 1}]))
        rounds = j._rounds
        real_commit = rounds._commit
        failures = [sqlite3.OperationalError("disk I/O error (injected)")]

        class FailingCommit:
            def __init__(self, db: sqlite3.Connection):
                self.db = db

            def __getattr__(self, name: str) -> Any:
                return getattr(self.db, name)

            def execute(self, statement: str, *args: Any) -> Any:
                if statement == "COMMIT" and failures:  # after the round's writes
                    raise failures.pop()
                return self.db.execute(statement, *args)

        def commit_failing(db: sqlite3.Connection, batch: Any) -> Any:
            return real_commit(FailingCommit(db), batch)  # type: ignore[arg-type]

        monkeypatch.setattr(rounds, "_commit", commit_failing)
        async with anyio.create_task_group() as tg:
            tg.start_soon(j.append, append("run-1", [{"n": 2}]))
            tg.start_soon(j.append, append("run-2", [{"n": 1}]))
        await j.append(append("run-1", [{"n": 3}]))
        loaded = await j.load("run-1")
        assert loaded is not None
        assert [e["n"] for e in loaded.events] == [1, 2, 3]


@pytest.mark.parametrize("together", [False, True])
async def test_a_text_column_given_equal_numbers_of_two_types_is_stored_as_the_upsert_would(
    tmp_path: Path, together: bool
) -> None:
    """1 and 1.0 are equal in Python but not as TEXT ('1', '1.0'): neither a remembered head
    nor the round's own earlier append lets the narrow update keep the first where the full
    upsert would store the second."""
    plan = [
        Append(StreamInfo("run-1", 1, 1, "RUNNING", False, 1.0, 1.0), [{"n": 1}]),  # type: ignore[arg-type]
        Append(StreamInfo("run-1", 1.0, 1, "RUNNING", False, 1.0, 2.0), [{"n": 2}]),  # type: ignore[arg-type]
    ]
    path = tmp_path / "j.db"
    await _written(path, plan, together)
    rows = _stream_rows(path)
    assert rows == _upserted_one_by_one(plan)
    assert rows[0][1] == "1.0"


async def test_keys_of_streams_the_writer_wrote_are_checked_without_reading_the_file(
    tmp_path: Path,
) -> None:
    """In one round a remembered stream releases its key, a new one takes it and a third is
    refused it naming the new holder; the remembered keys are not read from the file."""
    async with SqliteJournal(str(tmp_path / "j.db")) as j:
        await j.append(append("a", key="K"))
        seen: list[str] = []
        outcomes: dict[str, object] = {}

        async def attempt(sid: str, key: str | None) -> None:
            try:
                outcomes[sid] = await j.append(append(sid, [{"sid": sid}], key=key))
            except DuplicateKey as exc:
                outcomes[sid] = exc

        async with _traced(j, seen):
            await j.append(append("a", [{"again": 1}], key="K"))
            assert not [s for s in seen if "WHERE key IN" in s]
            before = j.stats.commits
            async with anyio.create_task_group() as tg:
                tg.start_soon(attempt, "a", None)
                tg.start_soon(attempt, "b", "K")
                tg.start_soon(attempt, "c", "K")
        assert j.stats.commits - before == 1
        refused = outcomes["c"]
        assert isinstance(refused, DuplicateKey)
        assert refused.holder == "b"
        assert isinstance(outcomes["b"], int)
        assert await j.find_key("K") == "b"
        assert await j.load("c") is None


async def test_an_unchained_stream_stays_unchained_through_the_narrow_updates(
    tmp_path: Path,
) -> None:
    """A stream of a schema-1 file (no chain in its row) continued with a snapshot and then a
    plain record, both written narrowly, keeps no chain and loads from the snapshot."""
    path = tmp_path / "j.db"
    async with SqliteJournal(str(path)) as j:
        await j.append(append("old", [{"n": 1}]))
    db = sqlite3.connect(path)
    try:
        with db:
            db.execute("UPDATE streams SET last_stream_seq = NULL, last_crc = NULL")
            db.execute("UPDATE records SET stream_seq = NULL, prev_crc = NULL")
    finally:
        db.close()
    async with SqliteJournal(str(path)) as j:
        seen: list[str] = []
        async with _traced(j, seen):
            await j.append(append("old", [{"n": 2}], snapshot={"upto": 2}))
            await j.append(append("old", [{"n": 3}]))
        assert all(w.lstrip().startswith("UPDATE") for w in _stream_writes(seen))
        loaded = await j.load("old")
        assert loaded is not None
        assert (loaded.snapshot, loaded.events) == ({"upto": 2}, [{"n": 3}])
    db = sqlite3.connect(path)
    try:
        row = db.execute(
            "SELECT snapshot_seq, last_stream_seq, last_crc, snapshot_stream_seq FROM streams"
        ).fetchone()
        chain = db.execute("SELECT stream_seq, prev_crc FROM records ORDER BY seq").fetchall()
    finally:
        db.close()
    assert row == (2, None, None, None)
    assert chain == [(None, None)] * 3


class _Held:
    """A value whose lifetime a test follows (weakly)."""


async def test_in_thread_keeps_neither_the_work_nor_its_result(tmp_path: Path) -> None:
    """aiosqlite's thread keeps the function it last ran and that function's result until its
    next operation: before, that held a whole commit round's encoded records while idle."""
    async with SqliteJournal(str(tmp_path / "j.db")) as j:
        conn = j._wconn
        assert conn is not None
        captured = [_Held()]
        result = await in_thread(conn, lambda db: (captured[0], _Held()))
        kept = weakref.ref(captured[0]), weakref.ref(result[1])
        captured.clear()
        del result
        gc.collect()
        assert [ref() for ref in kept] == [None, None]


async def test_an_idle_journal_holds_no_record_it_committed(tmp_path: Path) -> None:
    async with SqliteJournal(str(tmp_path / "j.db")) as j:
        await j.append_many([append(f"run-{n}", [{"n": n}]) for n in range(50)])
        gc.collect()
        assert [o for o in gc.get_objects() if isinstance(o, EncodedAppend)] == []
