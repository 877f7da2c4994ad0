"""An httpx client on `create_app(rt)` over the ASGI transport, on the virtual clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

import cadenza
from cadenza.http import create_app

SIMPLE_FLOW: dict[str, Any] = {
    "name": "flow",
    "version": 1,
    "tasks": [
        {"name": "a", "taskReferenceName": "a", "type": "SIMPLE", "inputParameters": {"n": "${workflow.input.n}"}},
        {"name": "b", "taskReferenceName": "b", "type": "SIMPLE", "inputParameters": {"n": "${a.output.n}"}},
    ],
    "outputParameters": {"result": "${b.output.n}"},
}  # fmt: skip


@pytest.fixture
async def api(rt: cadenza.Runtime) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(rt))
    async with httpx.AsyncClient(transport=transport, base_url="http://cadenza") as client:
        yield client


@pytest.fixture
async def flow(api: httpx.AsyncClient) -> dict[str, Any]:
    """SIMPLE_FLOW registered, with TaskDefs of no retries for `a` and `b`."""
    answer = await api.post(
        "/api/metadata/taskdefs",
        json=[{"name": "a", "retryCount": 0}, {"name": "b", "retryCount": 0}],
    )
    assert answer.status_code == 200, answer.text
    answer = await api.post("/api/metadata/workflow", json=SIMPLE_FLOW)
    assert answer.status_code == 200, answer.text
    return SIMPLE_FLOW
