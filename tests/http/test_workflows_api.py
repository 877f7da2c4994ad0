"""Workflow and metadata endpoints over ASGI, the token, /health, and their error cases."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

import cadenza
from cadenza.http import create_app
from tests.http.conftest import SIMPLE_FLOW
from tests.http.test_tasks_api import conductor_error, start, take


async def finish(api: httpx.AsyncClient, task_type: str, status: str = "COMPLETED") -> None:
    task = await take(api, task_type)
    answer = await api.post("/api/tasks", json={"taskId": task["taskId"], "status": status})
    assert answer.status_code == 200, answer.text


async def test_metadata_round_trips(api: httpx.AsyncClient, flow: dict[str, Any]) -> None:
    got = await api.get("/api/metadata/workflow/flow")
    assert got.status_code == 200
    assert [t["taskReferenceName"] for t in got.json()["tasks"]] == ["a", "b"]
    assert (await api.get("/api/metadata/workflow/flow", params={"version": 1})).status_code == 200
    conductor_error(await api.get("/api/metadata/workflow/flow", params={"version": 9}), 404)
    task_def = (await api.get("/api/metadata/taskdefs/a")).json()
    assert task_def["name"] == "a"
    assert task_def["retryCount"] == 0
    names = [t["name"] for t in (await api.get("/api/metadata/taskdefs")).json()]
    assert names == ["a", "b"]
    again = await api.post("/api/metadata/workflow", json=SIMPLE_FLOW)
    conductor_error(again, 409)
    overwrite = await api.post("/api/metadata/workflow?overwrite=True", json=SIMPLE_FLOW)
    assert overwrite.status_code == 200
    v2 = {**SIMPLE_FLOW, "version": 2}
    bulk = await api.put("/api/metadata/workflow", json=[v2])
    assert bulk.json()["bulkSuccessfulResults"] == ["flow.2"]
    assert (await api.get("/api/metadata/workflow/flow")).json()["version"] == 2


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("POST", "/api/metadata/taskdefs", {"name": "x"}, 400),  # a list is expected
        ("POST", "/api/metadata/taskdefs", [{"name": "ok"}, {"retryCount": 1}], 400),
        ("POST", "/api/metadata/taskdefs", [{"name": "x", "retryCount": "many"}], 400),
        ("PUT", "/api/metadata/taskdefs", [{"name": "x"}], 400),
        ("GET", "/api/metadata/taskdefs/nope", None, 404),
        ("POST", "/api/metadata/workflow", {"tasks": []}, 400),
        ("POST", "/api/metadata/workflow", {"name": "bad", "tasks": [{"name": "x"}]}, 400),
        ("POST", "/api/metadata/workflow?overwrite=maybe", SIMPLE_FLOW, 400),
        ("PUT", "/api/metadata/workflow", [{"name": "bad", "tasks": [{"type": "NOPE"}]}], 400),
        ("GET", "/api/metadata/workflow/nope", None, 404),
        ("GET", "/api/metadata/workflow/flow?version=x", None, 400),
    ],
)
async def test_bad_metadata_requests(
    api: httpx.AsyncClient, flow: dict[str, Any], method: str, path: str, body: Any, status: int
) -> None:
    conductor_error(await api.request(method, path, json=body), status)
    assert (await api.get("/api/metadata/taskdefs/ok")).status_code == 404  # nothing half-done


async def test_start_forms_and_idempotency(
    api: httpx.AsyncClient, flow: dict[str, Any], rt: cadenza.Runtime
) -> None:
    by_name = await api.post(
        "/api/workflow/flow?version=1&correlationId=k&priority=3", json={"n": 4}
    )
    assert by_name.status_code == 200
    run = await rt.get(by_name.text)
    assert (run.input, run.correlation_id, run.priority) == ({"n": 4}, "k", 3)
    first = await start(api, idempotencyKey="once", idempotencyStrategy="RETURN_EXISTING")
    assert await start(api, idempotencyKey="once") == first
    inline = {"name": "inline", "tasks": [{"name": "a", "taskReferenceName": "x"}]}
    answer = await api.post("/api/workflow", json={"name": "inline", "workflowDef": inline})
    assert answer.status_code == 200, answer.text
    assert (await rt.get(answer.text)).name == "inline"
    assert (await api.get("/api/metadata/workflow/inline")).status_code == 404  # not registered
    empty = {"name": "empty", "tasks": []}  # unvalidated, as Conductor: it completes at once
    answer = await api.post("/api/workflow", json={"name": "empty", "workflowDef": empty})
    assert (await rt.get(answer.text)).status == "COMPLETED"


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/api/workflow", {"input": {}}, 400),
        ("/api/workflow", {"name": "flow", "input": [1]}, 400),
        ("/api/workflow", {"name": "flow", "priority": 150}, 400),
        ("/api/workflow", {"name": "flow", "priority": "high"}, 400),
        ("/api/workflow", {"name": "flow", "taskToDomain": {"a": 3}}, 400),
        ("/api/workflow", {"name": "nope"}, 404),
        ("/api/workflow", {"name": "flow", "version": 7}, 404),
        ("/api/workflow/flow?priority=x", {}, 400),
        ("/api/workflow/nope", {}, 404),
        ("/api/workflow/flow", [1], 400),
    ],
)
async def test_bad_starts(
    api: httpx.AsyncClient, flow: dict[str, Any], path: str, body: Any, status: int
) -> None:
    conductor_error(await api.post(path, json=body), status)


async def test_operations(api: httpx.AsyncClient, flow: dict[str, Any]) -> None:
    run_id = await start(api)
    assert (await api.put(f"/api/workflow/{run_id}/pause")).status_code == 200
    conductor_error(await api.put(f"/api/workflow/{run_id}/pause"), 409)
    assert (await api.get(f"/api/workflow/{run_id}")).json()["status"] == "PAUSED"
    assert (await api.put(f"/api/workflow/{run_id}/resume")).status_code == 200
    conductor_error(await api.put(f"/api/workflow/{run_id}/resume"), 409)
    await finish(api, "a", "FAILED")
    assert (await api.get(f"/api/workflow/{run_id}")).json()["status"] == "FAILED"
    assert (await api.post(f"/api/workflow/{run_id}/retry")).status_code == 204
    await finish(api, "a")
    await finish(api, "b")
    assert (await api.get(f"/api/workflow/{run_id}")).json()["status"] == "COMPLETED"
    conductor_error(await api.post(f"/api/workflow/{run_id}/retry"), 409)
    restart = await api.post(f"/api/workflow/{run_id}/restart?useLatestDefinitions=false")
    assert restart.status_code == 204
    assert (await api.get(f"/api/workflow/{run_id}")).json()["status"] == "RUNNING"
    terminate = await api.delete(f"/api/workflow/{run_id}", params={"reason": "enough"})
    assert terminate.status_code == 200
    run = (await api.get(f"/api/workflow/{run_id}", params={"includeTasks": "FALSE"})).json()
    assert (run["status"], run["reasonForIncompletion"], run["tasks"]) == (
        "TERMINATED", "enough", [],
    )  # fmt: skip
    conductor_error(await api.delete(f"/api/workflow/{run_id}"), 409)
    first_task = (await api.get(f"/api/workflow/{run_id}")).json()["tasks"][0]["taskId"]
    rerun = await api.post(
        f"/api/workflow/{run_id}/rerun",
        json={"reRunFromWorkflowId": run_id, "reRunFromTaskId": first_task,
              "workflowInput": {"n": 9}},
    )  # fmt: skip
    assert rerun.status_code == 200, rerun.text
    assert rerun.text == run_id
    assert (await take(api, "a"))["inputData"] == {"n": 9}


async def test_skip_a_task_not_yet_scheduled(
    api: httpx.AsyncClient, flow: dict[str, Any], rt: cadenza.Runtime
) -> None:
    run_id = await start(api)
    skipped = await api.put(f"/api/workflow/{run_id}/skiptask/b", json={"taskOutput": {}})
    assert skipped.status_code == 200, skipped.text
    await finish(api, "a")
    run = await rt.wait(run_id)
    # Conductor lists it first: created without a seq, and tasks are read sorted by seq
    assert [t.status for t in run.tasks] == ["SKIPPED", "COMPLETED"]
    listed = (await api.get(f"/api/workflow/{run_id}")).json()["tasks"]
    # seq 0 for the skipped task (never set), the scheduled ones counted from 1 (max seq + 1)
    assert [(t["referenceTaskName"], t["seq"]) for t in listed] == [("b", 0), ("a", 1)]
    conductor_error(await api.put(f"/api/workflow/{run_id}/skiptask/b"), 409)


async def test_reset_callbacks_makes_a_delayed_task_ready(
    api: httpx.AsyncClient, flow: dict[str, Any]
) -> None:
    """`POST /workflow/{id}/resetcallbacks` answers 204 (WorkflowResource.java:306-313) and
    the task an update put back for an hour is polled at once; 409 once the run ended."""
    run_id = await start(api)
    task = await take(api, "a")
    update = {"taskId": task["taskId"], "status": "IN_PROGRESS", "callbackAfterSeconds": 3600}
    assert (await api.post("/api/tasks", json=update)).status_code == 200
    empty = await api.get("/api/tasks/poll/batch/a", params={"timeout": 0})
    assert empty.json() == []
    assert (await api.post(f"/api/workflow/{run_id}/resetcallbacks")).status_code == 204
    assert (await take(api, "a"))["taskId"] == task["taskId"]
    assert (await api.delete(f"/api/workflow/{run_id}")).status_code == 200
    conductor_error(await api.post(f"/api/workflow/{run_id}/resetcallbacks"), 409)
    conductor_error(await api.post("/api/workflow/nope/resetcallbacks"), 404)


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/api/workflow/nope", 404),
        ("GET", "/api/workflow/RUN?includeTasks=yes", 400),
        ("PUT", "/api/workflow/nope/pause", 404),
        ("PUT", "/api/workflow/nope/resume", 404),
        ("DELETE", "/api/workflow/nope", 404),
        ("POST", "/api/workflow/nope/retry", 404),
        ("POST", "/api/workflow/nope/restart", 404),
        ("POST", "/api/workflow/RUN/restart?useLatestDefinitions=perhaps", 400),
        ("POST", "/api/workflow/RUN/restart", 409),
        ("POST", "/api/workflow/RUN/rerun", 409),
        ("PUT", "/api/workflow/RUN/skiptask/nope", 409),
        ("GET", "/api/workflow/search?start=-1", 400),
        ("GET", "/api/workflow/search?query=status%20IN%20(BOGUS)", 400),
        ("GET", "/api/workflow/search?query=owner%20%3D%20me", 400),
        ("GET", "/api/workflow/search?query=whatever", 400),
    ],
)
async def test_bad_workflow_requests(
    api: httpx.AsyncClient, flow: dict[str, Any], method: str, path: str, status: int
) -> None:
    run_id = await start(api)
    conductor_error(await api.request(method, path.replace("RUN", run_id)), status)


async def test_search(api: httpx.AsyncClient, flow: dict[str, Any]) -> None:
    ids = [await start(api, n, correlationId=f"c{n % 2}") for n in range(4)]
    await finish(api, "a", "FAILED")  # the oldest run fails
    everything = (await api.get("/api/workflow/search")).json()
    assert everything["totalHits"] == 4
    assert [r["workflowId"] for r in everything["results"]] == ids[::-1]
    summary = everything["results"][-1]
    assert summary["status"] == "FAILED"
    assert summary["workflowType"] == "flow"
    assert summary["startTime"].endswith("Z")
    assert summary["input"] == '{"n": 0}'
    page = (await api.get("/api/workflow/search", params={"start": 1, "size": 2})).json()
    assert (page["totalHits"], [r["workflowId"] for r in page["results"]]) == (4, ids[2:0:-1])
    running = await api.get(
        "/api/workflow/search",
        params={"query": "workflowType IN (flow) AND status IN (running,PAUSED)"},
    )
    assert running.json()["totalHits"] == 3
    by_correlation = await api.get("/api/workflow/search", params={"query": "correlationId = 'c1'"})
    assert sorted(r["workflowId"] for r in by_correlation.json()["results"]) == sorted(ids[1::2])
    free = await api.get("/api/workflow/search", params={"freeText": ids[2]})
    assert [r["workflowId"] for r in free.json()["results"]] == [ids[2]]
    since = everything["results"][0]["startTime"]
    assert since
    later = await api.get("/api/workflow/search", params={"query": "startTime > 99999999999999"})
    assert later.json() == {"totalHits": 0, "results": []}


async def test_health_and_the_token(rt: cadenza.Runtime) -> None:
    app = create_app(rt, token="s3cret")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://cadenza") as api:
        conductor_error(await api.get("/health"), 401)
        conductor_error(await api.get("/api/workflow/search"), 401)
        wrong = await api.get("/api/workflow/search", headers={"Authorization": "Bearer nope"})
        conductor_error(wrong, 401)
        bearer = await api.get("/health", headers={"Authorization": "Bearer s3cret"})
        assert bearer.status_code == 200
        assert bearer.json()["healthy"] is True
        conductor = await api.get("/api/workflow/search", headers={"X-Authorization": "s3cret"})
        assert conductor.status_code == 200
    with pytest.raises(cadenza.InvalidArgument):
        create_app(rt, token="")
