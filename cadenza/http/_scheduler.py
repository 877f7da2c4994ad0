"""Conductor's scheduler endpoints (`SchedulerResource.java`, Orkes' shapes) on `rt.schedule`.

`POST /scheduler/schedules` takes a `WorkflowSchedule` (`name`,
`cronExpression` in Spring's 6-field form or 5 fields, `zoneId`,
`startWorkflowRequest {name, input, priority}`, `paused`,
`runCatchupScheduleInstances`, `scheduleStartTime`/`scheduleEndTime` in
epoch ms) and creates or replaces it; cadenza's own options travel beside
them: `everySeconds` (instead of a cron), `overlapPolicy`,
`catchupWindowSeconds` (wins over `runCatchupScheduleInstances`: false is a
window of 0, true of `CATCH_UP_ALL_S`), `jitterSeconds`. `GET` lists them
(`workflowName` filters), `GET`/`DELETE /scheduler/schedules/{name}` reads
or deletes one, `/pause` and `/resume` (GET as Orkes, PUT as Conductor OSS)
pause and resume it, and `GET /scheduler/nextFewSchedules?cronExpression=`
previews the next (at most 5, as Conductor) tick times in epoch ms.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from cadenza.core._cron import Cadence, parse_cron, zone_of
from cadenza.core._schedules import Schedule
from cadenza.http._engine import now_of
from cadenza.http._shapes import (
    BadRequest,
    millis,
    parse_bool,
    parse_int,
    parse_json,
    parse_object,
    parse_text,
)
from cadenza.runtime import Runtime

CATCH_UP_ALL_S = 365 * 86400.0  # runCatchupScheduleInstances=true: a year of missed ticks
NEXT_FEW_MAX = 5  # as Conductor's getListOfNextSchedules


def schedule_json(schedule: Schedule) -> dict[str, Any]:
    """A schedule as Conductor's `WorkflowSchedule` (times in epoch ms), plus cadenza's fields."""
    return {
        "name": schedule.name,
        "cronExpression": schedule.cron,
        "zoneId": schedule.zone,
        "paused": schedule.paused,
        "runCatchupScheduleInstances": schedule.catchup_window_s > 0,
        "startWorkflowRequest": {
            "name": schedule.workflow,
            "input": dict(schedule.input),
            "priority": schedule.priority,
        },
        "scheduleStartTime": millis(schedule.start_at) if schedule.start_at else None,
        "scheduleEndTime": millis(schedule.end_at) if schedule.end_at else None,
        "nextRunTime": millis(schedule.next_at) if schedule.next_at is not None else None,
        "everySeconds": schedule.every_s,
        "overlapPolicy": schedule.overlap,
        "catchupWindowSeconds": schedule.catchup_window_s,
        "jitterSeconds": schedule.jitter_s,
        "lastRunId": schedule.last_run_id,
        "started": schedule.started,
        "skipped": schedule.skipped,
        "missed": schedule.missed,
        "recent": [dict(r) for r in schedule.recent],
    }


def _seconds_of_ms(name: str, value: Any) -> float | None:
    if value is None or value == 0:  # Conductor's 0: not set
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadRequest(f"{name}: expected epoch milliseconds, got {value!r}")
    return float(value) / 1000.0


def _number(name: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadRequest(f"{name}: expected a number, got {value!r}")
    return float(value)


class Scheduler:
    """The scheduler endpoints on one runtime."""

    def __init__(self, rt: Runtime):
        self.rt = rt

    async def save(self, request: Request) -> Response:
        """`POST /scheduler/schedules`: create or replace a schedule."""
        body = parse_object("WorkflowSchedule", parse_json(await request.body()))
        if body is None:
            raise BadRequest("WorkflowSchedule: expected a JSON object")
        start = parse_object("startWorkflowRequest", body.get("startWorkflowRequest")) or {}
        name = parse_text("name", body.get("name"), required=True)
        workflow = parse_text("startWorkflowRequest.name", start.get("name"), required=True)
        if name is None or workflow is None:  # `required` raised already; for the types
            raise BadRequest("name and startWorkflowRequest.name are required")
        window = _number("catchupWindowSeconds", body.get("catchupWindowSeconds"))
        if window is None:
            catch_up = parse_bool(
                "runCatchupScheduleInstances", body.get("runCatchupScheduleInstances"), False
            )
            window = CATCH_UP_ALL_S if catch_up else 0.0
        cron = body.get("cronExpression") or None
        await self.rt.schedule(
            name,
            workflow,
            cron=cron,
            every_s=_number("everySeconds", body.get("everySeconds")),
            input=parse_object("startWorkflowRequest.input", start.get("input")),
            zone=parse_text("zoneId", body.get("zoneId")) or "UTC",
            start_at=_seconds_of_ms("scheduleStartTime", body.get("scheduleStartTime")),
            end_at=_seconds_of_ms("scheduleEndTime", body.get("scheduleEndTime")),
            overlap=parse_text("overlapPolicy", body.get("overlapPolicy")) or "skip",
            catchup_window_s=window,
            jitter_s=_number("jitterSeconds", body.get("jitterSeconds")) or 0.0,
            paused=parse_bool("paused", body.get("paused"), False),
            priority=start.get("priority") or 0,
        )
        return JSONResponse(schedule_json(await self.rt.get_schedule(name)))

    async def list_all(self, request: Request) -> Response:
        """`GET /scheduler/schedules[?workflowName=]`."""
        workflow = request.query_params.get("workflowName") or None
        schedules = [
            schedule_json(s)
            for s in await self.rt.schedules()
            if workflow is None or s.workflow == workflow
        ]
        return JSONResponse(schedules)

    async def get(self, request: Request) -> Response:
        return JSONResponse(schedule_json(await self.rt.get_schedule(request.path_params["name"])))

    async def delete(self, request: Request) -> Response:
        await self.rt.unschedule(request.path_params["name"])
        return Response(status_code=200)

    async def pause(self, request: Request) -> Response:
        await self.rt.pause_schedule(request.path_params["name"])
        return Response(status_code=200)

    async def resume(self, request: Request) -> Response:
        await self.rt.resume_schedule(request.path_params["name"])
        return Response(status_code=200)

    async def next_few(self, request: Request) -> Response:
        """`GET /scheduler/nextFewSchedules?cronExpression=&scheduleStartTime=&scheduleEndTime=&limit=`."""
        query = request.query_params
        expression, _seconds = parse_cron(query.get("cronExpression", ""))
        limit = parse_int("limit", query.get("limit"), default=NEXT_FEW_MAX, low=0, high=10_000)
        wanted = min(NEXT_FEW_MAX, NEXT_FEW_MAX if limit is None else limit)
        zone = query.get("zoneId") or "UTC"
        zone_of(zone)
        start = _ms_param("scheduleStartTime", query.get("scheduleStartTime"))
        end = _ms_param("scheduleEndTime", query.get("scheduleEndTime"))
        cadence = Cadence(expression, None, zone, start_at=start, end_at=end)
        found: list[int] = []
        tick = cadence.after(now_of(self.rt))
        while tick is not None and len(found) < wanted:
            found.append(millis(tick))
            tick = cadence.after(tick)
        return JSONResponse(found)


def _ms_param(name: str, value: str | None) -> float | None:
    if not value:
        return None
    try:
        return _seconds_of_ms(name, int(value))
    except ValueError:
        raise BadRequest(f"{name}: expected epoch milliseconds, got {value!r}") from None
