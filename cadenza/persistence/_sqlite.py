"""The SQLite journal: one file, WAL mode, group commit, checksummed records.

Record format
-------------
`records(seq, stream_id, payload, crc)`: `seq` is global, assigned by the
single writer (it reads `max(seq)` on open and counts from there);
`payload` is the record's events as a compact JSON array of objects; `crc`
is CRC32 over `stream_id`, a NUL byte and `payload` (see `_codec`). In the
same transaction the stream's row in `streams` is set to the record's
`StreamInfo`, and when the append carries a snapshot, `snapshot` (compact
JSON object), `snapshot_crc` (same CRC) and `snapshot_seq` (the seq of the
record whose events it already includes). `load` returns the snapshot and
the events of every record after `snapshot_seq`, verifying every checksum.
`created_order` is the seq of a stream's first record. Each record is also
chained within its stream — its number (`stream_seq`) and the checksum of
the record before it (`prev_crc`), the row holding the last of both — so
`load` finds a record missing (the latest included), repeated or out of
place, not only a damaged one (`_codec.check_chain`; schema in `_schema`). Definitions live in
`definitions` (by digest) and `definition_versions` ((name, version) →
digest, latest wins).

Fsync points
------------
The database runs in WAL mode. One group-commit round is one transaction:
`BEGIN IMMEDIATE`, the key checks, the stream rows (`_sqlite_rows`) and
record inserts (`executemany`), `COMMIT`. With durability "full" (`synchronous=FULL`)
SQLite fsyncs the WAL inside `COMMIT`, so there is one fsync per round, and
no appender of the round is resumed before it returns. With "normal"
(`synchronous=NORMAL`) `COMMIT` writes the WAL without fsync: a process crash
loses nothing, a power cut may lose the last rounds (never corrupting
older ones). Either way the WAL is fsynced again, and the database file too,
at each checkpoint (automatic, every ~1000 pages). If a commit fails, the
round is rolled back and split: each append is committed again alone, so
only an append that fails by itself gets a `JournalWriteError`, and its
neighbours land (`_sqlite_rounds`).

Reads (`load`, `info`, `streams`, ...) use a second, query-only connection so
they are not queued behind a commit's fsync; `load` reads the stream row and
its records in one read transaction, so they agree. For ":memory:" there is
only one connection, shared under one lock.

The writer is not a task; see `_group` for how waiting appenders take turns.
This journal assumes it is the only writer of its file.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite
import anyio

from cadenza._errors import InternalError, JournalCorrupted
from cadenza._log import get_logger
from cadenza.persistence import _owner as owner
from cadenza.persistence import _schema as sql
from cadenza.persistence import _sqlite_repair as repair
from cadenza.persistence._codec import (
    EncodedAppend,
    canonical,
    check_chain,
    checked_definitions,
    decode_definition,
    decode_events,
    decode_snapshot,
    encode_append,
)
from cadenza.persistence._faults import JournalFaults
from cadenza.persistence._group import Hold, Ticket, stream_committer, submit_prepared
from cadenza.persistence._journal import (
    Append,
    DefinitionRecord,
    Journal,
    JournalClosed,
    JournalStats,
    JournalWriteError,
    JSONObject,
    Loaded,
    StreamInfo,
)
from cadenza.persistence._schema import (
    BUSY_TIMEOUT_MS,
    SYNCHRONOUS,
    corrupted,
    fetchall,
    in_thread,
    info_from_row,
    inspect_only,
    prepare,
    read_stream,
    read_streams,
)
from cadenza.persistence._sqlite_rounds import RoundWriter, rollback

log = get_logger("cadenza.persistence")

T = TypeVar("T")


class SqliteJournal(Journal):
    """The embedded journal: one SQLite file (or ":memory:"); see the module note.

    `durability` is "full" (`synchronous=FULL`, fsync at every commit) or
    "normal" (`synchronous=NORMAL`); `batch_max` bounds the appends of one
    transaction; `clock` stamps definition registrations (epoch seconds).
    """

    def __init__(
        self,
        path: str,
        *,
        durability: str = "full",
        batch_max: int = 4096,
        clock: Callable[[], float] = time.time,
        readonly: bool = False,
    ):
        if durability not in SYNCHRONOUS:
            raise ValueError(
                f"durability must be one of {', '.join(map(repr, SYNCHRONOUS))}, got {durability!r}"
            )
        if batch_max < 1:
            raise ValueError(f"batch_max must be at least 1, got {batch_max}")
        self.path = path
        self.durability = durability
        self.batch_max = batch_max
        self.stats = JournalStats()
        self.faults: JournalFaults | None = None  # off: see `_faults`
        self._clock = clock
        self.readonly = readonly  # inspection: no owner's lock, no writes
        self._single = path in (":memory:", "")  # a private DB: one connection
        self._owner_fd: int | None = None  # the owner's lock (see `_owner`)
        self._state = "new"  # new → open → closing → closed (→ open again)
        self._wconn: aiosqlite.Connection | None = None
        self._rconn: aiosqlite.Connection | None = None
        self._write_lock: anyio.Lock | None = None
        self._read_lock: anyio.Lock | None = None
        self._closed: anyio.Event | None = None
        self._committer = stream_committer(self._commit_round, self.batch_max)
        self._rounds = RoundWriter(path, self.stats)
        self._def_order = 0
        self._damaged_definitions: list[JournalCorrupted] = []
        self.quarantine = repair.Quarantine(path)  # runs a rebuild of the run table found damaged
        self.repair: repair.RepairReport | None = None  # what opening found of the run table
        self._loads = _load_statements(True)

    def __repr__(self) -> str:
        return f"SqliteJournal({self.path!r}, durability={self.durability!r}) [{self._state}]"

    # -- lifecycle ---------------------------------------------------------

    async def open(self) -> None:
        if self._state == "open":
            return
        if self._state == "closing":
            raise JournalClosed(f"{self!r} is closing; open it again once close() returns")
        if self.readonly and not self._single:
            owner.check_existing(self.path)
        elif not self._single:
            self._owner_fd = owner.acquire(self.path)  # JournalBusy before anything is written
        wconn: aiosqlite.Connection | None = None
        rconn: aiosqlite.Connection | None = None
        try:
            try:
                wconn = await aiosqlite.connect(
                    self._target(), isolation_level=None, uri=self.readonly
                )
                if self.readonly:
                    await inspect_only(wconn, self.path)
                else:
                    await prepare(wconn, self.path, self.durability)
                    self.repair = await repair.check(wconn, self.path, self.row_deriver)
                self.quarantine = await repair.Quarantine.read(wconn, self.path)
                last_seq = (await fetchall(wconn, sql.LAST_SEQ))[0][0]
                self._loads = _load_statements(await sql.chained(wconn))
                self._def_order = (await fetchall(wconn, sql.LAST_DEFINITION_ORDER))[0][0]
                if not self._single:
                    rconn = await aiosqlite.connect(
                        self._target(), isolation_level=None, uri=self.readonly
                    )
                    await fetchall(rconn, "PRAGMA query_only = ON")
                    await fetchall(rconn, f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            except sqlite3.Error as exc:
                mapped = owner.unavailable(self.path, exc) or corrupted(self.path, exc)
                if mapped is exc:
                    raise
                raise mapped from exc
        except BaseException:
            with anyio.CancelScope(shield=True):
                for conn in (rconn, wconn):
                    if conn is not None:
                        await conn.close()
            self._release_owner()
            raise
        self._wconn, self._rconn = wconn, rconn
        self._write_lock = anyio.Lock()
        self._read_lock = self._write_lock if self._single else anyio.Lock()
        self._committer = stream_committer(self._commit_round, self.batch_max)
        self._rounds = RoundWriter(self.path, self.stats, last_seq, self._identity())
        self._state = "open"
        log.info("journal.opened", path=self.path, durability=self.durability, last_seq=last_seq)

    async def close(self) -> None:
        if self._state == "closing" and self._closed is not None:
            await self._closed.wait()
            return
        if self._state != "open":
            return
        self._state = "closing"
        closed = self._closed = anyio.Event()
        with anyio.CancelScope(shield=True):
            try:
                await self._committer.flush()
            finally:
                await self._close_connections()
                self._release_owner()
                self._state = "closed"
                closed.set()
        log.info(
            "journal.closed",
            path=self.path,
            records=self.stats.records,
            commits=self.stats.commits,
        )

    async def _close_connections(self) -> None:
        write_lock = _present(self._write_lock, "the write lock")
        read_lock = _present(self._read_lock, "the read lock")
        async with write_lock:
            if self._wconn is not None:
                await self._wconn.close()
                self._wconn = None
        async with read_lock:
            if self._rconn is not None:
                await self._rconn.close()
                self._rconn = None

    def _target(self) -> str:
        """What to connect to: the path, or (read-only) a URI SQLite opens read-only."""
        if self.readonly and not self._single:
            return Path(self.path).absolute().as_uri() + "?mode=ro"
        return self.path

    def _identity(self) -> tuple[int, int] | None:
        """(device, inode) of the file just opened, which every round checks; None in memory."""
        if self._single or self.readonly:
            return None
        found = os.stat(self.path)
        return found.st_dev, found.st_ino

    def _release_owner(self) -> None:
        if self._owner_fd is not None:
            owner.release(self.path, self._owner_fd)
            self._owner_fd = None

    def _closed_error(self) -> JournalClosed:
        if self._state == "new":
            return JournalClosed(f"{self!r} is not open; call open() or use `async with`")
        return JournalClosed(f"{self!r} is closed; open a new journal on {self.path!r}")

    # -- appends -----------------------------------------------------------

    async def append(self, append: Append) -> int:
        if self.readonly:
            raise JournalClosed(f"{self!r} was opened read-only, for inspection")
        if self._state != "open":
            raise self._closed_error()
        return await self._committer.submit(encode_append(append))

    async def append_many(self, appends: Sequence[Append]) -> list[int | Exception]:
        if self.readonly:
            raise JournalClosed(f"{self!r} was opened read-only, for inspection")
        if self._state != "open":
            raise self._closed_error()
        return await submit_prepared(self._committer, appends, encode_append)

    async def flush(self) -> None:
        if self._state in ("open", "closing"):
            await self._committer.flush()

    def gathering(self, stream_ids: Collection[str]) -> AbstractAsyncContextManager[Hold]:
        return self._committer.hold(stream_ids)

    async def _commit_round(self, batch: list[Ticket[EncodedAppend]]) -> None:
        """One round of appends (see `_sqlite_rounds`); resolves every ticket."""
        async with _present(self._write_lock, "the write lock"):
            conn = _present(self._wconn, "the write connection")
            await self._rounds.write(conn, batch, self.faults)

    # -- reads -------------------------------------------------------------

    @asynccontextmanager
    async def _reading(self) -> AsyncIterator[aiosqlite.Connection]:
        """The read connection, under its lock; `JournalClosed` once closed."""
        if self._state not in ("open", "closing") or self._read_lock is None:
            raise self._closed_error()
        async with self._read_lock:
            conn = self._wconn if self._single else self._rconn
            if conn is None:
                raise self._closed_error()
            try:
                yield conn
            except sqlite3.DatabaseError as exc:
                if type(exc) is not sqlite3.DatabaseError:  # locked, constraint...: not damage
                    raise
                raise self._malformed(exc) from exc

    def _malformed(self, exc: sqlite3.DatabaseError) -> JournalCorrupted:
        """The file itself is damaged below the records (a torn page): named, with the way out."""
        log.error("journal.malformed", path=self.path, error=str(exc))
        return JournalCorrupted(
            f"the journal {self.path!r} is damaged below its records ({exc}): a page of the "
            "SQLite file is torn. Restore it from a backup, salvage what is readable with "
            f"`sqlite3 {self.path} .recover` into a new file, or (if only the run table is "
            f"torn) rebuild it from the records: `cadenza recover --db {self.path}`"
        )

    async def load(self, stream_id: str) -> Loaded | None:
        if self.faults is not None:
            self.faults.check_loads([stream_id])
        self.quarantine.check(stream_id)
        async with self._reading() as conn:
            with anyio.CancelScope(shield=True):  # the read transaction ends in its hop
                found = await in_thread(conn, lambda db: read_stream(db, self._loads, stream_id))
        return None if found is None else self._decode_loaded(stream_id, *found)

    def _decode_loaded(self, stream_id: str, row: Any, records: Sequence[Any]) -> Loaded:
        try:
            snapshot = None
            if row[16] is not None:
                snapshot = decode_snapshot(stream_id, row[16], bytes(row[14]), row[15])
            check_chain(stream_id, (row[17], row[18], row[19]), records)
            events: list[JSONObject] = []
            for seq, payload, crc, _number, _prev in records:
                events.extend(decode_events(stream_id, seq, bytes(payload), crc))
        except JournalCorrupted as exc:
            log.error("journal.corrupted", path=self.path, stream_id=stream_id, record=exc.record)
            raise
        return Loaded(info=info_from_row(row), snapshot=snapshot, events=events)

    async def load_many(
        self, stream_ids: Sequence[str]
    ) -> dict[str, Loaded | JournalCorrupted | None]:
        """Many streams in one read transaction (see `Journal.load_many`)."""
        if self.faults is not None:
            self.faults.check_loads(stream_ids)
        wanted = json.dumps(self.quarantine.unread(stream_ids))
        async with self._reading() as conn:
            with anyio.CancelScope(shield=True):  # the read transaction ends in its hop
                rows, records = await in_thread(
                    conn, lambda db: read_streams(db, self._loads, wanted)
                )
        by_stream: dict[str, list[Any]] = {}
        for stream_id, *record in records:
            by_stream.setdefault(stream_id, []).append(tuple(record))
        found = {row[0]: row for row in rows}
        results: dict[str, Loaded | JournalCorrupted | None] = {}
        for stream_id in stream_ids:
            row = found.get(stream_id)
            if row is None:  # none, or quarantined (not read)
                results[stream_id] = self.quarantine.error(stream_id)
                continue
            try:
                results[stream_id] = self._decode_loaded(
                    stream_id, row, by_stream.get(stream_id, [])
                )
            except JournalCorrupted as exc:
                results[stream_id] = exc
        return results

    def damaged_streams(self) -> list[JournalCorrupted]:
        return self.quarantine.errors()

    async def last_seq(self) -> int:
        return self._rounds.last_seq

    async def info(self, stream_id: str) -> StreamInfo | None:
        async with self._reading() as conn:
            rows = await fetchall(conn, sql.INFO, (stream_id,))
        return info_from_row(rows[0]) if rows else None

    async def find_key(self, key: str) -> str | None:
        async with self._reading() as conn:
            rows = await fetchall(conn, sql.FIND_KEY, (key,))
        return rows[0][0] if rows else None

    async def find_keys(self, keys: Sequence[str]) -> dict[str, str]:
        async with self._reading() as conn:
            rows = await fetchall(conn, sql.KEY_HOLDERS, (json.dumps(list(dict.fromkeys(keys))),))
        return dict(rows)

    async def streams(
        self,
        *,
        kind: str | None = None,
        status: str | None = None,
        correlation_id: str | None = None,
        terminal: bool | None = None,
        limit: int = 100,
    ) -> list[StreamInfo]:
        if limit < 0:
            raise ValueError(f"limit must not be negative, got {limit}")
        query, params = sql.streams_query(
            kind=kind, status=status, correlation_id=correlation_id, terminal=terminal, limit=limit
        )
        async with self._reading() as conn:
            rows = await fetchall(conn, query, params)
        return [info_from_row(row) for row in rows]

    async def unfinished_rows(self) -> list[StreamInfo]:
        async with self._reading() as conn:
            rows = await fetchall(conn, sql.UNFINISHED_ROWS)
        return [info_from_row(row) for row in rows]

    async def unfinished(self) -> list[str]:
        async with self._reading() as conn:
            rows = await fetchall(conn, sql.UNFINISHED)
        return [row[0] for row in rows]

    # -- definitions -------------------------------------------------------

    async def put_definition(self, name: str, version: int, body: JSONObject) -> DefinitionRecord:
        if self.readonly:
            raise JournalClosed(f"{self!r} was opened read-only, for inspection")
        if self._state != "open" or self._write_lock is None:
            raise self._closed_error()
        digest, data = canonical(body, f"definition {name!r} version {version}")
        now = self._clock()
        async with self._write_lock:
            conn = self._wconn
            if conn is None:
                raise self._closed_error()
            with anyio.CancelScope(shield=True):
                try:
                    await conn.execute("BEGIN IMMEDIATE")
                    await conn.execute(sql.PUT_BODY, (digest, name, version, data, now))
                    current = await fetchall(conn, sql.CURRENT_DIGEST, (name, version))
                    order = self._def_order
                    if not current or current[0][0] != digest:
                        order += 1
                        await conn.execute(sql.PUT_VERSION, (name, version, digest, order))
                    stored = await fetchall(conn, sql.REGISTERED_AT, (digest,))
                    await conn.commit()
                except Exception as exc:
                    await rollback(conn)
                    raise JournalWriteError(f"definition {name!r} version {version}", exc) from exc
        self._def_order = order
        log.info("journal.definition_put", name=name, version=version, digest=digest)
        return DefinitionRecord(name, version, digest, json.loads(data), stored[0][0])

    async def definitions(self) -> list[DefinitionRecord]:
        async with self._reading() as conn:
            rows = await fetchall(conn, sql.DEFINITIONS)
        records, self._damaged_definitions = checked_definitions(rows)
        for exc in self._damaged_definitions:
            log.error("journal.definition_damaged", path=self.path, definition=exc.stream_id)
        return records

    def damaged_definitions(self) -> list[JournalCorrupted]:
        return list(self._damaged_definitions)

    async def definition_by_digest(self, digest: str) -> DefinitionRecord | None:
        async with self._reading() as conn:
            rows = await fetchall(conn, sql.DEFINITION_BY_DIGEST, (digest,))
        if not rows:
            return None
        name, version, body, at = rows[0]
        return DefinitionRecord(name, version, digest, decode_definition(digest, bytes(body)), at)


def _load_statements(chained: bool) -> dict[str, str]:
    """The load statements; a schema-1 file read as it is gets them without the chain."""
    statements = {
        "LOAD_ROW": sql.LOAD_ROW,
        "LOAD_RECORDS": sql.LOAD_RECORDS,
        "LOAD_ROWS_IN": sql.LOAD_ROWS_IN,
        "LOAD_RECORDS_IN": sql.LOAD_RECORDS_IN,
    }
    if chained:
        return statements
    return {name: sql.unchained(statement) for name, statement in statements.items()}


def _present(value: T | None, what: str) -> T:
    """`value`, which is always set while the journal is open or closing."""
    if value is None:
        raise InternalError(f"{what} is missing while the journal is in use")
    return value
