"""A schedule's state, its JSON form, and the pure decisions about its ticks.

Design note
-----------
A schedule is journaled as a stream of its own (the engine's
`cadenza.engine.schedules`): each change is one record whose snapshot is the whole
`ScheduleState` below, so loading a schedule reads one snapshot. The state
holds the definition (`ScheduleSpec`) and the progress: `next_at`, the tick
that is due next (None: paused, ended or deleted); `running`, the runs it
started that it has not seen end; `buffered`, a tick held back by
`buffer_one` or `cancel_other` until they end (`buffered_as` says whether
it is a tick of the cadence, a trigger or a backfilled tick); counters and the last few
ticks for operators.

`due(state, now)` splits the ticks from `next_at` up to `now` into the ones
to start, in order, and the ones older than `catchup_window_s`, which are
counted as missed and never started. It never returns a tick later than
`now`: a tick is never early.

Overlap policies, as Temporal names them (`decide_overlap`): with a run of
this schedule still running, `skip` starts nothing; `buffer_one` keeps one
tick and starts it when the running ones end (later ticks meanwhile are
skipped); `allow_all` starts anyway; `cancel_other` ends the running ones
and starts the tick once they have ended; `terminate_other` ends them and
starts at once. `rt.trigger` and `rt.backfill` go through the same
decision, with the schedule's policy unless the call overrides it (as
Temporal's TriggerImmediatelyRequest and BackfillRequest do).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from cadenza.core._cron import Cadence

OVERLAPS = ("skip", "buffer_one", "allow_all", "cancel_other", "terminate_other")
STARTS = ("started", "triggered", "backfilled")  # results that made a run
RECENT_KEPT = 20  # ticks kept for operators (dashboard, CLI)
RUNNING_KEPT = 256  # runs a schedule remembers as running (allow_all: the newest)
MISSED_COUNTED_MAX = 100_000  # missed ticks counted one by one; past it the count is a floor


@dataclass(frozen=True, slots=True)
class ScheduleSpec:
    """What `rt.schedule(...)` was given, checked."""

    name: str
    workflow: str
    cron: str | None
    every_s: float | None
    input: dict[str, Any]
    zone: str
    start_at: float | None
    end_at: float | None
    overlap: str
    catchup_window_s: float
    jitter_s: float
    priority: int
    anchor: float  # every_s ticks at anchor + k * every_s

    def cadence(self) -> Cadence:
        return Cadence(self.cron, self.every_s, self.zone, self.anchor, self.start_at, self.end_at)


@dataclass(frozen=True, slots=True)
class Schedule:
    """A schedule as `rt.schedules()` shows it (a copy).

    `next_at` is the epoch second of the next tick (None: paused, or past
    `end_at`); `last_run_id` the run the last started tick made. The other
    fields are for operators: `missed` ticks (older than the catch-up
    window when the process came back), `skipped` ticks (overlap), and
    `recent`, the last ticks as `{"at", "run_id", "result"}` dicts.
    """

    name: str
    workflow: str
    cron: str | None
    every_s: float | None
    zone: str
    paused: bool
    next_at: float | None
    last_run_id: str | None
    overlap: str = "skip"
    catchup_window_s: float = 3600.0
    jitter_s: float = 0.0
    priority: int = 0
    input: dict[str, Any] = field(default_factory=dict)
    start_at: float | None = None
    end_at: float | None = None
    started: int = 0
    skipped: int = 0
    missed: int = 0
    running: tuple[str, ...] = ()
    recent: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class ScheduleState:
    """Everything journaled about one schedule; see the module note."""

    spec: ScheduleSpec
    generation: int  # bumped when a deleted schedule's name is used again (fresh tick keys)
    paused: bool = False
    deleted: bool = False
    next_at: float | None = None
    last_run_id: str | None = None
    running: tuple[str, ...] = ()
    buffered: float | None = None
    buffered_as: str = "started"  # what the buffered tick is: "started", "triggered", "backfilled"
    started: int = 0
    skipped: int = 0
    missed: int = 0
    recent: tuple[tuple[float, str | None, str], ...] = ()  # (tick, run id, result)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["running"] = list(self.running)
        data["recent"] = [list(r) for r in self.recent]
        return data

    @staticmethod
    def from_json(data: dict[str, Any]) -> ScheduleState:
        spec = ScheduleSpec(**data["spec"])
        rest = {k: v for k, v in data.items() if k != "spec"}
        rest["running"] = tuple(rest.get("running", ()))
        rest["recent"] = tuple((r[0], r[1], r[2]) for r in rest.get("recent", ()))
        return ScheduleState(spec=spec, **rest)

    def view(self) -> Schedule:
        spec = self.spec
        return Schedule(
            name=spec.name, workflow=spec.workflow, cron=spec.cron, every_s=spec.every_s,
            zone=spec.zone, paused=self.paused, next_at=self.next_at,
            last_run_id=self.last_run_id, overlap=spec.overlap,
            catchup_window_s=spec.catchup_window_s, jitter_s=spec.jitter_s,
            priority=spec.priority, input=dict(spec.input), start_at=spec.start_at,
            end_at=spec.end_at, started=self.started, skipped=self.skipped,
            missed=self.missed, running=self.running,
            recent=tuple({"at": at, "run_id": run, "result": result}
                         for at, run, result in self.recent),
        )  # fmt: skip

    def noted(self, tick: float, run_id: str | None, result: str) -> ScheduleState:
        """The state with one tick's outcome counted and kept among the recent ones."""
        recent = (*self.recent, (tick, run_id, result))[-RECENT_KEPT:]
        changed = replace(self, recent=recent)
        if result in STARTS and run_id is not None:
            return replace(
                changed,
                started=self.started + 1,
                last_run_id=run_id,
                running=(self.running if run_id in self.running else (*self.running, run_id))[
                    -RUNNING_KEPT:
                ],
            )
        if result == "skipped":
            return replace(changed, skipped=self.skipped + 1)
        return changed


def due(state: ScheduleState, now: float) -> tuple[list[float], int, float | None]:
    """The ticks to start now (oldest first), how many were missed, and the next tick after now.

    Ticks from `next_at` through `now` are due; those more than
    `catchup_window_s` before `now` are missed. Never a tick after `now`.
    """
    cadence = state.spec.cadence()
    tick = state.next_at
    if tick is None or tick > now:
        return [], 0, tick
    oldest = now - state.spec.catchup_window_s
    missed = 0
    while tick is not None and tick < oldest:
        missed += 1
        if missed >= MISSED_COUNTED_MAX:  # jump: count no further
            tick = cadence.after(math.nextafter(oldest, -math.inf))
            break
        tick = cadence.after(tick)
    ticks: list[float] = []
    while tick is not None and tick <= now:
        ticks.append(tick)
        tick = cadence.after(tick)
    return ticks, missed, tick


Overlap = Literal["start", "skip", "buffer", "end_then_start", "end_and_start"]


def decide_overlap(policy: str, running: bool, buffered: float | None) -> Overlap:
    """What a due tick does under `policy` when a run of its schedule is (or is not) running."""
    if not running or policy == "allow_all":
        return "start"
    if policy == "skip":
        return "skip"
    if policy == "buffer_one":
        return "skip" if buffered is not None else "buffer"
    if policy == "cancel_other":
        return "end_then_start"
    return "end_and_start"  # terminate_other
