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
the fence (with an owner), the key check (only when the round carries
keys), the seqs taken from the counter row, one `unnest` upsert for the
streams and one `unnest` insert for the records (`_postgres_round`),
`COMMIT` — and no appender of the round resumes before the
commit returns. With durability "full" the commit waits for the server's
WAL flush (`synchronous_commit = on`); with "normal" it does not
(`synchronous_commit = off`): a crash of this process loses nothing, a crash
of the server may lose the last rounds, never corrupting older ones. A
round that fails is rolled back and each of its appenders gets a
`JournalWriteError`; its connection is dropped, and the next round opens a
fresh one. A connection lost *during* `COMMIT` leaves the outcome unknown to
the client: the appenders are told it failed, and a retry of the same
events may then find them written.

Reads use a pool of separate connections, so they never wait behind a
commit; `load` reads the stream row and its records in one repeatable-read
transaction, so they agree.

The driver is asyncpg, imported when a journal opens: at 64 appenders it wrote
5,134 records/s at 45 us of client CPU each, psycopg 3.3 (pipeline) 3,817 at 72 us
(`benchmarks/bench_pg_journal.py`); CPU is what runtimes sharing a host run out of.

A journal is by default the database's one owner (`JournalBusy` for a
second, as on SQLite). With an `owner` name it is a `SharedJournal`
(`_shared`): it writes only its leased partitions' streams, each write
checked against the lease's epoch in its own transaction (`acquire`,
`renew`, `release`: `_postgres_leases`; `balance`: `_postgres_members`),
and recovers (`unfinished`) only those. Rounds of several writers are
serialised by the counter row's lock, so seqs follow commit order.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, TypeVar

import anyio

from cadenza._errors import InternalError, JournalCorrupted
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
from cadenza.persistence._group import Hold, Ticket, stream_committer, submit_prepared
from cadenza.persistence._journal import (
    Append,
    DefinitionRecord,
    JournalClosed,
    JournalStats,
    JournalWriteError,
    JSONObject,
    Loaded,
    StreamInfo,
)
from cadenza.persistence._postgres_connect import (
    SYNCHRONOUS_COMMIT,
    Writer,
    connect,
    is_postgres_url,
    redact_url,
)
from cadenza.persistence._postgres_inbox import PostgresInbox
from cadenza.persistence._postgres_leases import Leases, check_lease_s
from cadenza.persistence._postgres_members import Balance, balance, leave
from cadenza.persistence._postgres_round import commit_round
from cadenza.persistence._postgres_schema import PARTITIONS
from cadenza.persistence._schema import info_from_row
from cadenza.persistence._shared import SharedJournal

log = get_logger("cadenza.persistence")

T = TypeVar("T")


