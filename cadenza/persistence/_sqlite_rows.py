"""The statements of one SQLite round: each stream row written as cheaply as it can be.

Design note
-----------
Each append leaves its stream's row behind (its `StreamInfo`, the snapshot
if it carries one, the chain head) and chains its record to the stream's
last. The full upsert (`UPSERT_STREAM`) assigns every column in its
`DO UPDATE`, so SQLite rewrites every index of `streams` (six and the key's)
for every record — most of a round's cost (issue 14) — although most appends
of a running stream change only columns no index holds (`updated_at`,
`wake_at`, the chain...). So the round reads, beside each existing stream's
chain head, its `INDEXED_COLUMNS`; an append that leaves them as they are is
written with `UPDATE_STREAM_KEPT`, which assigns only the other columns
(SQLite skips an index none of whose columns is assigned). A new stream, or
an append that changes an indexed column, gets the full upsert. Both leave
exactly the row the full upsert would.

Within a round the comparison is with the stream's row as the round's
earlier appends left it, and between rounds with the row the writer's last
round left (`Heads`): values equal in Python are stored alike, except a
number in a TEXT column, which sends the stream back to the file's value. Statements run in submission order (a key may pass
from one stream to another within a round, and a stream's own appends must
land in order), each run of consecutive statements of one shape as one
`executemany`.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
from operator import itemgetter
from typing import Any

from cadenza.persistence import _schema as sql
from cadenza.persistence._codec import EncodedAppend
from cadenza.persistence._group import Ticket

Batch = list[Ticket[EncodedAppend]]
Head = tuple[int | None, int | None, tuple[Any, ...]]  # last number, its checksum, indexed
Statements = list[tuple[str, list[tuple[Any, ...]]]]  # (statement, parameter rows) in order

_NAMES = sql.STREAM_COLUMNS.split(", ")
_indexed = itemgetter(*(_NAMES.index(c) for c in sql.INDEXED_COLUMNS))
_TEXT = tuple(  # positions in `_indexed` of the TEXT columns
    i for i, c in enumerate(sql.INDEXED_COLUMNS) if c in ("kind", "status", "key", "correlation_id")
)
_kept = itemgetter(*(i for i, c in enumerate(_NAMES) if c not in sql.INDEXED_COLUMNS and i))


class Heads:
    """The heads of the streams this writer wrote, remembered between rounds (at most `limit`).

    A round needs each stream's head (`Head`); reading it is a query, and
    most rounds write streams the last rounds wrote. The journal is its
    file's only writer, so what a committed round left is what the file
    holds: `committed` remembers it, and `read` queries only the streams it
    does not know. Any failed transaction calls `forget`, so a head is never
    remembered from a round the file may not hold.
    """

    def __init__(self, limit: int = 16384):
        self.limit = limit
        self.known: dict[str, Head] = {}

    def read(self, db: sqlite3.Connection, batch: Batch) -> dict[str, Head]:
        """Each existing stream of `batch`: its last record's number and checksum (None, None
        for a schema-1 stream) and its `INDEXED_COLUMNS` values, in the order of `_indexed`."""
        known = self.known
        heads: dict[str, Head] = {}
        missing: set[str] = set()
        for ticket in batch:
            sid = ticket.item.stream_id
            head = known.get(sid)
            if head is not None:
                heads[sid] = head
            else:
                missing.add(sid)
        if missing:
            rows = db.execute(sql.CHAIN_HEADS, (json.dumps(sorted(missing)),)).fetchall()
            for row in rows:
                heads[row[0]] = (row[1], row[2], tuple(row[3:]))
        return heads

    def committed(self, after: dict[str, Head]) -> None:
        """Remember the heads a committed round left (the most recent last)."""
        known = self.known
        for sid, head in after.items():
            known.pop(sid, None)
            known[sid] = head
        excess = len(known) - self.limit
        if excess > 0:
            for sid in list(itertools.islice(known, excess)):
                del known[sid]

    def forget(self) -> None:
        """A transaction failed: read every head from the file again."""
        self.known.clear()


def round_rows(
    accepted: Batch, heads: dict[str, Head], first_seq: int
) -> tuple[Statements, list[tuple[Any, ...]], dict[str, Head]]:
    """The stream statements (see the note) and the record inserts of `accepted`, whose
    records take the seqs from `first_seq` on, each chained to its stream's last; and
    the head each stream of `accepted` has once they are written.

    A new stream starts at record 1 after checksum 0; a stream from a
    schema-1 file (its row has no number) stays unchained (`_schema`).
    """
    chain: dict[str, tuple[int, int] | None] = {}
    indexed: dict[str, tuple[Any, ...] | None] = {}  # as the round left it so far
    statements: Statements = []
    records: list[tuple[Any, ...]] = []
    for seq, ticket in enumerate(accepted, start=first_seq):
        enc = ticket.item
        sid = enc.stream_id
        if sid not in chain:
            number, crc, was = heads.get(sid, (0, 0, None))
            chain[sid] = None if number is None else (number, crc or 0)
            indexed[sid] = was
        head = chain[sid]
        stream_seq = prev_crc = last_crc = None
        if head is not None:
            stream_seq, prev_crc, last_crc = head[0] + 1, head[1], enc.crc
            chain[sid] = (stream_seq, enc.crc)
        snapshot_seq = snapshot_number = None
        if enc.snapshot is not None:
            snapshot_seq, snapshot_number = seq, stream_seq
        row = enc.row
        now = _indexed(row)
        if indexed[sid] == now:
            statement = sql.UPDATE_STREAM_KEPT
            params: tuple[Any, ...] = (
                *_kept(row),
                enc.snapshot,
                enc.snapshot_crc,
                snapshot_seq,
                stream_seq,
                last_crc,
                snapshot_number,
                sid,
            )
        else:
            statement = sql.UPSERT_STREAM
            params = (
                *row,
                enc.snapshot,
                enc.snapshot_crc,
                snapshot_seq,
                seq,  # created_order, if the row is new
                stream_seq,
                last_crc,
                snapshot_number,
            )
            indexed[sid] = now if _stored_as_given(now) else None
        if statements and statements[-1][0] is statement:
            statements[-1][1].append(params)
        else:
            statements.append((statement, [params]))
        records.append((seq, sid, enc.payload, enc.crc, stream_seq, prev_crc))
    after: dict[str, Head] = {}
    for sid, head in chain.items():
        was = indexed[sid]
        if was is not None:
            number, crc = (None, None) if head is None else head
            after[sid] = (number, crc, was)
    return statements, records, after


def _stored_as_given(values: tuple[Any, ...]) -> bool:
    """Whether SQLite stores these `INDEXED_COLUMNS` values as they are, so that values equal
    to them are stored the same: not so a number in a TEXT column (1 and 1.0 are equal, but
    stored as '1' and '1.0'); a head holding one is compared with the file's, not with it."""
    return all(type(values[i]) is str or values[i] is None for i in _TEXT)
