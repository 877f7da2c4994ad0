"""Recovery's checks: rows marked ended that are not, and parked runs' armed wake-ups.

A stream row's `terminal` column is what recovery selects unfinished runs
by, and it carries no checksum of its own: a flipped bit would drop a
RUNNING run from recovery, silently. `rows_marked_ended` finds the rows
whose `terminal` contradicts their own status (RUNNING or PAUSED are never
ended) so recovery loads those runs too; their records decide.

Recovery re-arms a parked run's wake-up from its row without loading the
run. In the background, `ParkedAudit` then loads each parked run — a
bounded pool of `AUDIT_CONCURRENCY` auditors, one run at a time each, so a
million parked runs are never all in memory at once — and the run's actor
compares the deadline its row promised with the one its state implies,
repairing a difference (`RunDeadlines.audit`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from functools import partial
from typing import Any

import anyio

from cadenza._log import get_logger
from cadenza.actors import ActorRef, ActorSystem, ActorSystemStopped
from cadenza.engine._messages import AuditTimer
from cadenza.persistence import Journal, StreamInfo

log = get_logger("cadenza.engine")

AUDIT_CONCURRENCY = 512  # runs the recovery audit holds in memory at once
NEVER_ENDED = ("RUNNING", "PAUSED")  # statuses of a run that has not ended
ROWS_MAX = 2**62


async def rows_marked_ended(journal: Journal) -> list[StreamInfo]:
    """Rows marked terminal whose status says the run never ended, as unfinished rows."""
    found = []
    for status in NEVER_ENDED:
        for row in await journal.streams(status=status, terminal=True, limit=ROWS_MAX):
            log.error("journal.row_inconsistent", run_id=row.stream_id, status=row.status)
            found.append(replace(row, terminal=False, parked=False))  # load it: records decide
    return found


class ParkedAudit:
    """Audits parked runs' wake-ups; `audited` counts the runs checked so far."""

    def __init__(self, system: ActorSystem, run: Callable[[str], ActorRef[Any]]):
        self.system = system
        self.run = run
        self.audited = 0

    async def audit(self, rows: list[StreamInfo]) -> None:
        """Check each row's run (see the module note); `settle()` waits for it."""
        pending = iter(rows)

        async def auditor() -> None:
            for row in pending:
                await self.run(row.stream_id).ask(partial(AuditTimer, row.wake_at))
                self.audited += 1

        try:
            with self.system.busy():  # settle() waits for the audit
                async with anyio.create_task_group() as tg:
                    for _ in range(AUDIT_CONCURRENCY):
                        tg.start_soon(auditor)
        except* ActorSystemStopped:
            log.info("timer.audit_interrupted", audited=self.audited, parked=len(rows))
