"""One group-commit round of the SQLite journal: a transaction, split if it fails.

Design note
-----------
A round is one transaction: `BEGIN IMMEDIATE`, the key checks, the stream
rows (each as narrow a write as it can be: `_sqlite_rows`) and record
inserts, `COMMIT` (see `_sqlite` for the fsync points).
Appends from many callers share it, so one append the database refuses (a
value it cannot hold, a constraint) must not fail its neighbours: when the
round's transaction fails, it is rolled back and **split** — each of its
appends is committed again alone, in its own transaction, in submission
order. An append that fails alone gets its own `JournalWriteError` (its
`batch_size` is 1); the others land. When the cause is not one member (a
full disk, an I/O error), every single fails as well, which costs one
quick failing transaction per member: rounds are bounded by `batch_max`.

Before each round the writer checks that the path still names the file it
opened (device and inode, one `stat`): a journal unlinked or replaced under
a live runtime would take commits into a file nobody will ever read again,
so from then on every append fails with a `JournalWriteError` that is not
transient — the runtime stops acknowledging instead of losing what it
acknowledges (issue 13).

A ticket refused for a key another stream holds (`DuplicateKey`) is
resolved only once its transaction commits: if the transaction fails, the
verdict is made again when the ticket is committed alone.
"""

from __future__ import annotations

import json
import os
import sqlite3

import aiosqlite

from cadenza._log import get_logger
from cadenza.persistence import _schema as sql
from cadenza.persistence._codec import EncodedAppend
from cadenza.persistence._faults import JournalFaults
from cadenza.persistence._group import Ticket
from cadenza.persistence._journal import DuplicateKey, JournalStats, JournalWriteError
from cadenza.persistence._keys import KeyLedger
from cadenza.persistence._schema import in_thread
from cadenza.persistence._sqlite_rows import Batch, Head, Heads, round_rows, stream_keys

log = get_logger("cadenza.persistence")


