"""`cadenza runs` and `cadenza show`: read-only, beside a live owner.

Nothing here takes the owner's lock or writes a byte (the journal is opened
read-only). `runs` lists whole values (tab-separated when piped, a table on a
terminal, a JSON array with `--json`) and says how many of how many it
shows ("50 of 600"); the footer goes to stderr when stdout is data. `show`
takes a run id or a prefix of one that names a single run.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from cadenza._errors import InvalidArgument, JournalCorrupted, NotFound
from cadenza.core._views import WorkflowRun
from cadenza.engine.schedules._store import run_rows
from cadenza.persistence import Journal, SqliteJournal, StreamInfo
from cadenza.runtime._inspect import read_run

ALL_ROWS = 2**62  # `streams` needs a limit; the footer needs them all counted
PREFIX_SHOWN = 5  # ids an ambiguous prefix error names


def existing(db: str) -> str:
    """`db` if it is a file (inspection never creates one); else `NotFound`."""
    if db != ":memory:" and not Path(db).is_file():
        raise NotFound("journal file", db)
    return db


def as_json(run: WorkflowRun) -> dict[str, Any]:
    """A run as plain JSON-able data (statuses as their names)."""
    data: dict[str, Any] = json.loads(json.dumps(asdict(run), default=str))
    return data


def _when(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def _matching(
    journal: Journal,
    status: str | None,
    name: str | None,
    correlation_id: str | None,
    since: float | None,
) -> list[StreamInfo]:
    rows = await run_rows(
        journal, kind=name, status=status, correlation_id=correlation_id, limit=ALL_ROWS
    )
    if since is not None:
        rows = [row for row in rows if row.created_at >= since]
    return rows


async def _readable(
    journal: Journal, rows: list[StreamInfo]
) -> tuple[list[WorkflowRun], list[tuple[str, JournalCorrupted]]]:
    """The runs of `rows` that read back, and (id, error) for each damaged one."""
    shown, damaged = [], []
    for row in rows:
        try:
            shown.append(await read_run(journal, row.stream_id))
        except JournalCorrupted as exc:
            damaged.append((row.stream_id, exc))
    return shown, damaged


async def runs(
    db: str,
    *,
    status: str | None,
    name: str | None,
    correlation_id: str | None,
    since: float | None,
    limit: int,
    json_out: bool,
    console: Console,
) -> int:
    """List the newest `limit` runs matching every filter; returns the exit code."""
    async with SqliteJournal(existing(db), readonly=True) as journal:
        rows = await _matching(journal, status, name, correlation_id, since)
        shown, damaged = await _readable(journal, rows[:limit])
    footer = f"{len(shown)} of {len(rows)} runs"
    for run_id, error in damaged:  # one damaged run never hides the others: named, left out
        print(
            f"cadenza: damaged run {run_id} left out: {' '.join(str(error).split())}",
            file=sys.stderr,
        )
    if json_out:
        print(json.dumps([as_json(run) for run in shown], indent=2))
        print(footer, file=sys.stderr)
        return 0
    header = ("id", "workflow", "status", "started", "priority", "correlation", "tasks")
    lines = [
        (run.id, f"{run.name} v{run.version}", run.status.value, _when(run.created_at),
         str(run.priority), run.correlation_id or "", str(len(run.tasks)))
        for run in shown
    ]  # fmt: skip
    if not console.is_terminal:  # piped: whole values, one tab-separated line per run
        for line in (header, *lines):
            print("\t".join(line))
        print(footer, file=sys.stderr)
        return 0
    table = Table(title=f"runs in {db}", caption=footer)
    for column in header:
        table.add_column(column, no_wrap=column == "id")
    for line in lines:
        table.add_row(*line)
    console.print(table)
    return 0


async def _by_prefix(journal: Journal, prefix: str) -> WorkflowRun:
    """The run whose id is `prefix`, or the one run whose id starts with it."""
    try:
        return await read_run(journal, prefix)
    except NotFound:
        pass
    rows = await run_rows(journal, limit=ALL_ROWS)
    found = [row.stream_id for row in rows if row.stream_id.startswith(prefix)]
    if not found:
        raise NotFound("run with an id starting", prefix)
    if len(found) > 1:
        named = ", ".join(found[:PREFIX_SHOWN]) + (", ..." if len(found) > PREFIX_SHOWN else "")
        raise InvalidArgument(
            "run_id", f"{prefix!r} starts {len(found)} run ids ({named}): give more of it"
        )
    return await read_run(journal, found[0])


async def show(db: str, run_id: str, json_out: bool, console: Console) -> int:
    """Print one run and its tasks; returns the exit code."""
    async with SqliteJournal(existing(db), readonly=True) as journal:
        run = await _by_prefix(journal, run_id)
    if json_out:
        print(json.dumps(as_json(run), indent=2))
        return 0
    console.print(f"[bold]{run.id}[/]  {run.name} v{run.version}  [bold]{run.status.value}[/]")
    if run.reason:
        console.print(f"reason: {run.reason}", markup=False)
    console.print(f"input: {json.dumps(run.input)}", markup=False)
    console.print(f"output: {json.dumps(run.output)}", markup=False)
    table = Table()
    for column in ("task id", "ref", "type", "status", "attempt", "group", "reason"):
        table.add_column(column)
    for task in run.tasks:
        table.add_row(
            task.id,
            task.ref,
            task.type,
            task.status.value,
            str(task.attempt),
            task.group or "",
            task.reason or "",
        )
    console.print(table)
    return 0
