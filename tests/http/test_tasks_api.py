"""The task endpoints over ASGI: polls (single, batch, long), results, reads, queue sizes."""

from __future__ import annotations

from typing import Any

import anyio
import anyio.lowlevel
import httpx
import pytest

import cadenza
from cadenza.testing import VirtualClock


def conductor_error(answer: httpx.Response, status: int) -> dict[str, Any]:
    """Conductor's error body, with that status, and no traceback in it."""
    assert answer.status_code == status, answer.text
    body: dict[str, Any] = answer.json()
    assert body["status"] == status
    assert body["retryable"] is False
    assert isinstance(body["message"], str)
    assert body["message"]
    assert "Traceback" not in answer.text
    return body


async def start(api: httpx.AsyncClient, n: int = 1, **request: Any) -> str:
    answer = await api.post("/api/workflow", json={"name": "flow", "input": {"n": n}, **request})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    return answer.text


async def take(api: httpx.AsyncClient, task_type: str, **params: Any) -> dict[str, Any]:
    answer = await api.get(f"/api/tasks/poll/batch/{task_type}", params={"timeout": 0, **params})
    assert answer.status_code == 200, answer.text
    (task,) = answer.json()
    return task  # type: ignore[no-any-return]


async def test_a_workflow_runs_through_batch_polls_and_results(
    api: httpx.AsyncClient, flow: dict[str, Any], rt: cadenza.Runtime
) -> None:
    run_id = await start(api, 5, correlationId="c-1", priority=7, unknownField=True)
    task = await take(api, "a", workerid="w1", count=3)
    assert task["taskType"] == "a"
    assert task["status"] == "IN_PROGRESS"
    assert task["workflowInstanceId"] == run_id
    assert task["referenceTaskName"] == "a"
    assert task["inputData"] == {"n": 5}
    assert task["workerId"] == "w1"
    assert task["retryCount"] == 0
    assert task["startTime"] >= task["scheduledTime"] > 1_000_000_000_000  # epoch ms
    done = await api.post(
        "/api/tasks",
        json={"taskId": task["taskId"], "workflowInstanceId": run_id, "status": "COMPLETED",
              "outputData": {"n": 6}, "logs": [], "extra": 1},
    )  # fmt: skip
    assert done.status_code == 200
    assert done.headers["content-type"].startswith("text/plain")
    assert done.text == task["taskId"]
    task = await take(api, "b")
    answer = await api.post(
        "/api/tasks/update-v2",
        json={"taskId": task["taskId"], "status": "completed", "outputData": {"n": 7}},
    )
    assert answer.status_code == 204  # no next task of type b
    run = (await api.get(f"/api/workflow/{run_id}")).json()
    assert run["status"] == "COMPLETED"
    assert run["output"] == {"result": 7}
    assert run["correlationId"] == "c-1"
    assert run["priority"] == 7
    assert [t["referenceTaskName"] for t in run["tasks"]] == ["a", "b"]
    assert [t["seq"] for t in run["tasks"]] == [1, 2]
    assert run["endTime"] >= run["startTime"] > 0


async def test_update_v2_hands_out_the_next_task_of_the_same_type(
    api: httpx.AsyncClient, flow: dict[str, Any]
) -> None:
    await start(api, 1)
    second = await start(api, 2)
    task = await take(api, "a")
    answer = await api.post(
        "/api/tasks/update-v2",
        json={"taskId": task["taskId"], "status": "COMPLETED", "workerId": "w"},
    )
    assert answer.status_code == 200, answer.text
    nxt = answer.json()
    assert nxt["workflowInstanceId"] == second
    assert nxt["taskType"] == "a"
    assert nxt["status"] == "IN_PROGRESS"


async def test_an_empty_poll_is_204_and_an_empty_batch_is_an_empty_list(
    api: httpx.AsyncClient, flow: dict[str, Any], clock: VirtualClock
) -> None:
    answers: list[httpx.Response] = []

    async def poll() -> None:
        answers.append(await api.get("/api/tasks/poll/a"))

    async with anyio.create_task_group() as group:
        group.start_soon(poll)
        await clock.advance(0.2)  # past the single poll's 100 ms
    assert answers[0].status_code == 204
    assert answers[0].content == b""
    batch = await api.get("/api/tasks/poll/batch/a", params={"timeout": 0})
    assert batch.status_code == 200
    assert batch.json() == []


async def test_a_single_poll_answers_a_task(api: httpx.AsyncClient, flow: dict[str, Any]) -> None:
    run_id = await start(api)
    answer = await api.get("/api/tasks/poll/a", params={"workerid": "solo"})
    assert answer.status_code == 200
    assert answer.json()["workflowInstanceId"] == run_id


