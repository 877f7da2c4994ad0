"""Rebuilding a SQLite journal's current-state table (`streams`) from its records.

Design note
-----------
`records` is the journal's source of truth; `streams` (one row per run) is
derived from it. A torn page of `streams` (or of one of its indexes) would
otherwise stop every run from being served, so it is rebuilt:

1. **Found.** `damage` runs `PRAGMA quick_check(streams)`, which walks the
   table and its indexes (a few ms per thousand runs); a check that itself
   raises `DatabaseError` counts as damage.
2. **Read around the damage.** Records are read in ranges of `seq`; a range
   whose read fails is halved until each unreadable record is one `seq`.
   Every record read is checked against its checksum, and `seq` runs from 1
   without gaps, so a record that is missing or garbled is found too. Each
   unreadable `seq` is attributed to its run through the `records_by_stream`
   index (a separate b-tree); one the index cannot attribute either is
   reported as unattributed.
3. **Derived.** Each run whose records all read, chain (`stream_seq` from 1,
   each naming its predecessor's checksum) and replay gets a fresh row from
   `derive` (given by the engine: persistence knows nothing of workflows),
   without a snapshot — its records are replayed on load. A run whose own
   records are damaged gets a placeholder row (from what it has readable,
   never terminal) and an entry in `quarantine`, so loading it raises
   `JournalCorrupted` naming it and every other run is served.
4. **Swapped in one transaction.** The rows go into `streams_rebuilt`; then
   the damaged table is renamed aside (`streams_damaged_1`, 2, ...: a torn table
   cannot be dropped, and keeping it loses nothing), its indexes dropped,
   `streams_rebuilt` renamed to `streams` and its indexes created, and the
   transaction commits — or nothing changed. Foreign keys are off and
   `legacy_alter_table` on for the swap, so `records`' reference keeps
   naming `streams`.

No record is written, moved or deleted. A second rebuild finds `streams`
sound and changes nothing.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiosqlite

from cadenza._errors import JournalCorrupted
from cadenza._log import get_logger
from cadenza.persistence import _schema as sql
from cadenza.persistence._codec import checksum, info_params
from cadenza.persistence._journal import JSONObject, RowDeriver, StreamInfo
from cadenza.persistence._schema import fetchall

log = get_logger("cadenza.persistence")


READ_CHUNK = 2048  # records read per range before halving on a failed read
QUARANTINE_DDL = (
    "CREATE TABLE IF NOT EXISTS quarantine (stream_id TEXT PRIMARY KEY, "
    "reason TEXT NOT NULL, at REAL NOT NULL)"
)
_REBUILT = "streams_rebuilt"
_INSERT_ROW = (
    f"INSERT INTO {_REBUILT} ({sql.STREAM_COLUMNS}, created_order, last_stream_seq, last_crc) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


@dataclass
class RepairReport:
    """What a rebuild found and did; `rebuilt` is False when `streams` was sound."""

    path: str
    damage: list[str] = field(default_factory=list)  # what the check said
    rebuilt: bool = False
    rows: int = 0  # runs given a fresh row
    damaged: dict[str, str] = field(default_factory=dict)  # run id -> why it is quarantined
    unattributed: list[int] = field(default_factory=list)  # unreadable seqs of unknown runs
    kept_as: str | None = None  # the damaged table's name, renamed aside

    def as_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "damage": self.damage,
            "rebuilt": self.rebuilt,
            "rows": self.rows,
            "damaged": self.damaged,
            "unattributed_records": self.unattributed,
            "kept_as": self.kept_as,
        }


async def damage(conn: aiosqlite.Connection) -> list[str]:
    """What `quick_check` finds wrong with `streams` and its indexes ([] when sound)."""
    try:
        rows = await fetchall(conn, "PRAGMA quick_check(streams)")
    except sqlite3.DatabaseError as exc:
        return [str(exc)]
    found = [str(row[0]) for row in rows]
    return [] if found == ["ok"] else found[:20]


class Quarantine:
    """The runs a rebuild found damaged (id -> why), as the `quarantine` table lists them."""

    def __init__(self, path: str, runs: dict[str, str] | None = None):
        self.path = path
        self.runs = runs or {}

    @classmethod
    async def read(cls, conn: aiosqlite.Connection, path: str) -> Quarantine:
        """The file's quarantine; empty for a journal never rebuilt."""
        tables = await fetchall(conn, "SELECT 1 FROM sqlite_master WHERE name = 'quarantine'")
        if not tables:
            return cls(path)
        return cls(path, dict(await fetchall(conn, "SELECT stream_id, reason FROM quarantine")))

    def error(self, stream_id: str) -> JournalCorrupted | None:
        """The error loading a quarantined run raises (naming it and why), else None."""
        reason = self.runs.get(stream_id)
        if reason is None:
            return None
        return JournalCorrupted(
            f"run {stream_id!r} is damaged ({reason}): when the run table of the journal "
            f"{self.path!r} was rebuilt, its records could not all be read. It is "
            "quarantined; the other runs are served. To recover it, restore the journal "
            "from a backup",
            stream_id=stream_id,
        )

    def check(self, stream_id: str) -> None:
        """Raise the run's `JournalCorrupted` if it is quarantined."""
        if (error := self.error(stream_id)) is not None:
            raise error

    def unread(self, stream_ids: Sequence[str]) -> list[str]:
        """`stream_ids` without repeats, the quarantined left out (their records are torn)."""
        return [sid for sid in dict.fromkeys(stream_ids) if sid not in self.runs]

    def errors(self) -> list[JournalCorrupted]:
        return [e for sid in self.runs if (e := self.error(sid)) is not None]


