"""`cadenza recover --db FILE`: rebuild a damaged run table from the records, offline.

The journal's run table (`streams`, one row per run) is derived from its
records; a torn page of it is rebuilt as the journal opens (see
`cadenza.persistence._sqlite_repair`). This command does the same without
starting a runtime: it takes the owner's lock (a live owner refuses it with
`JournalBusy`), rebuilds the table if it is damaged, and prints what it
rebuilt and what it could not (`--json`: one JSON object). Run on a sound
journal it changes nothing, so running it twice is harmless.
"""

from __future__ import annotations

import json

from rich.console import Console

from cadenza._cli._inspect import existing
from cadenza.engine._rebuilt_rows import derive_row
from cadenza.persistence import SqliteJournal
from cadenza.persistence._sqlite_repair import RepairReport


async def recover(db: str, json_out: bool, console: Console) -> int:
    """Check (and if damaged rebuild) the run table of `db`; 0 once it is sound."""
    journal = SqliteJournal(existing(db))
    journal.row_deriver = derive_row
    await journal.open()  # the owner's lock, then the check and the rebuild
    try:
        report = journal.repair or RepairReport(db)
        quarantined = {
            exc.stream_id: str(exc) for exc in journal.damaged_streams() if exc.stream_id
        }
    finally:
        await journal.close()
    if json_out:
        print(json.dumps({**report.as_json(), "quarantined": sorted(quarantined)}, indent=2))
        return 0
    if not report.rebuilt:
        console.print(f"the run table of {db} is sound: nothing to rebuild", soft_wrap=True)
    else:
        console.print(
            f"rebuilt the run table of {db} from its records: {report.rows} runs served; "
            f"the damaged table is kept as {report.kept_as}",
            soft_wrap=True,
        )
        for run_id, why in sorted(report.damaged.items()):
            console.print(
                f"damaged run {run_id} quarantined: {why}", highlight=False, soft_wrap=True
            )
        if report.unattributed:
            seqs = ", ".join(map(str, report.unattributed[:20]))
            console.print(
                f"unreadable records of unknown runs: {seqs}", highlight=False, soft_wrap=True
            )
    if quarantined and not report.rebuilt:
        console.print(
            f"{len(quarantined)} run(s) quarantined by an earlier rebuild:", soft_wrap=True
        )
        for run_id in sorted(quarantined):
            console.print(f"  {run_id}", highlight=False, soft_wrap=True)
    return 0
