"""The arrays one commit round of the PostgreSQL journal writes (pure: no I/O).

A round of accepted appends, numbered from `first` in submission order,
becomes the column arrays of `UPSERT_STREAMS` and `INSERT_RECORDS`
(`_postgres_schema`). Several appends of one stream in a round fold into
one stream row, as the SQLite journal's successive upserts would leave it:
the last append's `StreamInfo`, the latest snapshot of the round (with the
seq of the record it includes), and the seq of the stream's first record in
the round as its `created_order` (kept by the upsert if the row exists),
its partition (`partition_of`) and the highest inbox message id its
appends applied (`Append.inbox_seen`; the upsert keeps the greater). Each record carries the writing
journal's owner and the epoch of its partition's lease (both None for a
journal that is not fenced).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from cadenza.persistence._codec import EncodedAppend
from cadenza.persistence._journal import StreamInfo
from cadenza.persistence._postgres_schema import partition_of


def stream_values(info: StreamInfo) -> list[Any]:
    """The `STREAM_COLUMNS` values of a stream row, typed for PostgreSQL."""
    return [
        info.stream_id,
        info.kind,
        info.version,
        info.status,
        bool(info.terminal),
        float(info.created_at),
        float(info.updated_at),
        info.key,
        info.correlation_id,
        info.parent_id,
        info.priority,
        bool(info.parked),
        None if info.wake_at is None else float(info.wake_at),
        json.dumps(dict(info.timers), sort_keys=True) if info.timers else None,
    ]


def round_arrays(
    appends: Sequence[EncodedAppend],
    first: int,
    *,
    owner: str | None = None,
    epochs: Mapping[int, int] | None = None,
) -> tuple[list[list[Any]], list[list[Any]]]:
    """(stream column arrays, record column arrays) for appends numbered from `first`.

    Each record carries `owner` and its partition's epoch in `epochs` (None
    when the journal is not fenced).
    """
    rows: dict[str, list[Any]] = {}  # stream → its folded row, in first-seen order
    records: list[list[Any]] = [[], [], [], [], [], []]
    for seq, enc in enumerate(appends, start=first):
        sid = enc.stream_id
        partition = partition_of(sid)
        row = rows.get(sid)
        values = stream_values(enc.append.info)
        if row is None:
            row = rows[sid] = [*values, None, None, None, seq, partition, None]
        else:
            row[: len(values)] = values
        if enc.snapshot is not None:
            row[14], row[15], row[16] = enc.snapshot, enc.snapshot_crc, seq
        if (seen := enc.append.inbox_seen) is not None:
            row[19] = seen if row[19] is None else max(row[19], seen)
        epoch = None if epochs is None else epochs.get(partition)
        record = (seq, sid, enc.payload, enc.crc, owner, epoch)
        for column, value in zip(records, record, strict=True):
            column.append(value)
    columns: list[list[Any]] = [list(col) for col in zip(*rows.values(), strict=True)]
    if not columns:
        columns = [[] for _ in range(20)]
    return columns, records
