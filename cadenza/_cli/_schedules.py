"""`cadenza schedules`: the schedules in a journal, read-only beside a live owner.

Like `cadenza runs`: a table on a terminal, tab-separated lines when piped,
a JSON array with `--json`; nothing is written and no lock is taken.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime

from rich.console import Console
from rich.table import Table

from cadenza._cli._inspect import existing
from cadenza.engine.schedules._store import ScheduleStore
from cadenza.persistence import SqliteJournal


def _when(epoch_s: float | None) -> str:
    if epoch_s is None:
        return "-"
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def schedules(db: str, *, json_out: bool, console: Console) -> int:
    """List every schedule with its next tick, last run and tick counts; returns the exit code."""
    async with SqliteJournal(existing(db), readonly=True) as journal:
        states = await ScheduleStore(journal).states()
    found = [state.view() for state in states if not state.deleted]
    if json_out:
        print(json.dumps([asdict(s) for s in found], indent=2, default=str))
        return 0
    header = ("name", "workflow", "when", "zone", "overlap", "paused", "next tick",
              "last run", "started", "skipped", "missed")  # fmt: skip
    lines = [
        (s.name, s.workflow, s.cron or f"every {s.every_s:g}s", s.zone, s.overlap,
         "yes" if s.paused else "no", _when(s.next_at), s.last_run_id or "-",
         str(s.started), str(s.skipped), str(s.missed))
        for s in found
    ]  # fmt: skip
    if not console.is_terminal:
        for line in (header, *lines):
            print("\t".join(line))
        return 0
    table = Table(title=f"schedules in {db}", caption=f"{len(found)} schedules")
    for column in header:
        table.add_column(column, no_wrap=column in ("name", "last run"))
    for line in lines:
        table.add_row(*line)
    console.print(table)
    return 0