class PostgresJournal(SharedJournal):
    """The journal in a PostgreSQL database; see the module note.

    `durability` is "full" (`synchronous_commit = on`) or "normal" (`off`);
    `batch_max` bounds the appends of one transaction; `read_connections`
    bounds the read pool; `clock` stamps definition registrations.
    Without an `owner` the journal is by default the database's one owner
    (see `_postgres_connect`); `exclusive=False` lets several journals write
    one database (their seqs stay distinct and gapless) and leaves keeping
    two of them off one stream to the caller. With `owner` (a name unique
    among the processes sharing the database) it is fenced: it appends only
    to streams of partitions it holds (`acquire`), else `OwnershipLost`;
    the server ends its write session if it sits `stalled_s` inside a
    transaction (paused mid-round), so the fences it held cannot block a
    takeover for longer.

    Raises (from `open`): `JournalUnavailable` (server unreachable, login
    refused, no such database, no asyncpg); `JournalCorrupted` (a schema
    this cadenza cannot read); `JournalBusy` (exclusive, and another live
    journal owns the database).
    """

    def __init__(
        self,
        url: str,
        *,
        durability: str = "full",
        batch_max: int = 4096,
        read_connections: int = 4,
        clock: Callable[[], float] = time.time,
        exclusive: bool | None = None,
        owner: str | None = None,
        stalled_s: float = 5.0,
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
        if owner is not None and exclusive:
            raise ValueError("a journal with an owner shares its database: exclusive must be False")
        self.exclusive = owner is None if exclusive is None else exclusive
        self.leases = None if owner is None else Leases(owner)
        self.stalled_s = check_lease_s(stalled_s, "stalled_s")
        self.stats = JournalStats()
        self.faults: JournalFaults | None = None  # off: see `_faults`
        self._clock = clock
        self._state = "new"  # new → open → closing → closed (→ open again)
        self._writer: Writer | None = None  # the one write connection
        self._rpool: Any = None  # asyncpg.Pool: the readers
        self._write_lock = anyio.Lock()
        self._closed: anyio.Event | None = None
        self._committer = stream_committer(self._commit_round, self.batch_max)

    def __repr__(self) -> str:
        return f"PostgresJournal({redact_url(self.url)!r}, durability={self.durability!r}) [{self._state}]"

    # -- lifecycle ---------------------------------------------------------

    async def open(self) -> None:
        if self._state == "open":
            return
        if self._state == "closing":
            raise JournalClosed(f"{self!r} is closing; open it again once close() returns")
        self._writer, self._rpool = await connect(
            self.url,
            self.durability,
            read_connections=self.read_connections,
            exclusive=self.exclusive,
            stalled_s=None if self.leases is None else self.stalled_s,
        )
        self._committer = stream_committer(self._commit_round, self.batch_max)
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
                if self.leases is not None:  # a graceful leave
                    async with self._write_lock:
                        conn = await _present(self._writer).connection()
                        await leave(conn, self.leases)
            except Exception as exc:  # the leases then run out on their own
                log.warning("journal.release_failed", error=repr(exc))
            finally:
                if self._writer is not None:
                    await self._writer.close()
                try:
                    await self._rpool.close()
                except Exception as exc:  # a broken connection: drop them all
                    log.warning("journal.close_failed", error=repr(exc))
                    self._rpool.terminate()
                self._writer = self._rpool = None
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
        return await self._committer.submit(self._encoded(append))

    async def append_many(self, appends: Sequence[Append]) -> list[int | Exception]:
        return await submit_prepared(self._committer, appends, self._encoded)

    def _encoded(self, append: Append) -> EncodedAppend:
        """`append` encoded; `JournalClosed`, or `OwnershipLost` for a stream not leased here."""
        if self._state != "open":
            raise self._closed_error()
        encoded = encode_append(append)
        if self.leases is not None:
            self.leases.refuse_unheld(encoded.stream_id)  # nothing queued
        return encoded

    async def flush(self) -> None:
        if self._state in ("open", "closing"):
            await self._committer.flush()

    def gathering(self, stream_ids: Collection[str]) -> AbstractAsyncContextManager[Hold]:
        return self._committer.hold(stream_ids)

    async def _commit_round(self, batch: list[Ticket[EncodedAppend]]) -> None:
        """One transaction for a round of appends (`commit_round`); resolves every ticket."""
        async with self._write_lock:
            try:
                if self.faults is not None:
                    self.faults.before_commit(batch[0].item.stream_id)
                accepted, first = await commit_round(
                    _present(self._writer).connection, batch, self.leases
                )
            except Exception as exc:
                _present(self._writer).failed(exc)
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

    async def last_seq(self) -> int:
        async with self._reading() as conn:
            value: int | None = await conn.fetchval(sql.LAST_SEQ)
        return value or 0

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

    async def unfinished_rows(self, partitions: Iterable[int] | None = None) -> list[StreamInfo]:
        """The unfinished streams' rows; a fenced journal's: its held partitions' (of those)."""
        async with self._reading() as conn:
            if self.leases is None:
                rows = await conn.fetch(sql.UNFINISHED_ROWS)
            else:
                held = set(self.leases.held).intersection(
                    self.leases.held if partitions is None else partitions
                )
                rows = await conn.fetch(sql.UNFINISHED_ROWS_IN, sorted(held))
        return [info_from_row(row) for row in rows]

    async def unfinished(self) -> list[str]:
        """The unfinished streams' ids; a fenced journal's: only its held partitions'."""
        async with self._reading() as conn:
            if self.leases is None:
                rows = await conn.fetch(sql.UNFINISHED)
            else:
                rows = await conn.fetch(sql.UNFINISHED_IN, sorted(self.leases.held))
        return [row[0] for row in rows]

    # -- partition leases (a journal with an owner; see `_postgres_leases`) --

    async def acquire(
        self, lease_s: float, partitions: Iterable[int] | None = None, *, limit: int = PARTITIONS
    ) -> dict[int, int]:
        """Take up to `limit` free or expired partitions; {partition: epoch} of those taken."""
        lease_s = check_lease_s(lease_s)
        return await self._leasing(
            lambda leases, conn: leases.acquire(conn, lease_s, partitions, limit)
        )

    async def renew(self, lease_s: float) -> set[int]:
        """Extend the held leases on the database's clock; the partitions found taken over."""
        lease_s = check_lease_s(lease_s)
        return await self._leasing(lambda leases, conn: leases.renew(conn, lease_s))

    async def release(self, partitions: Iterable[int] | None = None) -> list[int]:
        """Flush, then give held partitions (default: all) back at once; those released."""
        await self.flush()
        return await self._leasing(lambda leases, conn: leases.release(conn, partitions))

    async def balance(self, lease_s: float) -> Balance:
        """One membership tick: heartbeat, renew, then release or take up to an even share.

        Run it every `lease_s / 3` (see `_postgres_members`). It flushes
        first, so appends already accepted for partitions it gives up are
        written before they go.
        """
        lease_s = check_lease_s(lease_s)
        await self.flush()
        return await self._leasing(lambda leases, conn: balance(conn, leases, lease_s))

    def open_inbox(self, poll_s: float) -> PostgresInbox:
        return PostgresInbox(self.url, poll_s=poll_s)

    async def _leasing(self, act: Callable[[Leases, Any], Awaitable[T]]) -> T:
        if self.leases is None:
            raise ValueError(f"{self!r} has no owner: open it with owner=... to hold partitions")
        leases = self.leases
        if self._state != "open":
            raise self._closed_error()
        async with self._write_lock:
            with anyio.CancelScope(shield=True):
                conn = await _present(self._writer).connection()
                return await act(leases, conn)
        raise InternalError("a shielded scope cannot be cancelled")  # pragma: no cover

    # -- definitions -------------------------------------------------------

    async def put_definition(self, name: str, version: int, body: JSONObject) -> DefinitionRecord:
        if self._state != "open":
            raise self._closed_error()
        digest, data = canonical(body, f"definition {name!r} version {version}")
        now = self._clock()
        async with self._write_lock:
            if self._writer is None:
                raise self._closed_error()
            with anyio.CancelScope(shield=True):
                try:
                    conn = await self._writer.connection()
                    async with conn.transaction():
                        await conn.execute(sql.PUT_BODY, digest, name, version, data, now)
                        current = await conn.fetchval(sql.CURRENT_DIGEST, name, version)
                        if current != digest:
                            await conn.execute(sql.PUT_VERSION, name, version, digest)
                        registered_at: float = await conn.fetchval(sql.REGISTERED_AT, digest)
                except Exception as exc:
                    self._writer.failed(exc)
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


def _present(writer: Writer | None) -> Writer:
    """The writer, which is always there while the journal is open or closing."""
    if writer is None:
        raise InternalError("the write connection is missing while the journal is in use")
    return writer
