"""The in-memory journal, for tests and the deterministic simulation.

It keeps the promises of `Journal` the way the SQLite journal does — the
same encoding, checksums and `PayloadError`s, the same key rule, seq order
and query order — but every append is "durable" the moment it returns, and
each is its own commit. It uses no threads, no wall clock and no randomness,
and it never yields to the event loop, so a simulation that drives it is
replayed exactly from its seed.

Its contents play the role of the disk: closing and opening the same object
keeps them, and `crash_copy()` returns a fresh, unopened journal holding
exactly what a crash would leave behind (here: everything appended so far).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from cadenza._log import get_logger
from cadenza.persistence._codec import (
    EncodedAppend,
    canonical,
    decode_definition,
    decode_events,
    decode_snapshot,
    encode_append,
)
from cadenza.persistence._faults import InjectedFault, JournalFaults
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

log = get_logger("cadenza.persistence")


@dataclass(slots=True)
class _Row:
    info: StreamInfo
    created_order: int
    seqs: list[int] = field(default_factory=list)  # this stream's records, in order
    snapshot: tuple[bytes, int, int] | None = None  # (payload, crc, seq)


@dataclass(slots=True)
class _Store:
    """Everything durable; shared by nothing, copied by `crash_copy`."""

    records: dict[int, tuple[str, bytes, int]] = field(default_factory=dict)  # seq → row
    streams: dict[str, _Row] = field(default_factory=dict)
    holders: dict[str, str] = field(default_factory=dict)  # idempotency key → stream
    keys_of: dict[str, str | None] = field(default_factory=dict)  # stream → key
    bodies: dict[str, tuple[str, int, bytes, float]] = field(default_factory=dict)  # by digest
    versions: dict[tuple[str, int], tuple[str, int]] = field(default_factory=dict)  # → digest
    last_seq: int = 0
    def_order: int = 0

    def copy(self) -> _Store:
        return _Store(
            records=dict(self.records),
            streams={sid: replace(row, seqs=list(row.seqs)) for sid, row in self.streams.items()},
            holders=dict(self.holders),
            keys_of=dict(self.keys_of),
            bodies=dict(self.bodies),
            versions=dict(self.versions),
            last_seq=self.last_seq,
            def_order=self.def_order,
        )


def _zero() -> float:
    return 0.0


class MemoryJournal(Journal):
    """A `Journal` in memory; see the module note. `clock` stamps definitions."""

    def __init__(self, *, clock: Callable[[], float] = _zero):
        self.faults: JournalFaults | None = None  # off: see `_faults`
        self.stats = JournalStats()
        self._clock = clock
        self._store = _Store()
        self._open = False
        self._ever_opened = False

    def crash_copy(self) -> MemoryJournal:
        """A new, unopened journal holding exactly the durable state (all of it, here)."""
        twin = MemoryJournal(clock=self._clock)
        twin._store = self._store.copy()
        return twin

    async def open(self) -> None:
        self._open = self._ever_opened = True
        log.info("journal.opened", path=":memory-journal:", last_seq=self._store.last_seq)

    async def close(self) -> None:
        if self._open:
            self._open = False
            log.info("journal.closed", path=":memory-journal:", records=self.stats.records)

    def _check_open(self) -> None:
        if not self._open:
            state = "closed" if self._ever_opened else "not open; call open() or use `async with`"
            raise JournalClosed(f"MemoryJournal is {state}")

    async def append(self, append: Append) -> int:
        self._check_open()
        encoded = encode_append(append)
        faults = self.faults
        if faults is None:
            return self._apply(encoded)
        sid = encoded.stream_id
        try:
            faults.before_commit(sid)
            faults.check_members([append])
        except InjectedFault as exc:
            raise JournalWriteError(
                f"append to stream {sid!r}", exc, stream_id=sid, transient=not faults.crashed
            ) from exc
        if not faults.crash_due():
            return self._apply(encoded)
        before = self.crash_copy()

        def after() -> MemoryJournal:
            self._apply(encoded)
            return self.crash_copy()

        faults.crash(before, after)
        cause = InjectedFault(f"the process crashed at this append to {sid!r}")
        raise JournalWriteError(f"append to stream {sid!r}", cause, stream_id=sid, transient=False)

    def _apply(self, enc: EncodedAppend) -> int:
        store, sid = self._store, enc.stream_id
        duplicate = KeyLedger(store.holders, store.keys_of).claim(sid, enc.append.info.key)
        if duplicate is not None:
            raise duplicate
        seq = store.last_seq = store.last_seq + 1
        store.records[seq] = (sid, enc.payload, enc.crc)
        row = store.streams.get(sid)
        if row is None:
            row = store.streams[sid] = _Row(enc.append.info, created_order=seq)
        row.info = enc.append.info
        row.seqs.append(seq)
        if enc.snapshot is not None and enc.snapshot_crc is not None:
            row.snapshot = (enc.snapshot, enc.snapshot_crc, seq)
        self.stats.records += 1
        self.stats.events += enc.event_count
        self.stats.commits += 1
        self.stats.largest_batch = max(self.stats.largest_batch, 1)
        return seq

    async def flush(self) -> None:
        """Nothing to do: every append is durable when it returns."""

    async def load(self, stream_id: str) -> Loaded | None:
        self._check_open()
        if self.faults is not None:
            self.faults.check_loads([stream_id])
        row = self._store.streams.get(stream_id)
        if row is None:
            return None
        snapshot = None
        after = 0
        if row.snapshot is not None:
            payload, crc, after = row.snapshot
            snapshot = decode_snapshot(stream_id, after, payload, crc)
        events: list[JSONObject] = []
        for seq in row.seqs:
            if seq > after:
                sid, payload, crc = self._store.records[seq]
                events.extend(decode_events(sid, seq, payload, crc))
        return Loaded(info=row.info, snapshot=snapshot, events=events)

    async def last_seq(self) -> int:
        return self._store.last_seq

    async def info(self, stream_id: str) -> StreamInfo | None:
        self._check_open()
        row = self._store.streams.get(stream_id)
        return None if row is None else row.info

    async def find_key(self, key: str) -> str | None:
        self._check_open()
        return self._store.holders.get(key)

    def _by_age(self) -> list[_Row]:
        return sorted(
            self._store.streams.values(), key=lambda r: (r.info.created_at, r.created_order)
        )

    async def streams(
        self,
        *,
        kind: str | None = None,
        status: str | None = None,
        correlation_id: str | None = None,
        terminal: bool | None = None,
        limit: int = 100,
    ) -> list[StreamInfo]:
        self._check_open()
        if limit < 0:
            raise ValueError(f"limit must not be negative, got {limit}")
        found = [
            row.info
            for row in reversed(self._by_age())
            if (kind is None or row.info.kind == kind)
            and (status is None or row.info.status == status)
            and (correlation_id is None or row.info.correlation_id == correlation_id)
            and (terminal is None or row.info.terminal == terminal)
        ]
        return found[:limit]

    async def unfinished_rows(self) -> list[StreamInfo]:
        self._check_open()
        return [row.info for row in self._by_age() if not row.info.terminal]

    async def unfinished(self) -> list[str]:
        self._check_open()
        return [row.info.stream_id for row in self._by_age() if not row.info.terminal]

    async def put_definition(self, name: str, version: int, body: JSONObject) -> DefinitionRecord:
        self._check_open()
        digest, data = canonical(body, f"definition {name!r} version {version}")
        store = self._store
        if digest not in store.bodies:
            store.bodies[digest] = (name, version, data, self._clock())
        current = store.versions.get((name, version))
        if current is None or current[0] != digest:
            store.def_order += 1
            store.versions[(name, version)] = (digest, store.def_order)
        log.info("journal.definition_put", name=name, version=version, digest=digest)
        return DefinitionRecord(name, version, digest, json.loads(data), store.bodies[digest][3])

    async def definitions(self) -> list[DefinitionRecord]:
        self._check_open()
        found = sorted(self._store.versions.items(), key=lambda item: item[1][1])
        return [
            self._definition(name, version, digest) for (name, version), (digest, _order) in found
        ]

    async def definition_by_digest(self, digest: str) -> DefinitionRecord | None:
        self._check_open()
        if digest not in self._store.bodies:
            return None
        name, version, _data, _at = self._store.bodies[digest]
        return self._definition(name, version, digest)

    def _definition(self, name: str, version: int, digest: str) -> DefinitionRecord:
        _name, _version, data, at = self._store.bodies[digest]
        return DefinitionRecord(name, version, digest, decode_definition(digest, data), at)
