"""Bytes on disk: how records, snapshots and definitions are encoded and checked.

Design note
-----------
A record's payload is its list of events as compact JSON (UTF-8, no spaces,
no NaN or infinities). Its checksum is ``zlib.crc32(stream_id + b"\\0" +
payload)``, so a payload moved to another stream fails its check as surely as
a flipped bit. A snapshot is one JSON object, encoded and checked the same
way. Definitions are stored by content: the digest is the hex sha256 of the
canonical JSON body (sorted keys, compact), and the stored bytes are exactly
what was hashed, so the digest doubles as the definition's checksum.

Encoding happens in the caller, before anything is queued or written, so a
value that is not JSON raises `PayloadError` and leaves the journal untouched.
Records and snapshots are encoded by msgspec, and its bytes kept only if
they read back equal to the value: msgspec writes NaN as null, and bytes,
sets and datetimes as strings and lists, which the journal refuses, so a
value that does not survive the round trip is encoded again by the strict
stdlib encoder, which names what JSON cannot hold. What the journal holds
therefore always reads back as the state held in memory, at under half the
stdlib's cost (msgspec alone is ten times as fast). Definitions are always
encoded by the stdlib: their digest is of those canonical bytes.

Decoding verifies first and parses second; any failure raises
`JournalCorrupted` naming the stream and the record, and returns nothing.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cadenza._errors import JournalCorrupted, PayloadError
from cadenza._json import decode_json, fast_round_trip
from cadenza.persistence._journal import Append, DefinitionRecord, JSONObject, StreamInfo


def checksum(stream_id: str, payload: bytes) -> int:
    """The CRC32 binding `payload` to its stream."""
    return zlib.crc32(payload, zlib.crc32(stream_id.encode() + b"\0"))


_COMPACT = json.JSONEncoder(separators=(",", ":"), allow_nan=False)
_CANONICAL = json.JSONEncoder(separators=(",", ":"), allow_nan=False, sort_keys=True)


def _dumps(value: Any, *, sort_keys: bool = False) -> bytes:
    if not sort_keys:
        fast = fast_round_trip(value)  # what is read back is what is held (module note)
        if fast is not None:
            return fast[0]
    # one encoder built once: json.dumps with options builds a new one per call
    return (_CANONICAL if sort_keys else _COMPACT).encode(value).encode()


def _to_objects(events: Sequence[JSONObject], what: str) -> list[dict[str, Any]]:
    if type(events) is list and all(type(e) is dict for e in events):
        return events  # the usual case, without the ABC checks below; only read
    if isinstance(events, (str, bytes, Mapping)) or not isinstance(events, Sequence):
        raise PayloadError(f"{what}: expected a sequence of JSON objects, got {type(events)!r}")
    objects: list[dict[str, Any]] = []
    for i, event in enumerate(events):
        if not isinstance(event, Mapping):
            raise PayloadError(f"{what}: event {i} is {type(event)!r}, expected a JSON object")
        objects.append(event if type(event) is dict else dict(event))
    return objects


def encode_json(value: Any, what: str, *, sort_keys: bool = False) -> bytes:
    """Compact JSON bytes of `value`; `PayloadError` naming `what` if it is not JSON."""
    try:
        return _dumps(value, sort_keys=sort_keys)
    except (TypeError, ValueError) as exc:
        raise PayloadError(
            f"{what} cannot be stored as JSON: {exc}; nothing was journaled"
        ) from exc


@dataclass(slots=True, eq=False)
class EncodedAppend:
    """An `Append` with its payload (and snapshot) encoded and checksummed; read-only by
    convention (not `frozen`: a frozen dataclass costs a quarter of `encode_append`)."""

    append: Append
    payload: bytes
    crc: int
    event_count: int
    snapshot: bytes | None
    snapshot_crc: int | None
    row: tuple[Any, ...]  # the stream row's values (`info_params`), made before the commit

    @property
    def stream_id(self) -> str:
        return self.append.info.stream_id


def encode_append(append: Append) -> EncodedAppend:
    """Encode one append; raises `PayloadError` before anything is written."""
    sid = append.info.stream_id
    events = _to_objects(append.events, f"events of stream {sid!r}")
    payload = encode_json(events, f"events of stream {sid!r}")
    snapshot: bytes | None = None
    snapshot_crc: int | None = None
    if append.snapshot is not None:
        if not isinstance(append.snapshot, Mapping):
            raise PayloadError(
                f"snapshot of stream {sid!r} is {type(append.snapshot)!r}, "
                "expected a JSON object; nothing was journaled"
            )
        snapshot = encode_json(dict(append.snapshot), f"snapshot of stream {sid!r}")
        snapshot_crc = checksum(sid, snapshot)
    return EncodedAppend(
        append=append,
        payload=payload,
        crc=checksum(sid, payload),
        event_count=len(events),
        snapshot=snapshot,
        snapshot_crc=snapshot_crc,
        row=info_params(append.info),
    )


def info_params(info: StreamInfo) -> tuple[Any, ...]:
    """The `STREAM_COLUMNS` values of a stream row."""
    return (
        info.stream_id,
        info.kind,
        info.version,
        info.status,
        int(info.terminal),
        info.created_at,
        info.updated_at,
        info.key,
        info.correlation_id,
        info.parent_id,
        info.priority,
        int(info.parked),
        info.wake_at,
        json.dumps(dict(info.timers), sort_keys=True) if info.timers else None,
    )


def _damaged(stream_id: str, seq: int, what: str, why: str) -> JournalCorrupted:
    return JournalCorrupted(
        f"{what} of stream {stream_id!r} at record {seq} is damaged ({why}); "
        "nothing of the stream was applied. The run is quarantined (named in "
        "`Runtime.damaged`, left out of listings) and the other runs are served; "
        "to recover it, restore the journal from a backup "
        "(`sqlite3 FILE .recover` may save what is readable)",
        stream_id=stream_id,
        record=seq,
    )


def _verified_json(stream_id: str, seq: int, payload: bytes, crc: int, what: str) -> Any:
    actual = checksum(stream_id, payload)
    if actual != crc:
        raise _damaged(stream_id, seq, what, f"checksum {actual:#010x}, expected {crc:#010x}")
    try:
        return decode_json(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _damaged(stream_id, seq, what, f"not JSON: {exc}") from exc


def decode_events(stream_id: str, seq: int, payload: bytes, crc: int) -> list[dict[str, Any]]:
    """Verify and decode one record's events; `JournalCorrupted` if damaged."""
    events = _verified_json(stream_id, seq, payload, crc, "record")
    if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
        raise _damaged(stream_id, seq, "record", "not a list of JSON objects")
    return events


