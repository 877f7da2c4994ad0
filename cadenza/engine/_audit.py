"""The recovery audit of parked runs: each one's armed wake-up checked against its state.

Recovery re-arms a parked run's wake-up from its row without loading the
run. In the background, `ParkedAudit` then loads each parked run — a
bounded pool of `AUDIT_CONCURRENCY` auditors, one run at a time each, so a
million parked runs are never all in memory at once — and the run's actor
compares the deadline its row promised with the one its state implies,
repairing a difference (`RunDeadlines.audit`).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import anyio

from cadenza._log import get_logger
from cadenza.actors import ActorRef, ActorSystem, ActorSystemStopped
from cadenza.engine._messages import AuditTimer
from cadenza.persistence import StreamInfo

log = get_logger("cadenza.engine")

AUDIT_CONCURRENCY = 512  # runs the recovery audit holds in memory at once


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
