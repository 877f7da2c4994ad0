"""Schedules in the journal: one stream per schedule, its snapshot the whole state.

Design note
-----------
A schedule named N is the stream `schedule:N` of kind `SCHEDULE_KIND`. Its
row is always `terminal` (so recovery of runs never loads it, and the
rows of runs are what run listings see once `is_schedule_row` rows are left
out); its `status` is `SCHEDULED`, `SCHEDULE_PAUSED` or `SCHEDULE_DELETED`;
`wake_at` is the instant its next tick is due (jitter included) and
`parked` is False only while a buffered tick waits for running runs to end
— so opening the runtime arms every schedule from its row alone (one timer
entry each, nothing loaded) and loads only the few with a buffered tick.
Every record carries the full `ScheduleState` as its snapshot, plus one
event saying what changed (`schedule.set`, `schedule.ticked`, ...), so the
stream is also the schedule's audit log.
"""

from __future__ import annotations

from typing import Any

from cadenza.core._cron import jitter_of
from cadenza.core._schedules import ScheduleState
from cadenza.persistence import Append, Journal, StreamInfo

SCHEDULE_KIND = "__cadenza_schedule__"  # the rows' kind: never a workflow's name
STREAM_PREFIX = "schedule:"
ROWS_MAX = 2**62


def stream_of(name: str) -> str:
    return STREAM_PREFIX + name


def is_schedule_row(row: StreamInfo) -> bool:
    """The row is a schedule's, not a run's (listings of runs leave it out)."""
    return row.kind == SCHEDULE_KIND


def wake_of(state: ScheduleState) -> float | None:
    """When the timer should fire for the next tick: its time plus its fixed jitter."""
    if state.next_at is None or state.paused or state.deleted:
        return None
    return state.next_at + jitter_of(state.spec.name, state.next_at, state.spec.jitter_s)


def status_of(state: ScheduleState) -> str:
    if state.deleted:
        return "SCHEDULE_DELETED"
    return "SCHEDULE_PAUSED" if state.paused else "SCHEDULED"


class ScheduleStore:
    """Reads and writes schedule streams on `journal`."""

    def __init__(self, journal: Journal):
        self.journal = journal
        self.damaged: list[str] = []  # streams the last `states()` could not read

    async def load(self, name: str) -> tuple[ScheduleState, float] | None:
        """The schedule's state and creation time, or None if it never existed."""
        loaded = await self.journal.load(stream_of(name))
        if loaded is None or loaded.snapshot is None:
            return None
        return ScheduleState.from_json(dict(loaded.snapshot)), loaded.info.created_at

    async def save(
        self,
        state: ScheduleState,
        event: dict[str, Any],
        *,
        created_at: float,
        now: float,
        inbox_seen: int | None = None,
    ) -> None:
        """Append one record (durable on return): `event` and the state as its snapshot
        (`inbox_seen`: the forwarded call it applied, `Append.inbox_seen`)."""
        info = StreamInfo(
            stream_id=stream_of(state.spec.name),
            kind=SCHEDULE_KIND,
            version=state.generation,
            status=status_of(state),
            terminal=True,
            created_at=created_at,
            updated_at=now,
            parked=state.buffered is None,
            wake_at=wake_of(state),
        )
        await self.journal.append(
            Append(info, [event], snapshot=state.to_json(), inbox_seen=inbox_seen)
        )

    async def rows(self) -> list[StreamInfo]:
        """Every schedule's row, deleted ones included, oldest first."""
        rows = await self.journal.streams(kind=SCHEDULE_KIND, limit=ROWS_MAX)
        return rows[::-1]

    async def states(self) -> list[ScheduleState]:
        """Every live (not deleted) schedule's state, by name; a damaged one is left out
        and its stream named in `damaged`."""
        ids = [row.stream_id for row in await self.rows() if row.status != "SCHEDULE_DELETED"]
        found = await self.journal.load_many(ids)
        states = []
        self.damaged = []
        for stream_id, loaded in found.items():
            if isinstance(loaded, Exception):
                self.damaged.append(stream_id)
            elif loaded is not None and loaded.snapshot is not None:
                states.append(ScheduleState.from_json(dict(loaded.snapshot)))
        return sorted(states, key=lambda s: s.spec.name)


async def run_rows(
    journal: Journal,
    *,
    kind: str | None = None,
    status: str | None = None,
    correlation_id: str | None = None,
    limit: int = 100,
) -> list[StreamInfo]:
    """`journal.streams(...)` of runs only: schedules' rows left out, still up to `limit`."""
    asked = limit
    while True:
        rows = await journal.streams(
            kind=kind, status=status, correlation_id=correlation_id, limit=asked
        )
        runs = [row for row in rows if not is_schedule_row(row)]
        if len(runs) >= limit or len(rows) < asked:
            return runs[:limit]
        asked = min(asked * 2 + len(rows) - len(runs), ROWS_MAX)
