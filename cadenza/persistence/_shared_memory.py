"""An in-memory journal several simulated processes share, fenced exactly as on PostgreSQL.

Design note
-----------
`SharedStore` plays the database: the streams (a `MemoryJournal` underneath),
the `leases` and `members` tables on the store's clock (the database's
clock, in the simulation the simulated one), and the `inbox` and
`outcomes` tables (`_shared_memory_inbox`). Each
simulated process opens its own `SharedMemoryJournal(store, owner)` on it.

The lease protocol is not re-implemented here: the journal drives the same
`Leases` (`_postgres_leases`) and `balance` (`_postgres_members`) code as
`PostgresJournal`, on a stand-in connection (`_StoreConnection`) that
answers each of their SQL statements against the store's tables, with the
same conditions (`owner IS NULL OR expires_at < now()` to acquire, epoch
bumped; `owner = $1` to renew; members alive while `expires_at > now()`).
An append runs `Leases.fence` and the write in one step that never yields,
as PostgreSQL runs them in one transaction under the partition's lock: a
write is committed under the epoch it was fenced with, or refused.

For the checker, the store logs every lease grant (`grants`) and every
accepted write with the owner and epoch it was written under (`writes`),
as the PostgreSQL records carry them.

Faults, per process journal: `latency_s` (each call first sleeps that long,
so a pause can fall between a call and its effect), `reachable = False`
(a network partition: every call fails with `StoreUnreachable`, appends
with a transient `JournalWriteError`), `kill()` (the process died: every
call fails for good, and `close` leaves nothing gracefully: its leases run
out on the store's clock).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import anyio

from cadenza.persistence import _postgres_schema as sql
from cadenza.persistence._codec import encode_append
from cadenza.persistence._group import Ticket
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
from cadenza.persistence._memory import MemoryJournal
from cadenza.persistence._postgres_leases import Leases, check_lease_s
from cadenza.persistence._postgres_members import Balance, balance, leave
from cadenza.persistence._postgres_schema import PARTITIONS, partition_of
from cadenza.persistence._shared import SharedJournal
from cadenza.persistence._shared_memory_inbox import MemoryInbox


class StoreUnreachable(OSError):
    """The simulated database cannot be reached from this process (a partition, or death)."""


@dataclass(slots=True)
class LeaseRow:
    owner: str | None = None
    epoch: int = 0
    expires_at: float = float("-inf")


@dataclass(frozen=True, slots=True)
class Grant:
    """A partition's lease taken: `epoch` now belongs to `owner` (the `order`-th change)."""

    order: int
    partition: int
    epoch: int
    owner: str
    at: float


@dataclass(frozen=True, slots=True)
class Write:
    """An accepted append, with the owner and the epoch it was written under."""

    order: int
    seq: int
    stream_id: str
    partition: int
    owner: str | None
    epoch: int | None
    at: float
    terminal: bool  # the run's row says it ended, as of this write


@dataclass(slots=True)
class SharedStore:
    """The simulated database; see the module note. `clock` is the database's clock."""

    clock: Callable[[], float]
    streams: MemoryJournal = field(init=False)
    leases: dict[int, LeaseRow] = field(default_factory=dict)
    members: dict[str, float] = field(default_factory=dict)  # owner → expires_at
    inbox: list[tuple[int, int, str, str, str, bool]] = field(default_factory=list)
    inbox_next: int = 0
    inbox_seen: dict[str, int] = field(default_factory=dict)  # streams' `Append.inbox_seen`
    inbox_dead: list[tuple[tuple[int, int, str, str, str, bool], str]] = field(
        default_factory=list
    )  # (the row, why no owner could read it): `Inbox.done(dead=...)`
    outcomes: dict[int, tuple[str, float]] = field(default_factory=dict)  # id → (body, at)
    listeners: list[MemoryInbox] = field(default_factory=list)
    grants: list[Grant] = field(default_factory=list)
    writes: list[Write] = field(default_factory=list)
    changes: int = 0
    refused: int = 0  # appends the fence refused

    def __post_init__(self) -> None:
        self.streams = MemoryJournal(clock=self.clock)
        self.leases = {p: LeaseRow() for p in range(PARTITIONS)}

    def rows(self) -> list[StreamInfo]:
        """Every stream's current-state row, in creation order (for a checker)."""
        return [row.info for row in self.streams._store.streams.values()]

    def next_order(self) -> int:
        self.changes += 1
        return self.changes


