"""Read-only inspection of a journal: runs as the journal says they are.

Used by `cadenza runs`, `cadenza show` and `cadenza.inspect(path)`. Nothing
here starts actors, recovers runs, takes the owner's lock or writes a byte
(the file is opened read-only), so it is safe beside a live owner (SQLite's
WAL lets readers and the writer proceed together). A damaged run is named
in `damaged` and left out of listings; asking for it raises
`JournalCorrupted`.
"""

from __future__ import annotations

from types import TracebackType
from typing import Self

from cadenza._errors import JournalCorrupted, NotFound
from cadenza.core._state import restore
from cadenza.core._views import WorkflowRun
from cadenza.engine._host import Engine
from cadenza.engine._messages import GetRun
from cadenza.engine.schedules._store import is_schedule_row, run_rows
from cadenza.persistence import Journal, SqliteJournal, StreamInfo


async def read_run(journal: Journal, run_id: str) -> WorkflowRun:
    """The run as its snapshot and later records say; `NotFound`, `JournalCorrupted`."""
    loaded = await journal.load(run_id)
    if loaded is None or is_schedule_row(loaded.info):  # a schedule's stream is no run
        raise NotFound("run", run_id)
    try:
        state = restore(run_id, loaded.snapshot, loaded.events)
    except Exception as exc:  # records that verify but do not fold: damage all the same
        raise JournalCorrupted(
            f"run {run_id!r} does not replay from its records ({exc!r}); it is quarantined, "
            "the other runs are unaffected. Restore the journal from a backup to recover it",
            stream_id=run_id,
        ) from exc
    return WorkflowRun.of(state)


async def get_run(engine: Engine, run_id: str) -> WorkflowRun:
    """Run `run_id` as its actor has it; while the actor waits out a failed commit's
    back-off, as the journal has it (the same: nothing of the failed batch was acted on),
    so a read never queues behind a retry that may last as long as a full disk.

    On a journal several processes share, always as the journal has it: an actor in
    this process may belong to an owner whose lease was taken over unawares (paused,
    cut off), its state older than what the new owner wrote since; the journal holds
    everything any owner answered (each batch is durable before its callers hear)."""
    if run_id in engine.retrying or engine.ownership is not None:
        return await read_run(engine.journal, run_id)
    found: WorkflowRun = await engine.run(run_id).ask(GetRun)
    return found


async def read_runs(
    journal: Journal,
    *,
    name: str | None = None,
    status: str | None = None,
    correlation_id: str | None = None,
    limit: int = 100,
    damaged: list[tuple[StreamInfo, JournalCorrupted]] | None = None,
) -> list[WorkflowRun]:
    """Matching runs, newest first, read from the journal.

    A damaged run is left out (and, given a `damaged` list, appended to it
    with its row and its error): one bad run never hides the others.
    """
    infos = await run_rows(
        journal, kind=name, status=status, correlation_id=correlation_id, limit=limit
    )
    runs = []
    for info in infos:
        try:
            runs.append(await read_run(journal, info.stream_id))
        except JournalCorrupted as exc:
            if damaged is not None:
                damaged.append((info, exc))
    return runs


class Inspection:
    """A read-only view of the journal at `path`; use `async with cadenza.inspect(path) as j:`.

    `await j.get(run_id)` and `await j.runs(name=, status=, correlation_id=,
    limit=)` answer as `Runtime.get` and `Runtime.runs` do, from the journal
    alone (no actor, no recovery, no write, no lock: it works beside a live
    owner). `j.damaged` lists the ids of runs a listing left out because
    their records are damaged.
    """

    def __init__(self, path: str):
        self.path = path
        self.damaged: list[str] = []
        self._journal = SqliteJournal(path, readonly=True)

    async def __aenter__(self) -> Self:
        await self._journal.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._journal.close()

    async def get(self, run_id: str) -> WorkflowRun:
        """Run `run_id` as the journal holds it; `NotFound`, `JournalCorrupted`."""
        return await read_run(self._journal, run_id)

    async def runs(
        self,
        *,
        name: str | None = None,
        status: str | None = None,
        correlation_id: str | None = None,
        limit: int = 100,
    ) -> list[WorkflowRun]:
        """Matching runs, newest first; damaged ones are left out and named in `damaged`."""
        found: list[tuple[StreamInfo, JournalCorrupted]] = []
        runs = await read_runs(
            self._journal,
            name=name,
            status=status,
            correlation_id=correlation_id,
            limit=limit,
            damaged=found,
        )
        for info, _exc in found:
            if info.stream_id not in self.damaged:
                self.damaged.append(info.stream_id)
        return runs


def inspect(path: str) -> Inspection:
    """Read the journal at `path` without owning it: `async with cadenza.inspect(path) as j:`.

    Works beside a live owner (another process's `Runtime`); nothing is
    written. See `Inspection` for what it answers.
    """
    return Inspection(path)