async def check(conn: aiosqlite.Connection, path: str, derive: RowDeriver | None) -> RepairReport:
    """Check `streams`; rebuild it if damaged (with `derive`), or raise `JournalCorrupted`
    naming the file and `cadenza recover` when there is no `derive` to rebuild with."""
    found = await damage(conn)
    if not found:
        return RepairReport(path)
    log.error("journal.rows_damaged", path=path, damage=found[:3])
    if derive is None:
        raise JournalCorrupted(
            f"the journal {path!r} has a damaged run table ({found[0]}); its records are "
            f"intact. Rebuild the table from them with `cadenza recover --db {path}`"
        )
    report = await rebuild(conn, path, derive, found)
    log.warning(
        "journal.rows_rebuilt",
        path=path,
        rows=report.rows,
        damaged=sorted(report.damaged),
        unattributed_records=len(report.unattributed),
        kept_as=report.kept_as,
    )
    return report


async def rebuild(
    conn: aiosqlite.Connection, path: str, derive: RowDeriver, found: list[str]
) -> RepairReport:
    """Rebuild `streams` from `records` and swap it in (module note); the caller holds the
    owner's lock and no transaction is open. Raises `JournalCorrupted` if the swap fails
    (nothing changed then)."""
    report = RepairReport(path, damage=found)
    by_stream, unreadable = await _read_records(conn)
    owners = await _attribute(conn, unreadable)
    report.unattributed = sorted(seq for seq in unreadable if seq not in owners)
    lost: dict[str, list[int]] = {}
    for seq, stream_id in owners.items():
        lost.setdefault(stream_id, []).append(seq)
        by_stream.setdefault(stream_id, [])
    bodies = dict(await fetchall(conn, "SELECT digest, body FROM definitions"))

    def definition(digest: str) -> JSONObject | None:
        body = bodies.get(digest)
        return None if body is None else json.loads(bytes(body))

    rows: list[tuple[Any, ...]] = []
    for stream_id, records in by_stream.items():
        why = _why_damaged(stream_id, records, sorted(lost.get(stream_id, [])))
        events: list[list[JSONObject]] = []
        if why is None:
            events = [json.loads(bytes(r[1])) for r in records]
            try:
                info = derive(stream_id, events, definition)
            except Exception as exc:
                why = f"its records do not replay: {exc!r}"
        if why is not None:
            report.damaged[stream_id] = why
            info = _placeholder(stream_id, records, derive, definition)
        first = records[0][0] if records else min(lost[stream_id])
        head: tuple[int | None, int | None] = (None, None)  # the chain's head: unchained
        if records and why is None and records[-1][3] is not None:
            head = (records[-1][3], records[-1][2])
        rows.append((*info_params(info), first, *head))
    report.rows = len(rows) - len(report.damaged)
    report.kept_as = await _swap(conn, rows, report.damaged)
    report.rebuilt = True
    return report


