"""Recovery: the unfinished runs a journal holds, put back to work (at open, or on taking
over partitions of a shared journal).

Parked runs (waiting on a timer or a signal) are not loaded: their rows say
when to wake them, and one `ArmMany` arms them all; the wake-ups that fall
due load their runs then. The others are loaded and sent `Recover`, a few
at a time (`RECOVERY_CONCURRENCY`): each puts back in its queue what the
crash took out, and decides again. A run that cannot be read is quarantined,
never blocking the others; one whose recovery fails otherwise is retried in
the background and reported if it keeps failing (`_recovery_retry`), the
others recovered and served meanwhile.

On a shared PostgreSQL journal the runs to load are first adopted by the
shared queues (`SharedDispatch.adopt`, one statement for them all): a task
whose row an earlier owner posted is queued in a local group only once
that row is removed, never while a worker may claim it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio

from cadenza._log import get_logger
from cadenza.dispatch._timers import Arm, ArmMany
from cadenza.engine._audit import rows_marked_ended
from cadenza.engine._messages import Wake
from cadenza.persistence import StreamInfo

if TYPE_CHECKING:
    from cadenza.engine._host import Engine

log = get_logger("cadenza.engine")

RECOVERY_CONCURRENCY = 64


async def recover_rows(engine: Engine, rows: list[StreamInfo] | None) -> None:
    """Recover the unfinished runs of `rows` (None: the journal's); see the module note."""
    if rows is None:
        rows = [*await engine.journal.unfinished_rows(), *await rows_marked_ended(engine.journal)]
    unfinished = [row.stream_id for row in rows if not row.parked]
    if engine.observer is not None:
        engine.observer.recovered(rows)
    for row in rows:  # the per-type counts, rebuilt exactly from what the rows hold
        engine.count_timers(row.stream_id, {}, dict(row.timers or {}))
    arms = [
        Arm(row.wake_at, engine._runs.ref(row.stream_id), Wake(row.wake_at))
        for row in rows
        if row.parked and row.wake_at is not None
    ]
    if arms:  # one message for them all; due ones fire at once and load their runs then
        await engine._timers.tell(ArmMany(arms))
    engine.parked_at_open += len(rows) - len(unfinished)
    if engine.audit_timers and len(rows) > len(unfinished):
        # Overdue rows are checked by their own firing (it loads them, in deadline
        # order); auditing them first would load them out of that order.
        now = engine.clock.now()
        to_audit = [
            row for row in rows if row.parked and (row.wake_at is None or row.wake_at > now)
        ]
        engine.system.start_soon(engine._audit.audit, to_audit, name="timer-audit")
    if engine.shared is not None and unfinished:  # before any of their tasks is queued here
        await engine.shared.adopt(unfinished)
    limiter = anyio.Semaphore(RECOVERY_CONCURRENCY)

    async def recover(run_id: str) -> None:
        async with limiter:  # damage quarantines it; any other failure retries it, alone
            await engine.recovery.recover(run_id)

    async with anyio.create_task_group() as tg:
        for run_id in unfinished:
            tg.start_soon(recover, run_id)
    engine.recovered += len(rows)
    engine.gate.recovered(unfinished)
    if unfinished:
        log.info("runtime.recovered", runs=len(unfinished))
