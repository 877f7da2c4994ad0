"""Conductor's scheduler endpoints (Orkes' shapes) over ASGI, on the virtual clock."""

from __future__ import annotations

from typing import Any

import httpx

import cadenza
from cadenza.testing import VirtualClock
from tests.http.test_tasks_api import conductor_error

START = 1_800_000_000.0  # 2027-01-15T08:00:00Z, the `clock` fixture's start


def nightly(**extra: Any) -> dict[str, Any]:
    return {
        "name": "nightly",
        "cronExpression": "0 0 2 * * ?",
        "zoneId": "America/New_York",
        "startWorkflowRequest": {"name": "flow", "input": {"n": 1}},
        **extra,
    }


async def test_a_schedule_round_trips_and_ticks(
    api: httpx.AsyncClient, flow: dict[str, Any], rt: cadenza.Runtime, clock: VirtualClock
) -> None:
    saved = await api.post("/api/scheduler/schedules", json=nightly())
    assert saved.status_code == 200, saved.text
    body = saved.json()
    assert body["name"] == "nightly"
    assert body["cronExpression"] == "0 0 2 * * ?"
    assert body["startWorkflowRequest"]["name"] == "flow"
    assert body["nextRunTime"] == round((START + 23 * 3600) * 1000)  # 02:00 EST: 07:00Z next day
    assert body["paused"] is False
    assert body["runCatchupScheduleInstances"] is False
    listed = (await api.get("/api/scheduler/schedules")).json()
    assert [s["name"] for s in listed] == ["nightly"]
    assert (
        await api.get("/api/scheduler/schedules", params={"workflowName": "other"})
    ).json() == []
    assert (await api.get("/api/scheduler/schedules/nightly")).json()["name"] == "nightly"
    await clock.advance(24 * 3600)
    runs = await rt.runs(name="flow")
    assert len(runs) == 1
    assert runs[0].input["n"] == 1
    assert runs[0].input["_scheduledTime"] == body["nextRunTime"]
    got = (await api.get("/api/scheduler/schedules/nightly")).json()
    assert got["lastRunId"] == runs[0].id


async def test_pause_resume_and_delete(api: httpx.AsyncClient, flow: dict[str, Any]) -> None:
    assert (await api.post("/api/scheduler/schedules", json=nightly())).status_code == 200
    assert (await api.get("/api/scheduler/schedules/nightly/pause")).status_code == 200
    got = (await api.get("/api/scheduler/schedules/nightly")).json()
    assert got["paused"] is True
    assert got["nextRunTime"] is None
    assert (await api.put("/api/scheduler/schedules/nightly/resume")).status_code == 200
    assert (await api.get("/api/scheduler/schedules/nightly")).json()["paused"] is False
    assert (await api.delete("/api/scheduler/schedules/nightly")).status_code == 200
    conductor_error(await api.get("/api/scheduler/schedules/nightly"), 404)
    conductor_error(await api.delete("/api/scheduler/schedules/nightly"), 404)


async def test_cadenza_options_and_bad_input(api: httpx.AsyncClient, flow: dict[str, Any]) -> None:
    every = {"name": "fast", "everySeconds": 30, "overlapPolicy": "allow_all",
             "startWorkflowRequest": {"name": "flow"}}  # fmt: skip
    answer = await api.post("/api/scheduler/schedules", json=every)
    assert answer.status_code == 200, answer.text
    assert answer.json()["everySeconds"] == 30
    assert answer.json()["overlapPolicy"] == "allow_all"
    conductor_error(
        await api.post("/api/scheduler/schedules", json=nightly(cronExpression="x")), 400
    )
    conductor_error(
        await api.post("/api/scheduler/schedules", json=nightly(zoneId="Mars/Base")), 400
    )
    no_flow = nightly(startWorkflowRequest={"name": "missing"})
    conductor_error(await api.post("/api/scheduler/schedules", json=no_flow), 404)
    conductor_error(await api.post("/api/scheduler/schedules", json={"name": "x"}), 400)


async def test_next_few_schedules(api: httpx.AsyncClient) -> None:
    """At most 5 (as Conductor), in epoch ms, from now on the runtime's clock."""
    answer = await api.get(
        "/api/scheduler/nextFewSchedules", params={"cronExpression": "0 0 * * * ?", "limit": 3}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == [round((START + 3600 * k) * 1000) for k in (1, 2, 3)]
    many = await api.get(
        "/api/scheduler/nextFewSchedules", params={"cronExpression": "* * * * *", "limit": 50}
    )
    assert len(many.json()) == 5
    conductor_error(
        await api.get("/api/scheduler/nextFewSchedules", params={"cronExpression": "nope"}), 400
    )
