"""Schedules in the simulation: a few schedules beside the Conductor-like load, and their check.

Design note
-----------
`ScheduleDriver` creates `SCHEDULES` on the workload's three-step
definition (an interval started whatever runs, one that skips while its
last run runs, a 6-field cron that buffers one tick), so ticks race the
crashes, the journal faults and the message delays of the seed. Each
schedule's input names it. `pause()` stops them once the faults stop, so
the liveness bound is about the runs already started.

`ScheduleChecks` hooks into the `Checker` (`on_record`): every run started
by a schedule carries its tick's idempotency key (`schedule:NAME:GEN@TICK`)
and the tick time in its input. It reports `schedule` when a second run
starts the same schedule's same tick (read from the key's schedule part and
the input's tick time, not from the whole key, so a key that changed
would not hide it): each tick started at most once, across crashes; and
when a run started before its tick time (never early).
"""

from __future__ import annotations

import contextlib
from typing import Any

from cadenza._errors import CadenzaError
from cadenza.core._events import Event, WorkflowStarted
from cadenza.runtime import Runtime
from cadenza.testing._simulation.checker import EARLY_EPS_S, Checker
from cadenza.testing._simulation.harness import SimRuntime

SCHEDULES: tuple[dict[str, Any], ...] = (
    {"name": "every-700ms", "every_s": 0.7, "overlap": "allow_all"},
    {"name": "every-1300ms", "every_s": 1.3, "overlap": "skip"},
    {"name": "cron-2s", "cron": "*/2 * * * * *", "overlap": "buffer_one"},
)
KEY_PREFIX = "schedule:"


class ScheduleDriver:
    """Creates and pauses the simulation's schedules on `workflow`."""

    def __init__(self, harness: SimRuntime, workflow: str):
        self.h = harness
        self.workflow = workflow

    def install(self) -> None:
        async def create(rt: Runtime) -> None:
            for spec in SCHEDULES:
                options = {k: v for k, v in spec.items() if k != "name"}
                await rt.schedule(
                    spec["name"], self.workflow, input={"n": 0, "schedule": spec["name"]},
                    catchup_window_s=5.0, **options,
                )  # fmt: skip

        self.h.sim.run(create(self.h.runtime))

    def pause(self) -> None:
        """Pause every schedule (a crash may have come in between: each one is tried)."""

        async def pause_all(rt: Runtime) -> None:
            for spec in SCHEDULES:
                with contextlib.suppress(CadenzaError):
                    await rt.pause_schedule(spec["name"])

        self.h.sim.run(pause_all(self.h.runtime))


class ScheduleChecks:
    """Each tick started at most once, never before its time; see the module note."""

    def __init__(self, checker: Checker):
        self.checker = checker
        self.started: dict[str, str] = {}  # (schedule, tick time) -> the run that started it
        self.ticks = 0
        self._journal = checker._journal
        checker.on_record.append(self.record)

    def record(self, run_id: str, events: list[Event]) -> None:
        if self.checker._journal is not self._journal:  # a crash: rescanned from the durable copy
            self._journal = self.checker._journal
            self.started.clear()
            self.ticks = 0
        for event in events:
            if not isinstance(event, WorkflowStarted) or not event.key:
                continue
            if not event.key.startswith(KEY_PREFIX):
                continue
            tick_s = float(event.input.get("_scheduledTime", 0)) / 1000
            tick = f"{event.key.split('@')[0]}@{tick_s:.3f}"  # the schedule and its tick time
            first = self.started.setdefault(tick, run_id)
            if first == run_id:
                self.ticks += 1
            else:
                self.checker.report(
                    "schedule", run_id, f"tick {tick} started again (first by {first})"
                )
            if event.at < tick_s - 0.001 - EARLY_EPS_S:  # _scheduledTime is in whole ms
                early_ms = (tick_s - event.at) * 1000
                self.checker.report("schedule", run_id, f"tick {event.key} {early_ms:.3f} ms early")
