"""The SQLite journal's schema, its SQL statements, and the checks made on open.

Opening never writes before it has read: the first statement only reads the
schema, so a file that is not a SQLite database (or not a cadenza journal, or
one from a newer cadenza) is refused with `JournalCorrupted` and left exactly
as it was. Only then are the pragmas set and missing tables created, in one
transaction with the `meta` row that records the schema version.

Schema 2 chains each run's records (issue 13): a record carries its number
within its stream (`stream_seq`, from 1) and the checksum of the stream's
record before it (`prev_crc`); the stream row carries the number and
checksum of its last record (`last_stream_seq`, `last_crc`) and the number
of the record its snapshot includes (`snapshot_stream_seq`). A file of
schema 1 is migrated on open — the columns are added, its streams stay
unchained (NULL) while new ones are chained — and marked 2, so an older
cadenza, which would write unchained records into chained streams,
refuses it.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

import aiosqlite

from cadenza._errors import JournalCorrupted
from cadenza.persistence._journal import StreamInfo

T = TypeVar("T")

SCHEMA_VERSION = 2
READABLE_VERSIONS = ("1", "2")  # schema 1 is migrated to 2 on open
BUSY_TIMEOUT_MS = 5000
SYNCHRONOUS = {"full": "FULL", "normal": "NORMAL"}

DDL = """
BEGIN IMMEDIATE;
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS streams (
    stream_id      TEXT PRIMARY KEY,
    kind           TEXT NOT NULL,
    version        INTEGER NOT NULL,
    status         TEXT NOT NULL,
    terminal       INTEGER NOT NULL,
    created_at     REAL NOT NULL,
    updated_at     REAL NOT NULL,
    key            TEXT UNIQUE,
    correlation_id TEXT,
    parent_id      TEXT,
    priority       INTEGER NOT NULL DEFAULT 0,
    parked         INTEGER NOT NULL DEFAULT 0,
    wake_at        REAL,
    timers         TEXT,
    snapshot       BLOB,
    snapshot_crc   INTEGER,
    snapshot_seq   INTEGER,
    created_order  INTEGER NOT NULL,
    last_stream_seq     INTEGER,
    last_crc            INTEGER,
    snapshot_stream_seq INTEGER
);
CREATE TABLE IF NOT EXISTS records (
    seq       INTEGER PRIMARY KEY,
    stream_id TEXT NOT NULL REFERENCES streams (stream_id),
    payload   BLOB NOT NULL,
    crc       INTEGER NOT NULL,
    stream_seq INTEGER,
    prev_crc   INTEGER
);
CREATE INDEX IF NOT EXISTS records_by_stream ON records (stream_id, seq);
CREATE INDEX IF NOT EXISTS streams_by_age ON streams (created_at, created_order);
CREATE INDEX IF NOT EXISTS streams_by_kind ON streams (kind, created_at, created_order);
CREATE INDEX IF NOT EXISTS streams_by_status ON streams (status, created_at, created_order);
CREATE INDEX IF NOT EXISTS streams_by_correlation ON streams (correlation_id)
    WHERE correlation_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS streams_unfinished ON streams (created_at, created_order)
    WHERE terminal = 0;
