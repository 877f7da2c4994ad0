"""Small helpers shared by the task-type tests."""

from __future__ import annotations

from typing import Any

import cadenza


def flow(name: str, *tasks: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A one-version Conductor definition of `tasks`."""
    return {"name": name, "version": 1, "tasks": list(tasks), **extra}


async def settled(rt: cadenza.Runtime, run_id: str) -> cadenza.WorkflowRun:
    await rt.settle()
    return await rt.get(run_id)