class _StoreConnection:
    """Answers the lease and member statements of `_postgres_leases`/`_postgres_members`."""

    def __init__(self, store: SharedStore):
        self.store = store

    async def execute(self, query: str, *args: Any) -> None:
        await self.fetch(query, *args)

    async def fetchval(self, query: str, *args: Any) -> Any:
        rows = await self.fetch(query, *args)
        return rows[0][0] if rows else None

    async def fetch(self, query: str, *args: Any) -> list[tuple[Any, ...]]:
        store, now = self.store, self.store.clock()
        rows = store.leases
        if query == sql.LOCK_LEASES_SHARED:  # the write is atomic here: nothing to wait for
            return [(len(args[0]),)]
        if query == sql.READ_LEASES:
            return [(p, rows[p].owner, rows[p].epoch) for p in args[0]]
        if query == sql.ACQUIRE:
            owner, lease_s, wanted, limit = args
            taken: list[tuple[Any, ...]] = []
            for p in sorted(wanted):
                row = rows[p]
                if len(taken) < limit and (row.owner is None or row.expires_at < now):
                    row.owner, row.epoch, row.expires_at = owner, row.epoch + 1, now + lease_s
                    store.grants.append(Grant(store.next_order(), p, row.epoch, owner, now))
                    taken.append((p, row.epoch))
            return taken
        if query == sql.RENEW:
            owner, lease_s, held = args
            renewed: list[tuple[Any, ...]] = []
            for p in held:
                if rows[p].owner == owner:
                    rows[p].expires_at = now + lease_s
                    renewed.append((p, rows[p].epoch))
            return renewed
        if query == sql.RELEASE:
            owner, chosen = args
            for p in chosen:
                if rows[p].owner == owner:
                    rows[p].owner, rows[p].expires_at = None, float("-inf")
            return []
        if query == sql.HEARTBEAT:
            store.members[args[0]] = now + args[1]
            return []
        if query == sql.LIVE_MEMBERS:
            return [(o,) for o, until in sorted(store.members.items()) if until > now]
        if query == sql.LEAVE:
            store.members.pop(args[0], None)
            return []
        if query == sql.NEXT_EXPIRY:
            left = [
                row.expires_at - now
                for row in rows.values()
                if row.owner is not None and row.owner != args[0] and row.expires_at > now
            ]
            return [(min(left) if left else None,)]
        raise NotImplementedError(f"the simulated database does not answer {query!r}")