async def test_a_long_batch_poll_wakes_when_a_task_is_queued(
    api: httpx.AsyncClient, flow: dict[str, Any], clock: VirtualClock, rt: cadenza.Runtime
) -> None:
    answers: list[httpx.Response] = []
    parked = anyio.Event()

    async def poll() -> None:
        parked.set()
        answers.append(
            await api.get("/api/tasks/poll/batch/a", params={"timeout": 5000, "count": 2})
        )

    began = clock.now()
    async with anyio.create_task_group() as group:
        group.start_soon(poll)
        await parked.wait()
        await parked_in_group(rt, "a")
        run_id = await start(api)
    assert clock.now() == began  # no virtual time passed: the poll woke on the enqueue
    assert [t["workflowInstanceId"] for t in answers[0].json()] == [run_id]


async def parked_in_group(rt: cadenza.Runtime, task_type: str) -> None:
    """Return once a poll for `task_type` is parked in the default group (a peek inside)."""
    with anyio.fail_after(5):
        while True:
            found = rt._engine._groups.get(rt._engine.default_group)
            if found is not None and found[0].pollers.get(task_type):
                return
            await anyio.lowlevel.checkpoint()


async def test_a_long_batch_poll_ends_empty_at_its_timeout(
    api: httpx.AsyncClient, flow: dict[str, Any], clock: VirtualClock
) -> None:
    answers: list[httpx.Response] = []

    async def poll() -> None:
        answers.append(await api.get("/api/tasks/poll/batch/a", params={"timeout": "1000"}))

    async with anyio.create_task_group() as group:
        group.start_soon(poll)
        await clock.advance(0.5)
        assert answers == []
        await clock.advance(0.6)
    assert answers[0].json() == []


async def test_batch_poll_takes_up_to_count(api: httpx.AsyncClient, flow: dict[str, Any]) -> None:
    ids = {await start(api, n) for n in range(5)}
    answer = await api.get("/api/tasks/poll/batch/a", params={"count": 3, "timeout": 0})
    assert len(answer.json()) == 3
    answer = await api.get("/api/tasks/poll/batch/a", params={"count": 3, "timeout": 0})
    assert len(answer.json()) == 2
    sizes = await api.get("/api/tasks/queue/sizes", params={"taskType": ["a", "b"]})
    assert sizes.json() == {"a": 0, "b": 0}
    assert len(ids) == 5


async def test_domains_are_worker_groups(api: httpx.AsyncClient, flow: dict[str, Any]) -> None:
    await start(api, taskToDomain={"a": "eu"})
    assert (await api.get("/api/tasks/poll/batch/a", params={"timeout": 0})).json() == []
    size = await api.get("/api/tasks/queue/size", params={"taskType": "a", "domain": "eu"})
    assert size.json() == 1
    assert (await api.get("/api/tasks/queue/sizes")).json() == {"a": 1}
    task = await take(api, "a", domain="eu")
    assert task["domain"] == "eu"


async def test_failed_results_retry_and_terminal_ones_do_not(
    api: httpx.AsyncClient, flow: dict[str, Any], clock: VirtualClock
) -> None:
    await api.put(
        "/api/metadata/taskdefs", json={"name": "a", "retryCount": 1, "retryDelaySeconds": 0}
    )
    run_id = await start(api)
    task = await take(api, "a")
    failed = await api.post(
        "/api/tasks",
        json={"taskId": task["taskId"], "status": "FAILED", "reasonForIncompletion": "boom"},
    )
    assert failed.status_code == 200
    retry = await take(api, "a")
    assert retry["retryCount"] == 1
    await api.post(
        "/api/tasks",
        json={"taskId": retry["taskId"], "status": "FAILED_WITH_TERMINAL_ERROR",
              "reasonForIncompletion": "fatal"},
    )  # fmt: skip
    run = (await api.get(f"/api/workflow/{run_id}")).json()
    assert run["status"] == "FAILED"
    assert [t["status"] for t in run["tasks"]] == ["FAILED", "FAILED_WITH_TERMINAL_ERROR"]
    assert run["tasks"][0]["reasonForIncompletion"] == "boom"
    assert run["failedReferenceTaskNames"] == ["a"]


async def test_callback_after_seconds_puts_the_task_back_after_that_delay(
    api: httpx.AsyncClient, flow: dict[str, Any], clock: VirtualClock
) -> None:
    await start(api)
    task = await take(api, "a")
    answer = await api.post(
        "/api/tasks/update-v2",
        json={"taskId": task["taskId"], "status": "IN_PROGRESS", "callbackAfterSeconds": 30,
              "outputData": {"progress": 1}},
    )  # fmt: skip
    assert answer.status_code == 204
    assert (await api.get("/api/tasks/poll/batch/a", params={"timeout": 0})).json() == []
    await clock.advance(31)
    again = await take(api, "a")
    assert again["taskId"] == task["taskId"]