def decode_snapshot(stream_id: str, seq: int, payload: bytes, crc: int) -> dict[str, Any]:
    """Verify and decode a snapshot taken at record `seq`; `JournalCorrupted` if damaged."""
    snapshot = _verified_json(stream_id, seq, payload, crc, "snapshot")
    if not isinstance(snapshot, dict):
        raise _damaged(stream_id, seq, "snapshot", "not a JSON object")
    return snapshot


def canonical(body: JSONObject, what: str) -> tuple[str, bytes]:
    """The canonical bytes of a definition body and their hex sha256 digest."""
    if not isinstance(body, Mapping):
        raise PayloadError(f"{what}: expected a JSON object, got {type(body)!r}")
    data = encode_json(dict(body), what, sort_keys=True)
    return hashlib.sha256(data).hexdigest(), data


def decode_definition(digest: str, data: bytes) -> dict[str, Any]:
    """Verify a stored definition body against its digest and decode it."""
    if hashlib.sha256(data).hexdigest() != digest:
        raise JournalCorrupted(
            f"definition body {digest[:12]}… does not match its digest; "
            "restore the journal from a backup or register the definition again"
        )
    body = json.loads(data)
    if not isinstance(body, dict):
        raise JournalCorrupted(f"definition body {digest[:12]}… is not a JSON object")
    return body


def checked_definitions(
    rows: Sequence[tuple[Any, ...]],
) -> tuple[list[DefinitionRecord], list[JournalCorrupted]]:
    """Decode `(name, version, digest, body, registered_at)` rows; damaged ones apart, named."""
    records: list[DefinitionRecord] = []
    damaged: list[JournalCorrupted] = []
    for name, version, digest, body, at in rows:
        try:
            records.append(
                DefinitionRecord(name, version, digest, decode_definition(digest, bytes(body)), at)
            )
        except (JournalCorrupted, ValueError) as exc:
            damaged.append(
                JournalCorrupted(
                    f"definition {name!r} version {version} is damaged ({exc}); the others "
                    "are served. Register it again, or restore the journal from a backup",
                    stream_id=f"{name} v{version}",
                )
            )
    return records, damaged


def check_chain(
    stream_id: str,
    last: tuple[int | None, int | None, int | None],
    records: Sequence[tuple[Any, ...]],
) -> None:
    """Check a stream's records against its chain; `JournalCorrupted` naming what is wrong.

    `last` is the row's (last record number, its checksum, the number its
    snapshot includes); `records` are the `(seq, payload, crc, stream_seq,
    prev_crc)` after the snapshot, in order. The numbers must run on from
    the snapshot's (or from 1) without a gap or a repeat, each record must
    name its predecessor's checksum, and the last must be the row's: so a
    record missing, repeated, or deleted from the end is found, not applied.
    A stream with no number in its row (schema 1) is not chained.
    """
    last_number, last_crc, snapshot_number = last
    if last_number is None:
        return
    expected = (snapshot_number or 0) + 1
    previous: int | None = None
    for seq, _payload, crc, number, prev_crc in records:
        if number != expected:
            raise _damaged(
                stream_id,
                seq,
                "record",
                f"it is the run's record {number}, expected {expected}: "
                "a record is missing or repeated",
            )
        if previous is not None and prev_crc != previous:
            raise _damaged(stream_id, seq, "record", "it does not follow the record before it")
        previous = crc
        expected += 1
    if expected - 1 != last_number or (previous is not None and previous != last_crc):
        raise _damaged(
            stream_id,
            last_number,
            "the run's row",
            f"it names record {last_number} as the last, the records end at {expected - 1}: "
            "its latest records are missing",
        )