async def _read_records(
    conn: aiosqlite.Connection,
) -> tuple[dict[str, list[tuple[Any, ...]]], set[int]]:
    """Every readable record by run, in seq order, and the seqs that could not be read."""
    last = await _last_seq(conn)
    by_stream: dict[str, list[tuple[Any, ...]]] = {}
    unreadable: set[int] = set()

    async def read(lo: int, hi: int) -> None:  # seqs lo .. hi-1
        try:
            rows = await fetchall(
                conn,
                "SELECT seq, stream_id, payload, crc, stream_seq, prev_crc FROM records "
                "WHERE seq >= ? AND seq < ? ORDER BY seq",
                (lo, hi),
            )
        except sqlite3.DatabaseError:
            if hi - lo == 1:
                unreadable.add(lo)
                return
            middle = (lo + hi) // 2
            await read(lo, middle)
            await read(middle, hi)
            return
        seen: set[int] = set()
        for seq, stream_id, payload, crc, number, prev in rows:
            if not (isinstance(seq, int) and lo <= seq < hi) or seq in seen:
                continue
            if not (
                isinstance(stream_id, str)
                and isinstance(payload, bytes)
                and checksum(stream_id, payload) == crc
            ):
                continue  # garbled: counted missing below
            seen.add(seq)
            by_stream.setdefault(stream_id, []).append((seq, payload, crc, number, prev))
        unreadable.update(set(range(lo, hi)) - seen)

    for lo in range(1, last + 1, READ_CHUNK):
        await read(lo, min(lo + READ_CHUNK, last + 1))
    return by_stream, unreadable


async def _last_seq(conn: aiosqlite.Connection) -> int:
    """The highest seq the table or its index holds (a torn last page hides it from one)."""
    found = 0
    for statement in (sql.LAST_SEQ, "SELECT max(seq) FROM records INDEXED BY records_by_stream"):
        try:
            value = (await fetchall(conn, statement))[0][0]
        except sqlite3.DatabaseError:
            continue
        if isinstance(value, int):
            found = max(found, value)
    return found


async def _attribute(conn: aiosqlite.Connection, seqs: set[int]) -> dict[int, str]:
    """The run of each unreadable seq, as the `records_by_stream` index has it."""
    if not seqs:
        return {}
    try:
        rows = await fetchall(
            conn,
            "SELECT seq, stream_id FROM records INDEXED BY records_by_stream "
            "WHERE seq IN (SELECT value FROM json_each(?))",
            (json.dumps(sorted(seqs)),),
        )
    except sqlite3.DatabaseError as exc:
        log.error("journal.repair_unattributed", records=len(seqs), error=str(exc))
        return {}
    return {seq: sid for seq, sid in rows if seq in seqs and isinstance(sid, str)}


def _why_damaged(stream_id: str, records: list[tuple[Any, ...]], lost: list[int]) -> str | None:
    """Why the run's records cannot make its row (None: they can)."""
    if lost:
        return f"record(s) {', '.join(map(str, lost[:10]))} unreadable"
    expected, previous = 1, 0
    for seq, _payload, crc, number, prev in records:
        if number is None:  # a schema-1 stream: not chained
            continue
        if number != expected or prev != previous:
            return f"record {seq} does not follow the run's record before it: one is missing"
        expected, previous = expected + 1, crc
    try:
        for _seq, payload, *_ in records:
            events = json.loads(bytes(payload))
            if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
                return f"record {_seq} is not a list of JSON objects"
    except ValueError as exc:
        return f"a record is not JSON: {exc}"
    return None