CREATE TABLE IF NOT EXISTS definitions (
    digest        TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    version       INTEGER NOT NULL,
    body          BLOB NOT NULL,
    registered_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS definition_versions (
    name             TEXT NOT NULL,
    version          INTEGER NOT NULL,
    digest           TEXT NOT NULL REFERENCES definitions (digest),
    registered_order INTEGER NOT NULL,
    PRIMARY KEY (name, version)
);
INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', '2');
COMMIT;
"""

_ADDED_COLUMNS = (  # (table, column, declaration) added since the first files were written
    ("streams", "parked", "INTEGER NOT NULL DEFAULT 0"),
    ("streams", "wake_at", "REAL"),
    ("streams", "timers", "TEXT"),
    ("streams", "last_stream_seq", "INTEGER"),
    ("streams", "last_crc", "INTEGER"),
    ("streams", "snapshot_stream_seq", "INTEGER"),
    ("records", "stream_seq", "INTEGER"),
    ("records", "prev_crc", "INTEGER"),
)

STREAM_COLUMNS = (
    "stream_id, kind, version, status, terminal, created_at, updated_at, key, "
    "correlation_id, parent_id, priority, parked, wake_at, timers"
)

UPSERT_STREAM = f"""
INSERT INTO streams ({STREAM_COLUMNS}, snapshot, snapshot_crc, snapshot_seq, created_order,
    last_stream_seq, last_crc, snapshot_stream_seq)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (stream_id) DO UPDATE SET
    kind = excluded.kind, version = excluded.version, status = excluded.status,
    terminal = excluded.terminal, created_at = excluded.created_at,
    updated_at = excluded.updated_at, key = excluded.key,
    correlation_id = excluded.correlation_id, parent_id = excluded.parent_id,
    priority = excluded.priority, parked = excluded.parked, wake_at = excluded.wake_at,
    timers = excluded.timers,
    snapshot = coalesce(excluded.snapshot, streams.snapshot),
    snapshot_crc = coalesce(excluded.snapshot_crc, streams.snapshot_crc),
    snapshot_seq = coalesce(excluded.snapshot_seq, streams.snapshot_seq),
    last_stream_seq = excluded.last_stream_seq, last_crc = excluded.last_crc,
    snapshot_stream_seq = coalesce(excluded.snapshot_stream_seq, streams.snapshot_stream_seq)
"""

INSERT_RECORD = (
    "INSERT INTO records (seq, stream_id, payload, crc, stream_seq, prev_crc) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)
_IN_JSON = "IN (SELECT value FROM json_each(?))"  # one parameter: a JSON array
# The columns of `STREAM_COLUMNS` that an index of `streams` holds or filters on (besides
# `stream_id` and `created_order`, which no update assigns): an update assigning none of
# them rewrites no index, since SQLite skips an index none of whose columns is assigned.
INDEXED_COLUMNS = ("kind", "status", "terminal", "created_at", "key", "correlation_id")
KEPT_COLUMNS = tuple(  # the stream columns an update may assign without touching an index
    c for c in STREAM_COLUMNS.split(", ") if c not in INDEXED_COLUMNS and c != "stream_id"
)
UPDATE_STREAM_KEPT = (  # an existing stream whose INDEXED_COLUMNS stay as they are
    "UPDATE streams SET "
    + "".join(f"{c} = ?, " for c in KEPT_COLUMNS)
    + "snapshot = coalesce(?, snapshot), snapshot_crc = coalesce(?, snapshot_crc), "
    "snapshot_seq = coalesce(?, snapshot_seq), last_stream_seq = ?, last_crc = ?, "
    "snapshot_stream_seq = coalesce(?, snapshot_stream_seq) WHERE stream_id = ?"
)
UPDATE_STREAM_TOUCHED = (  # ... and of the other columns, only updated_at changes
    "UPDATE streams SET updated_at = ?, last_stream_seq = ?, last_crc = ? WHERE stream_id = ?"
)
CHAIN_HEADS = (  # an existing stream's chain head, then its row
    f"SELECT last_stream_seq, last_crc, {STREAM_COLUMNS} FROM streams WHERE stream_id {_IN_JSON}"
)
KEY_HOLDERS = f"SELECT key, stream_id FROM streams WHERE key {_IN_JSON}"

LAST_SEQ = "SELECT coalesce(max(seq), 0) FROM records"
LAST_DEFINITION_ORDER = "SELECT coalesce(max(registered_order), 0) FROM definition_versions"

_LOADED_COLUMNS = (  # indices 14 to 19, after the row's own
    "snapshot, snapshot_crc, snapshot_seq, last_stream_seq, last_crc, snapshot_stream_seq"
)
LOAD_ROW = f"SELECT {STREAM_COLUMNS}, {_LOADED_COLUMNS} FROM streams WHERE stream_id = ?"
LOAD_ROWS_IN = (
    f"SELECT {STREAM_COLUMNS}, {_LOADED_COLUMNS} "
    "FROM streams WHERE stream_id IN (SELECT value FROM json_each(?))"
)
LOAD_RECORDS_IN = (
    "SELECT r.stream_id, r.seq, r.payload, r.crc, r.stream_seq, r.prev_crc "
    "FROM records r JOIN streams s USING (stream_id) "
    "WHERE r.stream_id IN (SELECT value FROM json_each(?)) AND r.seq > coalesce(s.snapshot_seq, 0) "
    "ORDER BY r.seq"
)
LOAD_RECORDS = (
    "SELECT seq, payload, crc, stream_seq, prev_crc FROM records "
    "WHERE stream_id = ? AND seq > ? ORDER BY seq"
)


def unchained(statement: str) -> str:
    """A load statement for a schema-1 file read as it is (inspection cannot migrate it)."""
    for columns in (
        "last_stream_seq, last_crc, snapshot_stream_seq",
        "r.stream_seq, r.prev_crc",
        "stream_seq, prev_crc",
    ):
        statement = statement.replace(columns, ", ".join("NULL" for _ in columns.split(", ")))
    return statement


async def chained(conn: aiosqlite.Connection) -> bool:
    """Whether the file has the schema-2 chain columns (a schema-1 file opened read-only not)."""
    return "stream_seq" in {row[1] for row in await fetchall(conn, "PRAGMA table_info(records)")}


INFO = f"SELECT {STREAM_COLUMNS} FROM streams WHERE stream_id = ?"
FIND_KEY = "SELECT stream_id FROM streams WHERE key = ?"
UNFINISHED_ROWS = (
    f"SELECT {STREAM_COLUMNS} FROM streams WHERE terminal = 0 ORDER BY created_at, created_order"
)
UNFINISHED = (  # `terminal = 0` verbatim, so the partial index serves it
    "SELECT stream_id FROM streams WHERE terminal = 0 ORDER BY created_at, created_order"
)

PUT_BODY = (
    "INSERT OR IGNORE INTO definitions (digest, name, version, body, registered_at) "
    "VALUES (?, ?, ?, ?, ?)"
)
CURRENT_DIGEST = "SELECT digest FROM definition_versions WHERE name = ? AND version = ?"
PUT_VERSION = (
    "INSERT INTO definition_versions (name, version, digest, registered_order) "
    "VALUES (?, ?, ?, ?) ON CONFLICT (name, version) DO UPDATE SET "
    "digest = excluded.digest, registered_order = excluded.registered_order"
)
REGISTERED_AT = "SELECT registered_at FROM definitions WHERE digest = ?"
DEFINITIONS = (
    "SELECT v.name, v.version, v.digest, d.body, d.registered_at "
    "FROM definition_versions AS v JOIN definitions AS d USING (digest) "
    "ORDER BY v.registered_order"
)
DEFINITION_BY_DIGEST = "SELECT name, version, body, registered_at FROM definitions WHERE digest = ?"


def streams_query(
    *,
    kind: str | None,
    status: str | None,
    correlation_id: str | None,
    terminal: bool | None,
    limit: int,
) -> tuple[str, tuple[Any, ...]]:
    """The `streams()` query and its parameters: given filters, newest first."""
    where: list[str] = []
    params: list[Any] = []
    for column, value in (
        ("kind", kind),
        ("status", status),
        ("correlation_id", correlation_id),
        ("terminal", None if terminal is None else int(terminal)),
    ):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    query = f"SELECT {STREAM_COLUMNS} FROM streams"
    if where:
        query += " WHERE " + " AND ".join(where)
    query += " ORDER BY created_at DESC, created_order DESC LIMIT ?"
    return query, (*params, limit)


def info_from_row(row: sqlite3.Row | Sequence[Any]) -> StreamInfo:
    """A `StreamInfo` from the first fourteen columns of a row (`STREAM_COLUMNS`): a SQLite
    row or an asyncpg record, the columns being the same on both journals."""
    return StreamInfo(
        stream_id=row[0],
        kind=row[1],
        version=row[2],
        status=row[3],
        terminal=bool(row[4]),
        created_at=row[5],
        updated_at=row[6],
        key=row[7],
        correlation_id=row[8],
        parent_id=row[9],
        priority=row[10],
        parked=bool(row[11]),
        wake_at=row[12],
        timers=json.loads(row[13]) if row[13] else None,
    )


def _not_ours(path: str, why: str) -> JournalCorrupted:
    return JournalCorrupted(
        f"{path!r} {why}; the file was not modified. Point cadenza at a new file, "
        "or restore the journal from a backup"
    )


async def in_thread(conn: aiosqlite.Connection, work: Callable[[sqlite3.Connection], T]) -> T:
    """Run `work` with the connection's sqlite3 connection, on its own thread, in one hop.

    A whole read or write transaction as one hop, not one per statement:
    each hop hands the GIL from the loop's thread to aiosqlite's and back,
    which under load cost more than the statements (issue 14's profile of a
    timer storm: half a millisecond per hop). `Connection._execute` is
    aiosqlite's own way to run a function on that thread (pinned below 0.23).

    Neither `work` nor its result is referenced once this returns: aiosqlite's
    thread keeps the function it last ran and that function's result until
    its next operation, which held a whole commit round's encoded records
    (about 1.7 KB a run in `bench timers`) for as long as the journal was idle.
    """
    run: Callable[[Callable[[], None]], Awaitable[None]] = conn._execute
    pending = [work]
    done: list[T] = []

    def hop() -> None:
        done.append(pending.pop()(conn._conn))

    await run(hop)
    return done.pop()


def read_stream(
    db: sqlite3.Connection, loads: Mapping[str, str], stream_id: str
) -> tuple[Any, list[Any]] | None:
    """A stream's row and its records after its snapshot, in one read transaction (on the
    connection's thread: see `in_thread`); None if there is no such stream."""
    db.execute("BEGIN")
    try:
        row = db.execute(loads["LOAD_ROW"], (stream_id,)).fetchone()
        if row is None:
            return None
        after = row[16] or 0  # snapshot_seq
        return row, db.execute(loads["LOAD_RECORDS"], (stream_id, after)).fetchall()
    finally:
        db.execute("ROLLBACK")


def read_streams(
    db: sqlite3.Connection, loads: Mapping[str, str], wanted: str
) -> tuple[list[Any], list[Any]]:
    """The rows and records of the streams in `wanted` (a JSON list), in one read transaction."""
    db.execute("BEGIN")
    try:
        rows = db.execute(loads["LOAD_ROWS_IN"], (wanted,)).fetchall()
        return rows, db.execute(loads["LOAD_RECORDS_IN"], (wanted,)).fetchall()
    finally:
        db.execute("ROLLBACK")


async def fetchall(
    conn: aiosqlite.Connection, sql: str, params: tuple[Any, ...] = ()
) -> list[tuple[Any, ...]]:
    """All rows of one statement, as tuples."""
    return [tuple(row) for row in await conn.execute_fetchall(sql, params)]


def corrupted(path: str, exc: sqlite3.Error) -> JournalCorrupted | sqlite3.Error:
    """`JournalCorrupted` for SQLite's "damaged file" errors; others are returned as they are."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    if name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")) or "malformed" in str(exc):
        return JournalCorrupted(
            f"the journal {path!r} is damaged ({exc}); restore it from a backup "
            "(`sqlite3 FILE .recover` may save what is readable)"
        )
    return exc


async def inspect_only(conn: aiosqlite.Connection, path: str) -> None:
    """For read-only inspection: check the file is a cadenza journal; write nothing."""
    await fetchall(conn, "PRAGMA query_only = ON")
    await fetchall(conn, f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    if not await _check_ours(conn, path):
        raise _not_ours(path, "is empty: no journal was ever written to it")


async def prepare(conn: aiosqlite.Connection, path: str, durability: str) -> None:
    """Check the file is a cadenza journal we can read, then set pragmas and create tables."""
    await _check_ours(conn, path)
    for pragma in (
        "journal_mode = WAL",
        f"synchronous = {SYNCHRONOUS[durability]}",
        f"busy_timeout = {BUSY_TIMEOUT_MS}",
        "foreign_keys = ON",
    ):
        await fetchall(conn, f"PRAGMA {pragma}")
    await conn.executescript(DDL)
    # Columns added since the first files were written: add them where missing.
    present = {
        table: {row[1] for row in await fetchall(conn, f"PRAGMA table_info({table})")}
        for table in ("streams", "records")
    }
    for table, column, declaration in _ADDED_COLUMNS:
        if column not in present[table]:
            await conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
            await conn.commit()
    await conn.execute(
        "UPDATE meta SET value = ? WHERE key = 'schema_version' AND value != ?",
        (str(SCHEMA_VERSION), str(SCHEMA_VERSION)),
    )
    await conn.commit()


async def _check_ours(conn: aiosqlite.Connection, path: str) -> bool:
    """Whether the file holds a journal (False: empty); raises if it is not ours."""
    try:
        tables = {row[0] for row in await fetchall(conn, "SELECT name FROM sqlite_master")}
    except sqlite3.DatabaseError as exc:
        if exc.sqlite_errorname in ("SQLITE_NOTADB", "SQLITE_CORRUPT"):
            raise _not_ours(path, f"is not a SQLite database ({exc})") from exc
        raise
    if tables and "meta" not in tables:
        raise _not_ours(path, "is a SQLite database but not a cadenza journal (no meta table)")
    if "meta" in tables:
        rows = await fetchall(conn, "SELECT value FROM meta WHERE key = 'schema_version'")
        found = rows[0][0] if rows else None
        if found not in READABLE_VERSIONS:
            raise _not_ours(
                path,
                f"has journal schema version {found!r}, this cadenza reads only "
                f"{SCHEMA_VERSION!r} (a newer cadenza wrote it, or it is damaged)",
            )
    return bool(tables)
