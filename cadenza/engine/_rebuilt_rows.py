"""A run's current-state row derived from its records alone: rebuilding a damaged run table.

Design note
-----------
The journal's run table (`streams`) is derived from its records; when a
torn page damages it, the journal rebuilds it with `derive_row` (the
journal knows nothing of workflows, so the engine hands this over as
`Journal.row_deriver`). The row is what the run's actor would write after
its last record, with two conservative choices:

- `terminal` is True only when the run's end owes nothing more: either
  its last record is event-less (the actor's "settled" write, made once
  the failure run or children it owed were started) or its definition
  names no failure workflow for this end. Otherwise (or when that
  definition does not parse) recovery loads the run and finishes what it
  owes (at most once: derived ids).
- `parked` is False and `wake_at` None: recovery loads every unfinished
  run and arms its deadlines from its state (not from a row's promise).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from cadenza._log import get_logger
from cadenza.core._failure_run import owes_failure_run
from cadenza.core._state import restore
from cadenza.engine.run._timing import state_row
from cadenza.language._definition import WorkflowDef
from cadenza.language._parse import parse_workflow_def
from cadenza.persistence import Journal, StreamInfo
from cadenza.persistence._journal import JSONObject

log = get_logger("cadenza.engine")


def damaged_runs(journal: Journal, path: str) -> list[str]:
    """The runs the journal found damaged when it rebuilt its run table (logged, once)."""
    damaged = [exc.stream_id for exc in journal.damaged_streams() if exc.stream_id]
    if damaged:
        log.warning("runtime.runs_damaged", path=path, runs=damaged)
    return damaged


def derive_row(
    stream_id: str,
    records: Sequence[list[JSONObject]],
    definition: Callable[[str], JSONObject | None],
) -> StreamInfo:
    """The row of run `stream_id` after `records` (each record's events, in order).

    Raises `ValueError` if they do not make a started run, and whatever
    replaying them raises (`JournalCorrupted` for an event that does not decode).
    """
    state = restore(stream_id, None, [event for record in records for event in record])
    if not state.started:
        raise ValueError(f"the records of {stream_id!r} do not start a run")
    terminal = state.status.terminal
    if terminal and records[-1]:  # not the settled write: does the end owe a failure run?
        body = definition(state.digest) if state.digest else None
        try:
            parsed: WorkflowDef | None = (
                parse_workflow_def(body, system_types=None) if body is not None else None
            )
        except Exception:  # a damaged definition: let recovery load the run and decide
            return state_row(state, terminal=False)
        terminal = not owes_failure_run(parsed, state)
    return state_row(state, terminal=terminal)
