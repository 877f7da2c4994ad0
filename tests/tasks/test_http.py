"""HTTP, as http-task/.../HttpTask.java runs it (start :59-111, httpCall :119-164,
extractBody :166-183, Input's defaults :246-257), against a local server on 127.0.0.1.

The server answers by path: /json (200, a JSON object), /text (200, text), /number,
/fail (500 with a body), /slow (waits for an event the test never sets: a read timeout).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

import cadenza
from tests.tasks._helpers import flow

SEEN: list[dict[str, Any]] = []
RELEASE: list[asyncio.Event] = []  # set at teardown: /slow's handler ends, closing its socket


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    head = (await reader.readuntil(b"\r\n\r\n")).decode()
    lines = head.split("\r\n")
    method, path, _ = lines[0].split(" ")
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    size = int(headers.get("content-length", headers.get("Content-Length", "0")))
    body = (await reader.readexactly(size)).decode() if size else ""
    SEEN.append({"method": method, "path": path, "headers": headers, "body": body})
    if path == "/slow":
        await RELEASE[0].wait()  # no answer before teardown: the client's read times out
        writer.close()
        await writer.wait_closed()
        return
    status, content, kind = {
        "/json": ("200 OK", json.dumps({"echo": body, "n": 2}), "application/json"),
        "/text": ("200 OK", "plain words", "text/plain"),
        "/number": ("200 OK", "42", "application/json"),
        "/fail": ("500 Internal Server Error", "it broke", "text/plain"),
    }.get(path, ("404 Not Found", "", "text/plain"))
    data = content.encode()
    writer.write(
        f"HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nX-Seen: yes\r\n"
        f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n".encode()
        + data
    )
    await writer.drain()
    writer.close()
    await writer.wait_closed()


@pytest.fixture
async def base() -> AsyncIterator[str]:
    SEEN.clear()
    RELEASE[:] = [asyncio.Event()]
    server = await asyncio.start_server(_serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        RELEASE[0].set()
        server.close()
        await server.wait_closed()


async def _run(rt: cadenza.Runtime, request: dict[str, Any], **extra: Any) -> cadenza.WorkflowRun:
    await rt.register(
        flow(
            "http_flow",
            {
                "name": "call",
                "taskReferenceName": "call",
                "type": "HTTP",
                "inputParameters": {"http_request": request},
                **extra,
            },
        )
    )
    run_id = await rt.start("http_flow")
    # the worker does real I/O: wait for the run on the wall clock, bounded
    for _ in range(500):
        await rt.settle()
        run = await rt.get(run_id)
        if run.status != "RUNNING":
            return run
        await asyncio.sleep(0.01)
    raise AssertionError(f"the HTTP task did not end: {run}")


async def test_a_2xx_completes_with_the_response_as_conductor_shapes_it(
    rt: cadenza.Runtime, base: str
) -> None:
    run = await _run(
        rt,
        {"uri": f"{base}/json", "method": "POST", "body": {"a": 1},
         "headers": {"X-Trace": "t1", "X-None": None}},
    )  # fmt: skip
    assert run.status == "COMPLETED"
    task = run.tasks[0]
    assert (task.type, task.status, task.group) == ("HTTP", "COMPLETED", None)
    assert task.input["asyncComplete"] is False  # HTTPTaskMapper.java:75,89
    response = task.output["response"]
    assert response["statusCode"] == 200
    assert response["reasonPhrase"] == "OK"
    assert response["body"] == {"echo": '{"a": 1}', "n": 2}
    assert response["headers"]["x-seen"] == ["yes"]
    sent = SEEN[0]
    assert (sent["method"], sent["path"]) == ("POST", "/json")
    lowered = {k.lower(): v for k, v in sent["headers"].items()}
    assert lowered["content-type"] == "application/json"
    assert lowered["accept"] == "application/json"
    assert lowered["x-trace"] == "t1"
    assert "x-none" not in lowered


async def test_bodies_are_read_as_extract_body_reads_them(rt: cadenza.Runtime, base: str) -> None:
    text = await _run(rt, {"uri": f"{base}/text", "method": "GET"})
    assert text.tasks[0].output["response"]["body"] == "plain words"
    number = await _run(rt, {"uri": f"{base}/number", "method": "GET"})
    assert number.tasks[0].output["response"]["body"] == 42.0  # a Double


async def test_the_input_itself_is_the_request_without_http_request(
    rt: cadenza.Runtime, base: str
) -> None:
    await rt.register(
        flow("http_top", {"name": "call", "taskReferenceName": "call", "type": "HTTP",
                          "inputParameters": {"uri": f"{base}/text", "method": "GET"}})
    )  # fmt: skip
    run_id = await rt.start("http_top")
    for _ in range(500):
        await rt.settle()
        if (await rt.get(run_id)).status != "RUNNING":
            break
        await asyncio.sleep(0.01)
    assert (await rt.get(run_id)).status == "COMPLETED"


async def test_a_500_fails_the_task_as_conductor_does(rt: cadenza.Runtime, base: str) -> None:
    run = await _run(rt, {"uri": f"{base}/fail", "method": "GET"})
    assert run.status == "FAILED"
    task = run.tasks[0]
    thrown = 'java.lang.Exception: 500 Internal Server Error: "it broke"'
    assert (task.status, task.reason) == ("FAILED", f"Failed to invoke HTTP task due to: {thrown}")
    assert task.output == {"response": thrown}


async def test_a_read_timeout_fails_the_task(rt: cadenza.Runtime, base: str) -> None:
    uri = f"{base}/slow"
    run = await _run(rt, {"uri": uri, "method": "GET", "readTimeOut": 100})
    assert run.status == "FAILED"
    assert run.tasks[0].reason == (
        f'Failed to invoke HTTP task due to: java.lang.Exception: I/O error on GET request for "{uri}": Read timed out'
    )


async def test_a_failed_http_task_is_retried_per_its_task_def(
    rt: cadenza.Runtime, base: str
) -> None:
    await rt.register_task({"name": "call", "retryCount": 1, "retryDelaySeconds": 0})
    run = await _run(rt, {"uri": f"{base}/fail", "method": "GET"})
    """DeciderService.retry: a system task with a registered TaskDef is retried by it."""
    assert [t.status for t in run.tasks] == ["FAILED", "FAILED"]
    assert run.status == "FAILED"


async def test_an_http_task_without_a_task_def_is_not_retried(
    rt: cadenza.Runtime, base: str
) -> None:
    """DeciderService.retry: no TaskDef, expectedRetryCount 0."""
    run = await _run(rt, {"uri": f"{base}/fail", "method": "GET"})
    assert [t.status for t in run.tasks] == ["FAILED"]


async def test_no_uri_or_no_method_fails_the_task(rt: cadenza.Runtime, base: str) -> None:
    run = await _run(rt, {"method": "GET"})
    assert run.tasks[0].reason == (
        "Missing HTTP URI.  See documentation for HttpTask for required input parameters"
    )
    run = await _run(rt, {"uri": f"{base}/text"})
    assert run.tasks[0].reason == "No HTTP method specified"


async def test_an_http_task_without_a_request_is_refused(rt: cadenza.Runtime) -> None:
    """WorkflowTaskTypeConstraint.java isHttpTaskValid."""
    with pytest.raises(cadenza.DefinitionError, match="http_request"):
        await rt.register(flow("http_bad", {"name": "c", "taskReferenceName": "c", "type": "HTTP"}))


async def test_retrying_a_run_failed_by_http_calls_again(rt: cadenza.Runtime, base: str) -> None:
    """`rt.retry` of a run whose HTTP task failed queues the new attempt for the system worker
    (it was left in no worker group, SCHEDULED for ever, before)."""
    failed = await _run(rt, {"uri": f"{base}/fail", "method": "GET"})
    assert failed.status == "FAILED"
    await rt.retry(failed.id)
    for _ in range(500):
        await rt.settle()
        run = await rt.get(failed.id)
        if run.status != "RUNNING":
            break
        await asyncio.sleep(0.01)
    assert [(t.status, t.attempt) for t in run.tasks] == [("FAILED", 0), ("FAILED", 1)]
    assert [seen["path"] for seen in SEEN] == ["/fail", "/fail"]


async def _in_progress(rt: cadenza.Runtime, run_id: str) -> cadenza.WorkflowRun:
    """The run once its HTTP task has its response (the call is real I/O: bounded polling)."""
    for _ in range(500):
        await rt.settle()
        run = await rt.get(run_id)
        if run.tasks[0].output or run.status != "RUNNING":
            return run
        await asyncio.sleep(0.01)
    raise AssertionError(f"the HTTP task did not answer: {run}")


def _async_flow(name: str, base: str, **extra: Any) -> dict[str, Any]:
    return flow(
        name,
        {
            "name": "call",
            "taskReferenceName": "call",
            "type": "HTTP",
            "inputParameters": {"http_request": {"uri": f"{base}/json", "method": "GET"}},
            **extra,
        },
    )


async def test_an_async_complete_http_task_stays_in_progress_until_completed_from_outside(
    rt: cadenza.Runtime, base: str
) -> None:
    """HttpTask.start:111-116: a 2xx of a task that `isAsyncComplete` leaves it IN_PROGRESS
    with its `response` output; a signal completes it. The call is made once."""
    await rt.register(_async_flow("http_async", base, asyncComplete=True))
    run_id = await rt.start("http_async")
    run = await _in_progress(rt, run_id)
    task = run.tasks[0]
    assert (run.status, task.status, task.group) == ("RUNNING", "IN_PROGRESS", None)
    assert task.output["response"]["statusCode"] == 200
    assert task.input["asyncComplete"] is True  # HTTPTaskMapper puts it in the input
    await rt.signal(run_id, "call", {"done": True})
    done = await rt.wait(run_id)
    assert (done.status, done.tasks[0].status) == ("COMPLETED", "COMPLETED")
    assert done.tasks[0].output["done"] is True
    assert len(SEEN) == 1


async def test_an_http_tasks_async_complete_is_its_definitions_not_its_input_parameters(
    rt: cadenza.Runtime, base: str
) -> None:
    """HTTPTaskMapper.getMappedTasks puts the workflow task's `asyncComplete` into the input
    parameters before resolving them, over any given there: the definition decides."""
    await rt.register(
        flow(
            "http_not_async",
            {
                "name": "call",
                "taskReferenceName": "call",
                "type": "HTTP",
                "inputParameters": {
                    "http_request": {"uri": f"{base}/json", "method": "GET"},
                    "asyncComplete": True,
                },
            },
        )
    )
    run = await rt.wait(await rt.start("http_not_async"), timeout=30)
    assert (run.status, run.tasks[0].input["asyncComplete"]) == ("COMPLETED", False)


async def test_an_async_complete_http_task_is_not_called_again_after_a_restart(
    db_path: str, base: str
) -> None:
    """Recovery leaves an HTTP task awaiting its completion as it is (Conductor keeps it
    IN_PROGRESS), and it still counts against its TaskDef's concurrentExecLimit."""
    async with cadenza.Runtime(db_path, seed=1) as rt:
        await rt.register(_async_flow("http_async", base, asyncComplete=True))
        await rt.register_task({"name": "call", "concurrentExecLimit": 1})
        first = await rt.start("http_async")
        await _in_progress(rt, first)
    async with cadenza.Runtime(db_path, seed=2) as rt:
        second = await rt.start("http_async")
        await rt.settle()  # (waits for local workers: a call wrongly started has ended)
        assert (await rt.get(second)).tasks[0].status == "SCHEDULED"  # the slot is held
        assert len(SEEN) == 1
        await rt.signal(first, "call", {})
        assert (await rt.wait(first, timeout=30)).status == "COMPLETED"
        assert (await _in_progress(rt, second)).tasks[0].status == "IN_PROGRESS"
        assert len(SEEN) == 2


async def test_task_to_group_does_not_route_an_http_task(rt: cadenza.Runtime, base: str) -> None:
    """WorkflowExecutorOps.setTaskDomains skips system tasks (HTTP among them), for `*` and
    for its type: the engine's HTTP worker runs it whatever `task_to_group` says."""
    await rt.register(_async_flow("http_routed", base))
    routing = {"*": "remote", "HTTP": "remote", "call": "remote"}
    run_id = await rt.start("http_routed", task_to_group=routing)
    run = await _in_progress(rt, run_id)
    assert (run.status, run.tasks[0].group) == ("COMPLETED", None)
    assert len(SEEN) == 1
