"""The dashboard over the ASGI transport (fast tests), on the virtual clock."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest

import cadenza
from cadenza.http import create_app
from tests.ui._flows import TASK_DEFS, TWO_STEPS, WAITING


@pytest.fixture
async def flows(rt: cadenza.Runtime) -> cadenza.Runtime:
    for task_def in TASK_DEFS:
        await rt.register_task(task_def)
    await rt.register(TWO_STEPS)
    await rt.register(WAITING)
    return rt


@pytest.fixture
async def ui(flows: cadenza.Runtime) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(flows))
    async with httpx.AsyncClient(transport=transport, base_url="http://cadenza") as client:
        yield client


def csrf_of(page: str) -> str:
    """The CSRF token a page carries (in its forms' hidden field)."""
    found = re.search(r'name="csrf" value="([0-9a-f]{64})"', page)
    assert found, "the page carries no CSRF token"
    return found.group(1)


async def finish(
    rt: cadenza.Runtime, task_type: str, output: dict[str, object] | None = None
) -> None:
    """Poll one task of `task_type` and complete it."""
    task = await rt.poll(task_type)
    assert task is not None, f"no {task_type} task was ready"
    await rt.complete(task.id, output or {})
    await rt.settle()
