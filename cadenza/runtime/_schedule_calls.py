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
from cadenza.core._schedules import OVERLAPS, Schedule
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
        await self._engine.registry.found(workflow)  # NotFound before anything is written
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

    async def trigger(self, name: str, *, overlap: str | None = None) -> str | None:
        """Take one action of schedule `name` now, under its overlap policy; the run's id.

        As Temporal's trigger does: while a run the schedule started is
        still running, `"skip"` starts nothing (counted as skipped),
        `"buffer_one"` starts this one when the running ones have ended (or
        skips it if one is buffered already), `"cancel_other"` ends them and
        starts this one once they have ended, `"terminate_other"` ends them
        and starts at once, `"allow_all"` starts at once. `overlap` overrides
        the schedule's policy for this call only.

        Returns the id of the run started now; None if none was (skipped,
        buffered, or the workflow is no longer registered: counted as failed).

        Raises:
            NotFound: no schedule `name`.
            InvalidArgument: `overlap` is not one of the five policies.
        """
        _overlap_checked(overlap)
        found: str | None = await self._control(name, "trigger", overlap)
        return found

    async def backfill(
        self,
        name: str,
        start: datetime | float,
        end: datetime | float,
        *,
        overlap: str | None = None,
    ) -> list[str]:
        """Take schedule `name`'s ticks in `[start, end]`, oldest first; the ids of the runs started.

        Each tick goes through the overlap policy (the schedule's, or
        `overlap` for this call only) as if all of them came now, at once:
        the runs started by earlier ticks of the backfill count as running
        for the later ones, so under `"skip"` only the first tick starts
        while its run runs, and `"allow_all"` starts every one. Each start is
        keyed by its tick as a regular tick is, so a tick already started (by
        the schedule or an earlier backfill) is not started again (its run's
        id is returned).

        Raises:
            NotFound: no schedule `name`.
            InvalidArgument: a bad instant, `end` before `start`, more than
                10,000 ticks in the range, or an unknown `overlap`.
        """
        scheduler = self._schedules_open()
        check.text("name", name)
        _overlap_checked(overlap)
        first = instant("start", start, optional=False)
        last = instant("end", end, optional=False)
        assert first is not None
        assert last is not None
        if last < first:
            raise InvalidArgument("end", f"ends ({last}) before start ({first})")
        with calls_translated(f"backfill of schedule {name!r}"):
            return await scheduler.backfill(name, first, last, overlap)

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

    async def _control(self, name: str, what: str, overlap: str | None = None) -> Any:
        scheduler = self._schedules_open()
        check.text("name", name)
        with calls_translated(f"{what} of schedule {name!r}"):
            return await scheduler.control(name, what, overlap)


def _overlap_checked(overlap: object) -> None:
    """Raise InvalidArgument unless `overlap` is None or one of the five policies."""
    if overlap is not None and overlap not in OVERLAPS:
        raise InvalidArgument("overlap", f"expected one of {', '.join(OVERLAPS)}, got {overlap!r}")