def _placeholder(
    stream_id: str,
    records: list[tuple[Any, ...]],
    derive: RowDeriver,
    definition: Callable[[str], JSONObject | None],
) -> StreamInfo:
    """A damaged run's row: what its readable first records say, never terminal."""
    prefix: list[list[JSONObject]] = []
    for number, (_seq, payload, *_rest) in enumerate(records, start=1):
        if records[number - 1][3] not in (None, number):
            break
        try:
            prefix.append(json.loads(bytes(payload)))
        except ValueError:
            break
    try:
        info = derive(stream_id, prefix, definition)
    except Exception:
        return StreamInfo(stream_id, "", 0, "RUNNING", False, 0.0, 0.0)
    return StreamInfo(
        stream_id,
        info.kind,
        info.version,
        info.status,
        False,
        info.created_at,
        info.updated_at,
        key=info.key,
        correlation_id=info.correlation_id,
        parent_id=info.parent_id,
        priority=info.priority,
    )


def _streams_statements() -> tuple[str, list[str]]:
    """`streams`' CREATE TABLE (for `streams_rebuilt`) and its indexes, from the schema."""
    statements = [s.strip() for s in sql.DDL.split(";")]
    table = next(s for s in statements if s.startswith("CREATE TABLE IF NOT EXISTS streams "))
    indexes = [s for s in statements if s.startswith("CREATE INDEX") and " ON streams " in s]
    return table.replace(" streams ", f" {_REBUILT} ", 1), indexes


async def _swap(
    conn: aiosqlite.Connection, rows: list[tuple[Any, ...]], damaged: Mapping[str, str]
) -> str:
    """Fill `streams_rebuilt` and swap it in for `streams`, in one transaction."""
    create, indexes = _streams_statements()
    earlier = await fetchall(
        conn, "SELECT count(*) FROM sqlite_master WHERE name GLOB 'streams_damaged_*'"
    )
    aside = f"streams_damaged_{earlier[0][0] + 1}"  # a second rebuild keeps the first aside too
    await fetchall(conn, "PRAGMA foreign_keys = OFF")
    await fetchall(conn, "PRAGMA legacy_alter_table = ON")
    try:
        await conn.execute("BEGIN IMMEDIATE")
        try:
            await conn.execute(f"DROP TABLE IF EXISTS {_REBUILT}")
            await conn.execute(create)
            await conn.executemany(_INSERT_ROW, rows)
            await conn.execute(QUARANTINE_DDL)
            now = time.time()
            await conn.executemany(
                "INSERT OR REPLACE INTO quarantine (stream_id, reason, at) VALUES (?, ?, ?)",
                [(sid, why, now) for sid, why in damaged.items()],
            )
            await conn.execute(f"ALTER TABLE streams RENAME TO {aside}")
            old = await fetchall(
                conn,
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ? "
                "AND sql IS NOT NULL",
                (aside,),
            )
            for (name,) in old:
                await conn.execute(f'DROP INDEX "{name}"')
            await conn.execute(f"ALTER TABLE {_REBUILT} RENAME TO streams")
            for index in indexes:
                await conn.execute(index)
            await conn.commit()
        except sqlite3.Error as exc:
            await conn.rollback()
            raise JournalCorrupted(
                f"the journal's run rows could not be rebuilt ({exc}); nothing was changed. "
                "Salvage what is readable with `sqlite3 FILE .recover` into a new file"
            ) from exc
    finally:
        await fetchall(conn, "PRAGMA legacy_alter_table = OFF")
        await fetchall(conn, "PRAGMA foreign_keys = ON")
    return aside