async def test_extend_lease_keeps_the_task(
    api: httpx.AsyncClient, flow: dict[str, Any], rt: cadenza.Runtime
) -> None:
    run_id = await start(api)
    task = await take(api, "a")
    answer = await api.post(
        "/api/tasks",
        json={"taskId": task["taskId"], "workflowInstanceId": run_id, "status": "IN_PROGRESS",
              "extendLease": "TRUE"},
    )  # fmt: skip
    assert answer.status_code == 200
    got = (await api.get(f"/api/tasks/{task['taskId']}")).json()
    assert got["status"] == "IN_PROGRESS"
    assert got["workflowType"] == "flow"


async def test_update_by_reference_name(api: httpx.AsyncClient, flow: dict[str, Any]) -> None:
    run_id = await start(api, 1)
    await take(api, "a")
    answer = await api.post(f"/api/tasks/{run_id}/a/COMPLETED", json={"n": 2})
    assert answer.status_code == 200
    assert answer.text.startswith(run_id)
    task = await take(api, "b")
    assert task["inputData"] == {"n": 2}
    missing = await api.post(f"/api/tasks/{run_id}/nope/COMPLETED", json={})
    conductor_error(missing, 404)
    conductor_error(await api.post(f"/api/tasks/{run_id}/b/DONE", json={}), 400)


async def test_a_wait_task_is_completed_by_reference(
    api: httpx.AsyncClient, rt: cadenza.Runtime
) -> None:
    waiting = {
        "name": "waits",
        "tasks": [{"name": "w", "taskReferenceName": "w", "type": "WAIT"}],
        "outputParameters": {"ok": "${w.output.ok}"},
    }
    assert (await api.post("/api/metadata/workflow", json=waiting)).status_code == 200
    run_id = (await api.post("/api/workflow/waits", json={})).text
    answer = await api.post(f"/api/tasks/{run_id}/w/COMPLETED", json={"ok": True})
    assert answer.status_code == 200, answer.text
    run = await rt.wait(run_id)
    assert run.output == {"ok": True}


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("GET", "/api/tasks/poll/batch/a?timeout=6000", None, 400),
        ("GET", "/api/tasks/poll/batch/a?timeout=-1", None, 400),
        ("GET", "/api/tasks/poll/batch/a?count=0", None, 400),
        ("GET", "/api/tasks/poll/batch/a?count=lots", None, 400),
        ("POST", "/api/tasks", b"{not json", 400),
        ("POST", "/api/tasks", b"", 400),
        ("POST", "/api/tasks", [1, 2], 400),
        ("POST", "/api/tasks", {"status": "COMPLETED"}, 400),
        ("POST", "/api/tasks", {"taskId": "x-1", "status": "DONE"}, 400),
        ("POST", "/api/tasks", {"taskId": 7, "status": "COMPLETED"}, 400),
        ("POST", "/api/tasks", {"taskId": "nope-1", "status": "COMPLETED"}, 404),
        ("POST", "/api/tasks", {"taskId": "no-dash", "status": "COMPLETED"}, 404),
        ("POST", "/api/tasks/update-v2", {"taskId": "nope-1", "status": "FAILED"}, 404),
        ("GET", "/api/tasks/nope-1", None, 404),
        ("GET", "/api/tasks/queue/size", None, 400),
        ("DELETE", "/api/tasks", None, 405),
        ("GET", "/api/nowhere", None, 404),
    ],
)
async def test_bad_task_requests_get_conductor_errors(
    api: httpx.AsyncClient, flow: dict[str, Any], method: str, path: str, body: Any, status: int
) -> None:
    content = body if isinstance(body, bytes) else None
    json = None if isinstance(body, bytes) or body is None else body
    answer = await api.request(method, path, content=content, json=json)
    conductor_error(answer, status)


async def test_a_result_for_a_stale_attempt_is_409(
    api: httpx.AsyncClient, flow: dict[str, Any]
) -> None:
    await start(api)
    task = await take(api, "a")
    result = {"taskId": task["taskId"], "status": "COMPLETED", "outputData": {"n": 1}}
    assert (await api.post("/api/tasks", json=result)).status_code == 200
    conductor_error(await api.post("/api/tasks", json=result), 409)
    conductor_error(await api.post("/api/tasks", json={**result, "outputData": [1]}), 400)
