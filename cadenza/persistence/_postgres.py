"""The PostgreSQL journal: the same promises as SQLite's, in a shared database.

Design note
-----------
`PostgresJournal("postgresql://user:pw@host:5432/db")` keeps the `Journal`
contract of the SQLite journal (`_sqlite`) with the same record format: a
record's events are compact JSON (`bytea`), checksummed with the same CRC32
binding them to their stream (`_codec`), verified on every load; the
current-state table `streams` is upserted in the record's transaction; a
snapshot replaces the events it includes. The schema (`_postgres_schema`)
lives in the schema `cadenza` of the database the URL names, created on
first open (`_postgres_connect`); a round's rows are built by
`_postgres_rows`.

Group commit: appends go through the same `GroupCommitter` (`_group`) as on
SQLite; one round is one transaction on the single write connection —
the key check (only when the round carries keys), the seqs taken from the
counter row, one `unnest` upsert for the streams and one `unnest` insert for
the records, `COMMIT` — and no appender of the round resumes before the
commit returns. With durability "full" the commit waits for the server's
WAL flush (`synchronous_commit = on`); with "normal" it does not
(`synchronous_commit = off`): a crash of this process loses nothing, a crash
of the server may lose the last rounds, never corrupting older ones. A
round that fails is rolled back and each of its appenders gets a
`JournalWriteError`; the next round takes a fresh connection if that one
broke. A connection lost *during* `COMMIT` leaves the outcome unknown to
the client: the appenders are told it failed, and a retry of the same
events may then find them written.

Reads use a pool of separate connections, so they never wait behind a
commit; `load` reads the stream row and its records in one repeatable-read
transaction, so they agree.

The driver is asyncpg (asyncio only). On this journal's commit round with
64 appenders (`benchmarks/bench_pg_journal.py`, medians of 5 interleaved
runs on the 2-core CI machine) asyncpg 0.32 wrote 5,134 records/s at 45 us
of client CPU per record, psycopg 3.3 in pipeline mode 3,817 records/s at
72 us: about 1.35x the throughput for 0.6x the CPU, and CPU is what several
runtimes on one small host run out of first. psycopg's advantages (static
types, a sync API, PgBouncer's transaction mode) matter less here: the
journal is async only and wraps the untyped calls in a few typed methods.
The driver is imported when a journal opens, so `cadenza` imports without
the `postgres` extra.

Several processes may open the same database; rounds of different
processes are serialised by the counter row's lock (so seqs follow commit
order). This journal alone does not keep two processes from writing one
stream: ownership of runs across processes is the runtime's business.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import anyio

from cadenza._errors import JournalCorrupted
from cadenza._log import get_logger
from cadenza.persistence import _postgres_schema as sql
from cadenza.persistence._codec import (
    EncodedAppend,
    canonical,
    decode_definition,
    decode_events,
    decode_snapshot,
    encode_append,
)
from cadenza.persistence._faults import JournalFaults
from cadenza.persistence._group import GroupCommitter, Ticket
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
from cadenza.persistence._keys import KeyLedger
from cadenza.persistence._postgres_connect import (
    SYNCHRONOUS_COMMIT,
    connect,
    is_postgres_url,
    redact_url,
)
from cadenza.persistence._postgres_rows import info_from_row, round_arrays

log = get_logger("cadenza.persistence")


class PostgresJournal(Journal):
    """The journal in a PostgreSQL database; see the module note.

    `durability` is "full" (`synchronous_commit = on`) or "normal" (`off`);
    `batch_max` bounds the appends of one transaction; `read_connections`
    bounds the read pool; `clock` stamps definition registrations.

    Raises (from `open`): `JournalUnavailable` when the server cannot be
    reached, refuses the login or has no such database, or when the
    `postgres` extra (asyncpg) is not installed; `JournalCorrupted` when the
    database holds a journal schema this cadenza cannot read.
    """

    def __init__(
        self,
        url: str,
        *,
        durability: str = "full",
        batch_max: int = 4096,
        read_connections: int = 4,
        clock: Callable[[], float] = time.time,
    ):
        if not is_postgres_url(url):
            raise ValueError(f"expected a postgresql:// URL, got {redact_url(url)!r}")
        if durability not in SYNCHRONOUS_COMMIT:
            raise ValueError(
                f"durability must be one of {', '.join(map(repr, SYNCHRONOUS_COMMIT))}, "
                f"got {durability!r}"
            )
        if batch_max < 1:
            raise ValueError(f"batch_max must be at least 1, got {batch_max}")
        if read_connections < 1:
            raise ValueError(f"read_connections must be at least 1, got {read_connections}")
        self.url = url
        self.durability = durability
        self.batch_max = batch_max
        self.read_connections = read_connections
        self.stats = JournalStats()
        self.faults: JournalFaults | None = None  # off: see `_faults`
        self._clock = clock
        self._state = "new"  # new → open → closing → closed (→ open again)
        self._wpool: Any = None  # asyncpg.Pool (one connection): the writer
        self._rpool: Any = None  # asyncpg.Pool: the readers
        self._write_lock = anyio.Lock()
        self._closed: anyio.Event | None = None
        self._committer = GroupCommitter(self._commit_round, batch_max=batch_max)

    def __repr__(self) -> str:
        return f"PostgresJournal({redact_url(self.url)!r}, durability={self.durability!r}) [{self._state}]"

    # -- lifecycle ---------------------------------------------------------

    async def open(self) -> None:
        if self._state == "open":
            return
        if self._state == "closing":
            raise JournalClosed(f"{self!r} is closing; open it again once close() returns")
        self._wpool, self._rpool = await connect(
            self.url, self.durability, read_connections=self.read_connections
        )
        self._committer = GroupCommitter(self._commit_round, batch_max=self.batch_max)
        self._state = "open"
        log.info("journal.opened", path=redact_url(self.url), durability=self.durability)

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
                for pool in (self._wpool, self._rpool):
                    try:
                        await pool.close()
                    except Exception as exc:  # a broken connection: drop it all
                        log.warning("journal.close_failed", error=repr(exc))
                        pool.terminate()
                self._wpool = self._rpool = None
                self._state = "closed"
                closed.set()
        log.info(
            "journal.closed",
            path=redact_url(self.url),
            records=self.stats.records,
            commits=self.stats.commits,
        )

    def _closed_error(self) -> JournalClosed:
        if self._state == "new":
            return JournalClosed(f"{self!r} is not open; call open() or use `async with`")
        return JournalClosed(f"{self!r} is closed; open a new journal on the same URL")

    # -- appends -----------------------------------------------------------

    async def append(self, append: Append) -> int:
        if self._state != "open":
            raise self._closed_error()
        return await self._committer.submit(encode_append(append))

    async def flush(self) -> None:
        if self._state in ("open", "closing"):
            await self._committer.flush()

    async def _commit_round(self, batch: list[Ticket[EncodedAppend]]) -> None:
        """One transaction for a round of appends; resolves every ticket."""
        first = 0
        async with self._write_lock:
            try:
                if self.faults is not None:
                    self.faults.before_commit(batch[0].item.stream_id)
                async with self._wpool.acquire() as conn, conn.transaction():
                    accepted = await _claim_keys(conn, batch)
                    if accepted:
                        last: int = await conn.fetchval(sql.NEXT_SEQS, len(accepted))
                        first = last - len(accepted) + 1
                        streams, records = round_arrays([t.item for t in accepted], first)
                        await conn.execute(sql.UPSERT_STREAMS, *streams)
                        await conn.execute(sql.INSERT_RECORDS, *records)
            except Exception as exc:
                failed = [t for t in batch if not t.done]
                for ticket in failed:
                    ticket.fail(
                        JournalWriteError(
                            f"append to stream {ticket.item.stream_id!r}",
                            exc,
                            stream_id=ticket.item.stream_id,
                            batch_size=len(failed),
                        )
                    )
                log.error(
                    "journal.commit_failed",
                    path=redact_url(self.url),
                    batch=len(failed),
                    error=repr(exc),
                )
                return
        for offset, ticket in enumerate(accepted):
            ticket.succeed(first + offset)
        if accepted:
            self.stats.records += len(accepted)
            self.stats.events += sum(t.item.event_count for t in accepted)
            self.stats.commits += 1
            self.stats.largest_batch = max(self.stats.largest_batch, len(accepted))

    # -- reads -------------------------------------------------------------

    @asynccontextmanager
    async def _reading(self) -> AsyncIterator[Any]:
        """A read connection from the pool; `JournalClosed` once closed."""
        if self._state not in ("open", "closing") or self._rpool is None:
            raise self._closed_error()
        async with self._rpool.acquire() as conn:
            yield conn

    async def load(self, stream_id: str) -> Loaded | None:
        async with self._reading() as conn:
            with anyio.CancelScope(shield=True):  # never leave the read transaction open
                async with conn.transaction(isolation="repeatable_read", readonly=True):
                    row = await conn.fetchrow(sql.LOAD_ROW, stream_id)
                    if row is None:
                        return None
                    records = await conn.fetch(sql.LOAD_RECORDS, stream_id, row[16] or 0)
        return self._decode_loaded(stream_id, row, records)

    def _decode_loaded(self, stream_id: str, row: Any, records: Sequence[Any]) -> Loaded:
        try:
            snapshot = None
            if row[16] is not None:
                snapshot = decode_snapshot(stream_id, row[16], bytes(row[14]), row[15])
            events: list[JSONObject] = []
            for seq, payload, crc in records:
                events.extend(decode_events(stream_id, seq, bytes(payload), crc))
        except JournalCorrupted as exc:
            log.error(
                "journal.corrupted",
                path=redact_url(self.url),
                stream_id=stream_id,
                record=exc.record,
            )
            raise
        return Loaded(info=info_from_row(row), snapshot=snapshot, events=events)

    async def load_many(
        self, stream_ids: Sequence[str]
    ) -> dict[str, Loaded | JournalCorrupted | None]:
        """Many streams in one read transaction (see `Journal.load_many`)."""
        wanted = list(dict.fromkeys(stream_ids))
        async with self._reading() as conn:
            with anyio.CancelScope(shield=True):
                async with conn.transaction(isolation="repeatable_read", readonly=True):
                    rows = await conn.fetch(sql.LOAD_ROWS_IN, wanted)
                    records = await conn.fetch(sql.LOAD_RECORDS_IN, wanted)
        by_stream: dict[str, list[Any]] = {}
        for stream_id, seq, payload, crc in records:
            by_stream.setdefault(stream_id, []).append((seq, payload, crc))
        found = {row[0]: row for row in rows}
        results: dict[str, Loaded | JournalCorrupted | None] = {}
        for stream_id in stream_ids:
            row = found.get(stream_id)
            if row is None:
                results[stream_id] = None
                continue
            try:
                results[stream_id] = self._decode_loaded(
                    stream_id, row, by_stream.get(stream_id, [])
                )
            except JournalCorrupted as exc:
                results[stream_id] = exc
        return results

    async def info(self, stream_id: str) -> StreamInfo | None:
        async with self._reading() as conn:
            row = await conn.fetchrow(sql.INFO, stream_id)
        return None if row is None else info_from_row(row)

    async def find_key(self, key: str) -> str | None:
        async with self._reading() as conn:
            holder: str | None = await conn.fetchval(sql.FIND_KEY, key)
        return holder

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
            rows = await conn.fetch(query, *params)
        return [info_from_row(row) for row in rows]

    async def unfinished_rows(self) -> list[StreamInfo]:
        async with self._reading() as conn:
            rows = await conn.fetch(sql.UNFINISHED_ROWS)
        return [info_from_row(row) for row in rows]

    async def unfinished(self) -> list[str]:
        async with self._reading() as conn:
            rows = await conn.fetch(sql.UNFINISHED)
        return [row[0] for row in rows]

    # -- definitions -------------------------------------------------------

    async def put_definition(self, name: str, version: int, body: JSONObject) -> DefinitionRecord:
        if self._state != "open":
            raise self._closed_error()
        digest, data = canonical(body, f"definition {name!r} version {version}")
        now = self._clock()
        async with self._write_lock:
            if self._wpool is None:
                raise self._closed_error()
            with anyio.CancelScope(shield=True):
                try:
                    async with self._wpool.acquire() as conn, conn.transaction():
                        await conn.execute(sql.PUT_BODY, digest, name, version, data, now)
                        current = await conn.fetchval(sql.CURRENT_DIGEST, name, version)
                        if current != digest:
                            await conn.execute(sql.PUT_VERSION, name, version, digest)
                        registered_at: float = await conn.fetchval(sql.REGISTERED_AT, digest)
                except Exception as exc:
                    raise JournalWriteError(f"definition {name!r} version {version}", exc) from exc
        log.info("journal.definition_put", name=name, version=version, digest=digest)
        return DefinitionRecord(
            name, version, digest, decode_definition(digest, data), registered_at
        )

    async def definitions(self) -> list[DefinitionRecord]:
        async with self._reading() as conn:
            rows = await conn.fetch(sql.DEFINITIONS)
        return [
            DefinitionRecord(name, version, digest, decode_definition(digest, bytes(body)), at)
            for name, version, digest, body, at in rows
        ]

    async def definition_by_digest(self, digest: str) -> DefinitionRecord | None:
        async with self._reading() as conn:
            row = await conn.fetchrow(sql.DEFINITION_BY_DIGEST, digest)
        if row is None:
            return None
        name, version, body, at = row
        return DefinitionRecord(name, version, digest, decode_definition(digest, bytes(body)), at)


async def _claim_keys(conn: Any, batch: list[Ticket[EncodedAppend]]) -> list[Ticket[EncodedAppend]]:
    """Fail (alone) each append whose key another stream holds; the rest, in order."""
    keys = sorted({k for t in batch if (k := t.item.append.info.key) is not None})
    if not keys:
        return list(batch)
    sids = sorted({t.item.stream_id for t in batch})
    rows = await conn.fetch(sql.KEY_ROWS, keys, sids)
    wanted_keys, wanted_sids = set(keys), set(sids)
    holders = {key: sid for sid, key in rows if key in wanted_keys}
    keys_of: dict[str, str | None] = {sid: key for sid, key in rows if sid in wanted_sids}
    ledger = KeyLedger(holders, keys_of)
    accepted = []
    for ticket in batch:
        duplicate = ledger.claim(ticket.item.stream_id, ticket.item.append.info.key)
        if duplicate is None:
            accepted.append(ticket)
        else:
            ticket.fail(duplicate)
    return accepted