class RoundWriter:
    """Writes rounds of appends into one connection; `last_seq` is the journal's last seq."""

    def __init__(
        self,
        path: str,
        stats: JournalStats,
        last_seq: int = 0,
        identity: tuple[int, int] | None = None,
    ):
        self.path = path
        self.stats = stats
        self.last_seq = last_seq
        self.identity = identity  # (st_dev, st_ino) of the file opened; None: no file
        self.splits = 0  # rounds whose transaction failed and were split
        self.gone: OSError | None = None  # the file was unlinked or replaced: see the note
        self.heads = Heads()  # the streams' heads as the last rounds left them

    async def write(
        self, conn: aiosqlite.Connection, batch: Batch, faults: JournalFaults | None
    ) -> None:
        """Commit `batch` in one transaction, or (if that fails) one transaction per append."""
        gone = self._moved()
        if gone is not None:
            self._fail(batch, gone, transient=False)
            return
        error = await self._transaction(conn, batch, faults)
        if error is None:
            return
        pending = [t for t in batch if not t.done]
        if len(pending) > 1:
            self.splits += 1
            log.warning(
                "journal.round_split", path=self.path, batch=len(pending), error=repr(error)
            )
            for ticket in pending:
                alone = await self._transaction(conn, [ticket], faults)
                if alone is not None and not ticket.done:
                    self._fail([ticket], alone)
        elif pending:
            self._fail(pending, error)

    def _moved(self) -> OSError | None:
        """Why the path no longer names the file opened, or None (it does, or there is none)."""
        if self.gone is not None or self.identity is None:
            return self.gone
        try:
            found = os.stat(self.path)
        except FileNotFoundError as exc:
            self.gone = FileNotFoundError(f"the journal file {self.path!r} was unlinked ({exc})")
        else:
            if (found.st_dev, found.st_ino) == self.identity:
                return None
            self.gone = FileExistsError(
                f"the journal file {self.path!r} was replaced by another file"
            )
        log.error("journal.file_gone", path=self.path, error=str(self.gone))
        return self.gone

    def _fail(self, tickets: Batch, error: BaseException, *, transient: bool = True) -> None:
        for ticket in tickets:
            ticket.fail(
                JournalWriteError(
                    f"append to stream {ticket.item.stream_id!r}",
                    error,
                    stream_id=ticket.item.stream_id,
                    batch_size=len(tickets),
                    transient=transient,
                )
            )
        log.error("journal.commit_failed", path=self.path, batch=len(tickets), error=repr(error))

    async def _transaction(
        self, conn: aiosqlite.Connection, batch: Batch, faults: JournalFaults | None
    ) -> Exception | None:
        """One transaction for `batch`; resolves what committed, returns the error if it failed.

        The transaction runs on the connection's thread in one hop (`in_thread`).
        """
        try:
            if faults is not None:
                faults.before_commit(batch[0].item.stream_id)
                faults.check_members(t.item.append for t in batch)
            accepted, refused = await in_thread(conn, lambda db: self._commit(db, batch))
        except Exception as exc:
            return exc
        for ticket, duplicate in refused:
            ticket.fail(duplicate)
        first = self.last_seq + 1
        for offset, ticket in enumerate(accepted):
            ticket.succeed(first + offset)
        self.last_seq += len(accepted)
        if accepted:
            stats = self.stats
            stats.records += len(accepted)
            stats.events += sum(t.item.event_count for t in accepted)
            stats.commits += 1
            stats.largest_batch = max(stats.largest_batch, len(accepted))
        return None

    def _commit(
        self, db: sqlite3.Connection, batch: Batch
    ) -> tuple[Batch, list[tuple[Ticket[EncodedAppend], DuplicateKey]]]:
        """The transaction itself, on the connection's thread; rolled back if it fails."""
        try:
            db.execute("BEGIN IMMEDIATE")
            heads = self.heads.read(db, batch)
            accepted, refused = self._claim_keys(db, batch, heads)
            streams, records, after = round_rows(accepted, heads, self.last_seq + 1)
            for statement, params in streams:
                db.executemany(statement, params)
            db.executemany(sql.INSERT_RECORD, records)
            db.execute("COMMIT")
        except BaseException:
            self.heads.forget()
            rollback_now(db)
            raise
        self.heads.committed(after)
        return accepted, refused

    def _claim_keys(
        self, db: sqlite3.Connection, batch: Batch, heads: dict[str, Head]
    ) -> tuple[Batch, list[tuple[Ticket[EncodedAppend], DuplicateKey]]]:
        """The appends whose keys are free (in order), and those another stream's key refuses.

        The keys of the batch's existing streams are in their `heads`; so are the holders
        of those keys (a key has one holder). Only the holders of the others are read.
        """
        keys = {k for t in batch if (k := t.item.append.info.key) is not None}
        if not keys:
            return list(batch), []
        keys_of = stream_keys(heads)
        holders = {key: sid for sid, key in keys_of.items() if key is not None}
        unknown = sorted(k for k in keys if k not in holders)
        if unknown:
            holders.update(db.execute(sql.KEY_HOLDERS, (json.dumps(unknown),)).fetchall())
        ledger = KeyLedger(holders, keys_of)
        accepted: Batch = []
        refused: list[tuple[Ticket[EncodedAppend], DuplicateKey]] = []
        for ticket in batch:
            duplicate = ledger.claim(ticket.item.stream_id, ticket.item.append.info.key)
            if duplicate is None:
                accepted.append(ticket)
            else:
                refused.append((ticket, duplicate))
        return accepted, refused


async def rollback(conn: aiosqlite.Connection) -> None:
    """Roll back whatever is open; a failed rollback leaves SQLite's own undo to act."""
    try:
        await conn.rollback()
    except Exception as exc:  # the connection is broken; the next BEGIN will say so
        log.error("journal.rollback_failed", error=repr(exc))


def rollback_now(db: sqlite3.Connection) -> None:
    """`rollback` on the connection's thread."""
    try:
        if db.in_transaction:
            db.execute("ROLLBACK")
    except Exception as exc:  # the connection is broken; the next BEGIN will say so
        log.error("journal.rollback_failed", error=repr(exc))
