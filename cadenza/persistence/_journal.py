"""The journal interface: an append-only log of event records per stream.

Design note
-----------
A *stream* is the history of one workflow run (its id is the run id). Each
`append` adds one *record* — a list of JSON-compatible events that one actor
step produced — and updates the stream's row in the current-state table
(`StreamInfo`: status, timestamps, idempotency key, and optionally a
snapshot of the stream's folded state). Both land in the same transaction.

Promises every implementation keeps:
- `append` returns only once its record is durable (for SQLite: committed at
  the configured `synchronous` level). Appends that arrive while a commit is
  in flight are gathered into the next transaction (group commit).
- Records of one stream are returned by `load` in append order. Record
  sequence numbers (`seq`) are global and increase with every append.
- Each record carries a checksum; `load` raises `JournalCorrupted` naming the
  stream and the record instead of returning damaged data.
- A payload that is not JSON-serialisable raises `PayloadError` from
  `append` before anything is written.
- An idempotency key belongs to at most one stream (`DuplicateKey`, which
  fails that append alone). Each append sets its stream's key to
  `info.key`, so `None` releases it: carry the key in every `StreamInfo`.
- A transaction that fails to commit fails each of its appends with
  `JournalWriteError` and writes nothing; later appends are unaffected.
- The journal knows nothing of workflows: events and snapshots are opaque
  JSON objects to it.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

from cadenza._errors import CadenzaError, JournalCorrupted
from cadenza.persistence._group import Hold

JSONObject = Mapping[str, Any]


class DuplicateKey(CadenzaError):
    """An append tried to give a stream an idempotency key another stream holds."""

    def __init__(self, key: str, holder: str):
        self.key = key
        self.holder = holder
        super().__init__(f"idempotency key {key!r} already belongs to stream {holder!r}")


class JournalClosed(CadenzaError):
    """The journal was used after `close()` (or before `open()`)."""


class JournalUnavailable(CadenzaError):
    """The journal's path cannot hold a journal: nothing was written.

    A missing directory, a directory, a read-only file, directory or mount,
    a full disk, an I/O error. `path` names the file; the storage error, if
    any, is `__cause__`. Fix the cause (or pick another path) and open again.
    """

    def __init__(self, path: str, why: str, cause: BaseException | None = None):
        self.path = path
        self.why = why
        detail = f" ({cause})" if cause is not None else ""
        super().__init__(f"cannot open the journal {path!r}: {why}{detail}; nothing was written")
        if cause is not None:
            self.__cause__ = cause


class JournalWriteError(CadenzaError):
    """A write transaction failed to commit; what it carried was not written.

    Every append gathered into the failed transaction gets its own
    `JournalWriteError` naming its stream (the storage error is `__cause__`);
    nothing of that transaction was applied and the journal keeps serving
    later appends. Retry once the cause (disk full, I/O error, a database
    locked by another process) is fixed. `transient` is False when retrying
    cannot help (the journal's process is gone).
    """

    def __init__(
        self,
        what: str,
        cause: BaseException,
        *,
        stream_id: str | None = None,
        batch_size: int = 1,
        transient: bool = True,
        remedy: str | None = None,
    ):
        self.stream_id = stream_id
        self.batch_size = batch_size
        self.transient = transient
        if remedy is None:
            remedy = (
                "retry once the cause is fixed"
                if transient
                else "this journal takes no more writes: restart the process on a journal it "
                "can use"
            )
        super().__init__(
            f"{what} was not written: its transaction failed to commit ({cause!r}); "
            f"nothing of that transaction was applied, {remedy}"
        )
        self.__cause__ = cause


class OwnershipLost(JournalWriteError):
    """The append's stream belongs to a partition this journal no longer owns.

    A journal shared by several processes (PostgreSQL) writes a stream only
    while it holds the lease of the stream's partition at the epoch it took
    it with; the check runs in the append's own transaction. Once another
    process took the partition over (this one paused, was partitioned, or
    let the lease run out), the append is refused: nothing was written, and
    retrying cannot help (`transient` is False). Drop what is held in memory
    for that partition's streams; its new owner carries on from the journal.
    """

    def __init__(self, stream_id: str, partition: int, epoch: int | None):
        self.partition = partition
        self.epoch = epoch
        held = "not held" if epoch is None else f"held at epoch {epoch}"
        super().__init__(
            f"append to stream {stream_id!r}",
            PermissionError(
                f"partition {partition} is {held} and now belongs to another owner "
                "(its lease was taken over)"
            ),
            stream_id=stream_id,
            transient=False,
            remedy="its new owner carries on from the journal: ask it (a Runtime forwards the call)",
        )


@dataclass(frozen=True, slots=True)
class StreamInfo:
    """A stream's row in the current-state table, as of its latest record."""

    stream_id: str
    kind: str  # the workflow name
    version: int  # the workflow definition version
    status: str
    terminal: bool
    created_at: float  # epoch seconds
    updated_at: float
    key: str | None = None  # idempotency key
    correlation_id: str | None = None
    parent_id: str | None = None
    priority: int = 0
    parked: bool = False  # only waiting on timers or signals: recovery need not load it
    wake_at: float | None = None  # a parked stream's next deadline (epoch seconds)
    timers: Mapping[str, int] | None = None  # pending timers it holds, by kind (quotas)


RowDeriver = Callable[
    [str, Sequence[list[JSONObject]], Callable[[str], JSONObject | None]], StreamInfo
]
"""`derive(stream_id, events of each record, definition body by digest)`: a stream's row,
derived from its records alone (the engine's, for rebuilding a damaged run table: the
journal knows nothing of workflows). Raises (anything) if the events do not make a run."""


@dataclass(frozen=True, slots=True)
class Append:
    """One record to append and the stream row it leaves behind.

    `snapshot`, when given, is the stream's full folded state *including*
    this record's events; `load` then starts from it. `epoch`, on a journal
    shared by several processes, is the lease epoch of the stream's partition
    the writer read the stream under: the append is refused (`OwnershipLost`)
    unless the partition is still held at that epoch, so state read under an
    older lease is never written under a newer one (the partition lost and
    taken back meanwhile). None: whatever epoch is held at the write.
    `inbox_seen`, on a shared journal, is the id of the inbox message whose
    effect the record holds: kept with the stream (the highest one) in the
    record's transaction (`Inbox.applied_through`), so a message applied once
    is never applied again by an owner that died before deleting it.
    """

    info: StreamInfo
    events: Sequence[JSONObject]
    snapshot: JSONObject | None = None
    epoch: int | None = None
    inbox_seen: int | None = None

    @property
    def stream_id(self) -> str:
        return self.info.stream_id


@dataclass(frozen=True, slots=True)
class Loaded:
    """What `load` returns: start from `snapshot` (or nothing) and apply `events`."""

    info: StreamInfo
    snapshot: JSONObject | None
    events: list[JSONObject] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class DefinitionRecord:
    """A registered definition body, stored by content hash."""

    name: str
    version: int
    digest: str  # hex sha256 of the canonical JSON body
    body: JSONObject
    registered_at: float


@dataclass(slots=True)
class JournalStats:
    """Counters for benchmarks and metrics."""

    records: int = 0
    events: int = 0
    commits: int = 0
    largest_batch: int = 0


class Journal(ABC):
    """The interface both journals implement; see the module note."""

    stats: JournalStats
    row_deriver: RowDeriver | None = None  # set by the engine: rebuilds a damaged run table

    @abstractmethod
    async def open(self) -> None:
        """Create or open the store; raises `JournalCorrupted` if it is damaged."""

    @abstractmethod
    async def close(self) -> None:
        """Flush pending appends and release the store. Idempotent."""

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @abstractmethod
    async def append(self, append: Append) -> int:
        """Append one record durably; returns its global `seq`."""

    async def append_many(self, appends: Sequence[Append]) -> list[int | Exception]:
        """Append each record durably, together: each one's `seq`, or the error that refused it
        (that append alone, nothing of it written), in order.

        A journal with group commit puts them in one transaction (split, append by
        append, only if it fails); this default appends them one after another.
        """
        results: list[int | Exception] = []
        for append in appends:
            try:
                results.append(await self.append(append))
            except Exception as exc:
                results.append(exc)
        return results

    @abstractmethod
    async def flush(self) -> None:
        """Return once every append accepted so far is durable."""

    def gathering(
        self, stream_ids: Collection[str]
    ) -> contextlib.AbstractAsyncContextManager[Hold]:
        """Gather the next append of each of `stream_ids` into one transaction.

        Inside, no transaction starts until each stream appended (or was
        `forgo`ne on the yielded hold: it will not append); then they commit
        together, whatever `batch_max` says. A journal that commits each
        append on its own (memory) gathers nothing.
        """
        return _nothing_held()

    @abstractmethod
    async def load(self, stream_id: str) -> Loaded | None:
        """The stream's latest snapshot and the events after it, or None."""

    async def load_many(
        self, stream_ids: Sequence[str]
    ) -> dict[str, Loaded | JournalCorrupted | None]:
        """`load` for many streams at once; a damaged stream's value is its error.

        One damaged stream never keeps the others from loading.
        """
        results: dict[str, Loaded | JournalCorrupted | None] = {}
        for stream_id in stream_ids:
            try:
                results[stream_id] = await self.load(stream_id)
            except JournalCorrupted as exc:
                results[stream_id] = exc
        return results

    @abstractmethod
    async def info(self, stream_id: str) -> StreamInfo | None:
        """The stream's current-state row, or None."""

    @abstractmethod
    async def find_key(self, key: str) -> str | None:
        """The stream holding idempotency key `key`, or None."""

    async def find_keys(self, keys: Sequence[str]) -> dict[str, str]:
        """The streams holding each of `keys` that one holds (one read where the journal can)."""
        found = {key: await self.find_key(key) for key in dict.fromkeys(keys)}
        return {key: holder for key, holder in found.items() if holder is not None}

    @abstractmethod
    async def streams(
        self,
        *,
        kind: str | None = None,
        status: str | None = None,
        correlation_id: str | None = None,
        terminal: bool | None = None,
        limit: int = 100,
    ) -> list[StreamInfo]:
        """Matching streams, newest first (by created_at, then by creation order)."""

    @abstractmethod
    async def unfinished(self) -> list[str]:
        """Ids of every stream whose latest row is not terminal, oldest first."""

    @abstractmethod
    async def unfinished_rows(self) -> list[StreamInfo]:
        """The rows of every stream that is not terminal, oldest first.

        Recovery uses `parked` and `wake_at` to re-arm a parked stream's
        timer without loading its records.
        """

    @abstractmethod
    async def put_definition(self, name: str, version: int, body: JSONObject) -> DefinitionRecord:
        """Store a definition body (deduplicated by digest); latest wins for (name, version)."""

    @abstractmethod
    async def definitions(self) -> list[DefinitionRecord]:
        """Every (name, version)'s latest registered body, in registration order.

        A body that fails its check is left out (see `damaged_definitions`).
        """

    async def last_seq(self) -> int:
        """The `seq` of the newest record (0 for an empty journal): it grows with every
        append, so it tells one opening of a journal from the next. Default: 0."""
        return 0

    def damaged_streams(self) -> list[JournalCorrupted]:
        """The streams found damaged when the journal's run table was rebuilt (quarantined:
        loading one raises its error, naming it). Default: none."""
        return []

    def damaged_definitions(self) -> list[JournalCorrupted]:
        """The definitions the last `definitions()` left out: they failed their check.

        Each error names the definition (`stream_id` is "NAME vVERSION"); the
        journal serves the others. Default: none.
        """
        return []

    @abstractmethod
    async def definition_by_digest(self, digest: str) -> DefinitionRecord | None:
        """A body by its digest, even if (name, version) was re-registered since."""


@contextlib.asynccontextmanager
async def _nothing_held() -> AsyncIterator[Hold]:
    yield Hold(())
