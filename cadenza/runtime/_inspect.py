"""Read-only inspection of a journal: runs as the journal says they are.

Used by `cadenza runs` and `cadenza show`. Nothing here starts actors,
recovers runs or writes a record, so it is safe beside a live service
(SQLite's WAL lets readers and the writer proceed together).
"""

from __future__ import annotations

from cadenza._errors import NotFound
from cadenza.core._state import restore
from cadenza.core._views import WorkflowRun
from cadenza.persistence import Journal


async def read_run(journal: Journal, run_id: str) -> WorkflowRun:
    """The run as its snapshot and later records say; `NotFound`, `JournalCorrupted`."""
    loaded = await journal.load(run_id)
    if loaded is None:
        raise NotFound("run", run_id)
    return WorkflowRun.of(restore(run_id, loaded.snapshot, loaded.events))


async def read_runs(
    journal: Journal,
    *,
    name: str | None = None,
    status: str | None = None,
    correlation_id: str | None = None,
    limit: int = 100,
) -> list[WorkflowRun]:
    """Matching runs, newest first, read from the journal."""
    infos = await journal.streams(
        kind=name, status=status, correlation_id=correlation_id, limit=limit
    )
    return [await read_run(journal, info.stream_id) for info in infos]