class SharedMemoryJournal(SharedJournal):
    """One simulated process's journal on `store`, fenced as `owner`; see the module note."""

    def __init__(self, store: SharedStore, owner: str, *, latency_s: float = 0.0):
        self.store = store
        self.leases = Leases(owner)
        self.latency_s = latency_s
        self.reachable = True
        self.dead = False
        self.stats = JournalStats()
        self.url = f"memory://shared/{owner}"
        self._conn = _StoreConnection(store)
        self._open = False

    def __repr__(self) -> str:
        return f"SharedMemoryJournal(owner={self.owner!r})"

    @property
    def owner(self) -> str:
        return self._leases().owner

    def _leases(self) -> Leases:
        leases = self.leases
        if leases is None:  # pragma: no cover - set in __init__
            raise JournalClosed("a shared memory journal always has an owner")
        return leases

    def kill(self) -> None:
        """The process died: nothing more of it reaches the store, not even a graceful leave."""
        self.dead = True

    async def io(self) -> None:
        """One round trip to the store: the latency, then `StoreUnreachable` if cut off."""
        if self.latency_s > 0:
            await anyio.sleep(self.latency_s)
        if not self._open:
            raise JournalClosed(f"{self!r} is not open")
        if self.dead or not self.reachable:
            raise StoreUnreachable(f"{self.owner}: the database cannot be reached")

    # -- lifecycle -------------------------------------------------------------

    async def open(self) -> None:
        self._open = True
        await self.store.streams.open()

    async def close(self) -> None:
        if not self._open:
            return
        try:
            if not self.dead and self.reachable:
                await leave(self._conn, self._leases())
        finally:
            self._open = False

    # -- appends ---------------------------------------------------------------

    async def append(self, append: Append) -> int:
        encoded = encode_append(append)
        leases = self._leases()
        leases.refuse_unheld(encoded.stream_id)  # OwnershipLost, nothing sent
        try:
            await self.io()
        except StoreUnreachable as exc:
            raise JournalWriteError(
                f"append to stream {encoded.stream_id!r}",
                exc,
                stream_id=encoded.stream_id,
                transient=not self.dead,
            ) from exc
        # From here to the write nothing yields: one transaction under the partition's lock.
        ticket = Ticket(encoded, 0)
        allowed = await leases.fence(self._conn, [ticket])  # never suspends: atomic
        if not allowed:
            self.store.refused += 1
            raise ticket.error or JournalWriteError(
                f"append to stream {encoded.stream_id!r}",
                RuntimeError("refused by the fence"),
                stream_id=encoded.stream_id,
            )
        seq = self.store.streams._apply(encoded)  # DuplicateKey: refused alone
        partition = partition_of(encoded.stream_id)
        store = self.store
        if (seen := encoded.append.inbox_seen) is not None:
            store.inbox_seen[encoded.stream_id] = max(
                seen, store.inbox_seen.get(encoded.stream_id, 0)
            )
        store.writes.append(
            Write(
                store.next_order(),
                seq,
                encoded.stream_id,
                partition,
                leases.owner,
                leases.held.get(partition),
                store.clock(),
                encoded.append.info.terminal,
            )
        )
        self.stats.records += 1
        self.stats.events += encoded.event_count
        self.stats.commits += 1
        self.stats.largest_batch = 1
        return seq

    async def flush(self) -> None:
        """Every append is durable when it returns."""

    # -- reads -----------------------------------------------------------------

    async def load(self, stream_id: str) -> Loaded | None:
        await self.io()
        return await self.store.streams.load(stream_id)

    async def info(self, stream_id: str) -> StreamInfo | None:
        await self.io()
        return await self.store.streams.info(stream_id)

    async def find_key(self, key: str) -> str | None:
        await self.io()
        return await self.store.streams.find_key(key)

    async def last_seq(self) -> int:
        await self.io()
        return await self.store.streams.last_seq()

    async def streams(
        self,
        *,
        kind: str | None = None,
        status: str | None = None,
        correlation_id: str | None = None,
        terminal: bool | None = None,
        limit: int = 100,
    ) -> list[StreamInfo]:
        await self.io()
        return await self.store.streams.streams(
            kind=kind, status=status, correlation_id=correlation_id, terminal=terminal, limit=limit
        )

    async def unfinished_rows(self, partitions: Iterable[int] | None = None) -> list[StreamInfo]:
        await self.io()
        held = set(self._leases().held)
        if partitions is not None:
            held &= set(partitions)
        rows = await self.store.streams.unfinished_rows()
        return [row for row in rows if partition_of(row.stream_id) in held]

    async def unfinished(self) -> list[str]:
        return [row.stream_id for row in await self.unfinished_rows()]

    async def put_definition(self, name: str, version: int, body: JSONObject) -> DefinitionRecord:
        await self.io()
        return await self.store.streams.put_definition(name, version, body)

    async def definitions(self) -> list[DefinitionRecord]:
        await self.io()
        return await self.store.streams.definitions()

    async def definition_by_digest(self, digest: str) -> DefinitionRecord | None:
        await self.io()
        return await self.store.streams.definition_by_digest(digest)

    # -- leases and the inbox ------------------------------------------------

    async def acquire(
        self, lease_s: float, partitions: Iterable[int] | None = None, *, limit: int = PARTITIONS
    ) -> dict[int, int]:
        """Take up to `limit` free or expired partitions; {partition: epoch} of those taken."""
        await self.io()
        return await self._leases().acquire(self._conn, check_lease_s(lease_s), partitions, limit)

    async def renew(self, lease_s: float) -> set[int]:
        """Extend the held leases on the store's clock; the partitions found taken over."""
        await self.io()
        return await self._leases().renew(self._conn, check_lease_s(lease_s))

    async def balance(self, lease_s: float) -> Balance:
        await self.io()
        return await balance(self._conn, self._leases(), check_lease_s(lease_s))

    async def release(self, partitions: Iterable[int] | None = None) -> list[int]:
        await self.io()
        return await self._leases().release(self._conn, partitions)

    def open_inbox(self, poll_s: float) -> MemoryInbox:
        return MemoryInbox(self, poll_s=poll_s)
