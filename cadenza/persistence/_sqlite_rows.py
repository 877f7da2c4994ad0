"""The statements of one SQLite round: each stream row written as cheaply as it can be.

Design note
-----------
Each append leaves its stream's row behind (its `StreamInfo`, the snapshot
if it carries one, the chain head) and chains its record to the stream's
last. The full upsert (`UPSERT_STREAM`) assigns every column in its
`DO UPDATE`, so SQLite rewrites every index of `streams` (six and the key's)
for every record — most of a round's cost (issue 14) — although most appends
of a running stream change only columns no index holds (`updated_at`,
`wake_at`, the chain...). So each append is compared with the stream's row
as it stands, and written with the narrowest of three statements that
leaves exactly the row the full upsert would:

- a new stream, or a change to an indexed column (`INDEXED_COLUMNS`): the
  full upsert;
- else, when it carries a snapshot or changes another column besides
  `updated_at`: `UPDATE_STREAM_KEPT`, which assigns only the columns no
  index holds (SQLite skips an index none of whose columns is assigned);
- else `UPDATE_STREAM_TOUCHED`: `updated_at` and the chain head only.

The row compared with is the one the round's earlier appends left, or the
one the writer's committed rounds left (`Heads`: the journal is its file's
only writer), or else the file's (read with the chain head). Values equal in
Python are stored alike, except a number in a TEXT column (1 and 1.0: '1'
and '1.0'), so a row holding one is never compared from memory. Statements
run in submission order (a key may pass from one stream to another within a
round, and a stream's own appends must land in order), each run of
consecutive statements of one shape as one `executemany`.
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
Head = tuple[int | None, int | None, tuple[Any, ...]]  # last number, its checksum, row
Statements = list[tuple[str, list[tuple[Any, ...]]]]  # (statement, parameter rows) in order

_NAMES = sql.STREAM_COLUMNS.split(", ")
_indexed = itemgetter(*(_NAMES.index(c) for c in sql.INDEXED_COLUMNS))
_kept = itemgetter(*(_NAMES.index(c) for c in sql.KEPT_COLUMNS))
_steady = itemgetter(  # what UPDATE_STREAM_TOUCHED leaves as it is, besides the indexed
    *(_NAMES.index(c) for c in sql.KEPT_COLUMNS if c != "updated_at")
)
_UPDATED_AT = _NAMES.index("updated_at")
_KEY = _NAMES.index("key")
_text = itemgetter(  # the TEXT columns, which may be given a number
    *(_NAMES.index(c) for c in ("kind", "status", "key", "correlation_id", "parent_id", "timers"))
)
_STR_OR_NONE = frozenset((str, type(None)))


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
        for a schema-1 stream) and its row (the `STREAM_COLUMNS` values)."""
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
                heads[row[2]] = (row[0], row[1], tuple(row[2:]))
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


def stream_keys(heads: dict[str, Head]) -> dict[str, Any]:
    """The key (or None) each stream of `heads` holds."""
    return {sid: head[2][_KEY] for sid, head in heads.items()}


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
    rows: dict[str, tuple[Any, ...] | None] = {}  # each stream's row as the round left it
    statements: Statements = []
    records: list[tuple[Any, ...]] = []
    for seq, ticket in enumerate(accepted, start=first_seq):
        enc = ticket.item
        sid = enc.stream_id
        if sid not in chain:
            number, crc, was = heads.get(sid, (0, 0, None))
            chain[sid] = None if number is None else (number, crc or 0)
            rows[sid] = was
        head = chain[sid]
        stream_seq = prev_crc = last_crc = None
        if head is not None:
            stream_seq, prev_crc, last_crc = head[0] + 1, head[1], enc.crc
            chain[sid] = (stream_seq, enc.crc)
        row = enc.row
        old = rows[sid]
        rows[sid] = row if _stored_as_given(row) else None
        statement, params = _statement(enc, seq, stream_seq, last_crc, old)
        if statements and statements[-1][0] is statement:
            statements[-1][1].append(params)
        else:
            statements.append((statement, [params]))
        records.append((seq, sid, enc.payload, enc.crc, stream_seq, prev_crc))
    after: dict[str, Head] = {}
    for sid, head in chain.items():
        was = rows[sid]
        if was is not None:
            number, crc = (None, None) if head is None else head
            after[sid] = (number, crc, was)
    return statements, records, after


def _statement(
    enc: EncodedAppend,
    seq: int,
    stream_seq: int | None,
    last_crc: int | None,
    old: tuple[Any, ...] | None,
) -> tuple[str, tuple[Any, ...]]:
    """The narrowest statement (and its parameters) that turns the stream row `old` (None:
    none, or not known) into the one `enc` leaves, record `seq` being its `stream_seq`th."""
    row = enc.row
    snapshot = enc.snapshot is not None
    if old is None or _indexed(old) != _indexed(row):
        return sql.UPSERT_STREAM, (
            *row,
            enc.snapshot,
            enc.snapshot_crc,
            seq if snapshot else None,
            seq,  # created_order, if the row is new
            stream_seq,
            last_crc,
            stream_seq if snapshot else None,
        )
    if not snapshot and _steady(old) == _steady(row):
        return sql.UPDATE_STREAM_TOUCHED, (row[_UPDATED_AT], stream_seq, last_crc, row[0])
    return sql.UPDATE_STREAM_KEPT, (
        *_kept(row),
        enc.snapshot,
        enc.snapshot_crc,  # None without a snapshot, as its coalesce keeps the stored one
        seq if snapshot else None,
        stream_seq,
        last_crc,
        stream_seq if snapshot else None,
        row[0],
    )


def _stored_as_given(row: tuple[Any, ...]) -> bool:
    """Whether SQLite stores this row's values as they are, so that values equal to them are
    stored the same: not so a number in a TEXT column (1 and 1.0 are equal, but stored as
    '1' and '1.0'); a stream whose row holds one is compared with the file's row instead."""
    return set(map(type, _text(row))) <= _STR_OR_NONE
