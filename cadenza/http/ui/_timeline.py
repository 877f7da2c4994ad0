"""A run's timeline: one bar per task attempt, split into queue wait and execution.

Queue wait runs from `scheduled_at` to `started_at` (or to now, or to the
attempt's end, when no worker ever took it); execution from `started_at` to
`ended_at` (or to now while it runs). Positions are percentages of the
run's span, so the template lays them out with plain CSS.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Bar:
    """One attempt on the timeline: offsets and widths in percent of the span."""

    task_id: str
    ref: str
    attempt: int
    status: str
    wait_left: float
    wait_width: float
    run_left: float
    run_width: float
    wait_s: float
    run_s: float | None


@dataclass(frozen=True, slots=True)
class Timeline:
    bars: list[Bar]
    start: float
    span_s: float


def _percent(value: float, start: float, span: float) -> float:
    return round(100.0 * (value - start) / span, 3)


def timeline(
    tasks: Sequence[Any], *, run_start: float, run_end: float | None, now: float
) -> Timeline:
    """The bars of every attempt in `tasks` (`TaskRun`s), in scheduling order."""
    starts = [run_start, *(t.scheduled_at for t in tasks)]
    start = min(starts)
    ends = [run_end if run_end is not None else now]
    for task in tasks:
        ends += [v for v in (task.scheduled_at, task.started_at, task.ended_at) if v is not None]
    span = max(max(ends) - start, 1e-3)
    bars = []
    for task in tasks:
        finished = task.ended_at if task.ended_at is not None else now
        taken = task.started_at if task.started_at is not None else finished
        run_to = finished if task.started_at is not None else taken
        bars.append(
            Bar(
                task_id=str(task.id),
                ref=str(task.ref),
                attempt=int(task.attempt),
                status=str(task.status),
                wait_left=_percent(task.scheduled_at, start, span),
                wait_width=max(
                    _percent(taken, start, span) - _percent(task.scheduled_at, start, span), 0.0
                ),
                run_left=_percent(taken, start, span),
                run_width=max(_percent(run_to, start, span) - _percent(taken, start, span), 0.0),
                wait_s=max(taken - task.scheduled_at, 0.0),
                run_s=None if task.started_at is None else max(run_to - task.started_at, 0.0),
            )
        )
    return Timeline(bars=bars, start=start, span_s=span)
