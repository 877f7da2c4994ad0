"""Conductor's REST API over a PostgreSQL journal: a worker polls before a restart and
completes after it, through `create_app(rt)` (the same app `cadenza serve --db URL` runs)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

import cadenza
from cadenza.http import create_app
from cadenza.testing import VirtualClock

FLOW: dict[str, Any] = {
    "name": "flow",
    "tasks": [
        {"name": "a", "taskReferenceName": "a", "inputParameters": {"n": "${workflow.input.n}"}},
        {"name": "b", "taskReferenceName": "b", "inputParameters": {"n": "${a.output.n}"}},
    ],
    "outputParameters": {"result": "${b.output.n}"},
}


@asynccontextmanager
async def serving(url: str, clock: VirtualClock) -> AsyncIterator[httpx.AsyncClient]:
    async with cadenza.Runtime(url, clock=clock) as rt:
        transport = httpx.ASGITransport(app=create_app(rt))
        async with httpx.AsyncClient(transport=transport, base_url="http://cadenza") as client:
            yield client


async def complete(api: httpx.AsyncClient, run_id: str, task_id: str, n: int) -> None:
    result = {"taskId": task_id, "workflowInstanceId": run_id, "status": "COMPLETED"}
    done = await api.post("/api/tasks", json={**result, "outputData": {"n": n}})
    assert done.status_code == 200, done.text
    assert done.text == task_id


async def test_a_polled_task_is_completed_after_the_server_restarts(
    pg_url: str, clock: VirtualClock
) -> None:
    async with serving(pg_url, clock) as api:
        assert (await api.post("/api/metadata/workflow", json=FLOW)).status_code == 200
        started = await api.post("/api/workflow", json={"name": "flow", "input": {"n": 1}})
        assert started.status_code == 200, started.text
        run_id = started.text
        polled = await api.get("/api/tasks/poll/a", params={"workerid": "w1"})
        assert polled.status_code == 200, polled.text
        task = polled.json()
        assert task["workflowInstanceId"] == run_id
    async with serving(pg_url, clock) as api:
        again = await api.get("/api/tasks/poll/a", params={"workerid": "w2"})
        assert again.status_code == 204, again.text  # w1's lease is the database's: it lives
        await complete(api, run_id, task["taskId"], 2)
        polled = await api.get("/api/tasks/poll/b", params={"workerid": "w2"})
        assert polled.json()["inputData"] == {"n": 2}
        await complete(api, run_id, polled.json()["taskId"], 3)
        run = (await api.get(f"/api/workflow/{run_id}")).json()
        assert run["status"] == "COMPLETED"
        assert run["output"] == {"result": 3}
        found = (await api.get("/api/workflow/search", params={"query": ""})).json()
        assert [r["workflowId"] for r in found["results"]] == [run_id]


async def test_serve_never_prints_the_databases_password(pg_url: str) -> None:
    """`cadenza serve --db postgresql://user:PASSWORD@...` announced the URL whole."""
    import anyio

    from cadenza.http import serve

    with_password = pg_url.replace("://cadenza@", "://cadenza:s3cret-pw@", 1)
    assert "s3cret-pw" in with_password
    said: list[str] = []
    async with anyio.create_task_group() as tg:

        def announce(line: str) -> None:
            said.append(line)
            tg.cancel_scope.cancel()  # announced: enough

        tg.start_soon(lambda: serve(with_password, port=0, announce=announce))
    assert said
    assert "s3cret-pw" not in said[0]
    assert "127.0.0.1" in said[0]
