"""The `Runtime`'s schedule calls (API.md, "Schedules"): checked, then sent to the scheduler.

`Runtime` takes these methods from `ScheduleCalls`, which holds the one
thing they use, the engine's `Scheduler` (and the runtime's open check):
the runtime module stays one screenful per topic.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from cadenza._errors import InvalidArgument, NotFound, RuntimeClosed
from cadenza.core._schedules import Schedule
from cadenza.engine._host import Engine
from cadenza.engine._schedules import Scheduler
from cadenza.runtime import _arguments as check
from cadenza.runtime._calls import calls_translated
from cadenza.runtime._schedule_args import instant, schedule_spec


class ScheduleCalls:
    """Durable cron and interval schedules; see each method."""

    _engine: Engine
    _scheduler: Scheduler

    @staticmethod
    def _new_scheduler(engine: Engine) -> Scheduler:
        return Scheduler(engine)

    def _schedules_open(self) -> Scheduler:
        if not self._engine.is_open:
            raise RuntimeClosed()
        return self._scheduler

    async def schedule(
        self,
        name: str,
        workflow: str,
        *,
        cron: str | None = None,
        every_s: float | None = None,
        input: Mapping[str, Any] | None = None,
        zone: str = "UTC",
        start_at: datetime | float | None = None,
        end_at: datetime | float | None = None,
        overlap: str = "skip",
        catchup_window_s: float = 3600.0,
        jitter_s: float = 0.0,
        paused: bool = False,
        priority: int = 0,
    ) -> None:
        """Create or replace schedule `name`, starting `workflow` at each tick; durable on return.

        Exactly one of `cron` (5 fields, or 6 with seconds first, evaluated
        in IANA `zone` with croniter's daylight-saving rules) and `every_s`
        (an interval from `start_at`, or from now). Each tick starts at most
        one run, keyed by (schedule, tick time), with `input` plus
        `_scheduledTime` and `_executedTime` (epoch ms). Ticks due while the
        process was down start on recovery if within `catchup_window_s`,
        oldest first; older ones are counted as missed. `overlap` says what a
        tick does while a run it started is still running: `"skip"`,
        `"buffer_one"`, `"allow_all"`, `"cancel_other"` or `"terminate_other"`.
        `jitter_s` delays each tick by a fixed pseudo-random amount in
        `[0, jitter_s)`. Replacing keeps the schedule's history and runs.

        Raises:
            InvalidArgument: a bad argument, named.
            NotFound: `workflow` is not registered.
        """
        scheduler = self._schedules_open()
        if input is not None and not isinstance(input, Mapping):
            raise InvalidArgument("input", f"expected a dict, got {type(input).__name__}")
        spec = schedule_spec(
            name, workflow, cron=cron, every_s=every_s, input=input, zone=zone,
            start_at=start_at, end_at=end_at, overlap=overlap,
            catchup_window_s=catchup_window_s, jitter_s=jitter_s, paused=paused,
            priority=priority, now=self._engine.clock.now(),
        )  # fmt: skip
        self._engine.registry.get(workflow, None)  # NotFound before anything is written
        with calls_translated(f"schedule {name!r}"):
            await scheduler.put(spec, paused)

    async def unschedule(self, name: str) -> None:
        """Delete schedule `name`: no more ticks; runs it started go on.

        Raises:
            NotFound: no schedule `name`.
        """
        await self._control(name, "delete")

    async def pause_schedule(self, name: str) -> None:
        """Pause schedule `name`: no tick starts until it is resumed (ticks meanwhile are not caught up).

        Raises:
            NotFound: no schedule `name`.
        """
        await self._control(name, "pause")

    async def resume_schedule(self, name: str) -> None:
        """Resume schedule `name` from its next tick after now.

        Raises:
            NotFound: no schedule `name`.
        """
        await self._control(name, "resume")

    async def trigger(self, name: str) -> str | None:
        """Start one run of schedule `name` now, whatever its overlap policy; returns its id.

        Returns None if the workflow is no longer registered (counted as failed).

        Raises:
            NotFound: no schedule `name`.
        """
        found: str | None = await self._control(name, "trigger")
        return found

    async def backfill(
        self, name: str, start: datetime | float, end: datetime | float
    ) -> list[str]:
        """Start the runs of schedule `name`'s ticks in `[start, end]`, oldest first; their ids.

        Each is keyed by its tick as a regular tick is, so a tick already
        started (by the schedule or an earlier backfill) is not started again
        (its run's id is returned). The overlap policy does not apply.

        Raises:
            NotFound: no schedule `name`.
            InvalidArgument: a bad instant, `end` before `start`, or more
                than 10,000 ticks in the range.
        """
        scheduler = self._schedules_open()
        check.text("name", name)
        first = instant("start", start, optional=False)
        last = instant("end", end, optional=False)
        assert first is not None
        assert last is not None
        if last < first:
            raise InvalidArgument("end", f"ends ({last}) before start ({first})")
        with calls_translated(f"backfill of schedule {name!r}"):
            return await scheduler.backfill(name, first, last)

    async def schedules(self) -> list[Schedule]:
        """Every schedule, by name (copies)."""
        scheduler = self._schedules_open()
        with calls_translated("schedules"):
            return await scheduler.every()

    async def get_schedule(self, name: str) -> Schedule:
        """Schedule `name` (a copy).

        Raises:
            NotFound: no schedule `name`.
        """
        scheduler = self._schedules_open()
        check.text("name", name)
        with calls_translated(f"schedule {name!r}"):
            found = await scheduler.get(name)
        if found is None:
            raise NotFound("schedule", name)
        return found

    async def _control(self, name: str, what: str) -> Any:
        scheduler = self._schedules_open()
        check.text("name", name)
        with calls_translated(f"{what} of schedule {name!r}"):
            return await scheduler.control(name, what)
