"""`Runtime.runs`: matching runs, newest first, as their actors see them; damage left out."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from cadenza._errors import JournalCorrupted
from cadenza.core._views import WorkflowRun
from cadenza.engine._host import Engine
from cadenza.engine.schedules._store import run_rows
from cadenza.runtime import _arguments as check

RUNS_LIMIT_MAX = 100_000


async def list_runs(
    engine: Engine,
    get: Callable[[str], Awaitable[WorkflowRun]],
    name: Any,
    status: Any,
    correlation_id: Any,
    limit: Any,
) -> list[WorkflowRun]:
    """Runs matching every filter, newest first, at most `limit` (each checked first).

    A damaged run never hides the others: it is left out and quarantined
    (named in the engine's `damaged`).
    """
    check.optional_text("name", name)
    wanted = check.optional_status("status", status)
    check.optional_text("correlation_id", correlation_id)
    check.integer("limit", limit, 1, RUNS_LIMIT_MAX)
    infos = await run_rows(
        engine.journal, kind=name, status=wanted, correlation_id=correlation_id, limit=limit
    )
    runs = []
    for info in infos:
        try:
            runs.append(await get(info.stream_id))
        except JournalCorrupted:
            engine.quarantine(info.stream_id)
    return runs
