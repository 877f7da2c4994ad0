"""Workers for the conductor-python suite, importable by the SDK's spawned worker processes."""

# No `from __future__ import annotations`: the SDK reads the `Task` annotation at run time.

from typing import Any

from conductor.client.http.models.task import Task


def left(task: Task) -> dict[str, Any]:
    return {"side": "left", "ref": task.reference_task_name}


def right(task: Task) -> dict[str, Any]:
    return {"side": "right"}


def flaky(task: Task) -> dict[str, Any]:
    """Fails its first attempt (retryCount 0), then succeeds: a retrying task."""
    if not task.retry_count:
        raise RuntimeError("the first attempt always fails")
    return {"attempt": task.retry_count}


async def setup(rt: Any) -> None:
    """`cadenza serve --setup tests.http._sdk_workers:setup`: runs after recovery."""
    await rt.register(
        {"name": "from_setup", "tasks": [{"name": "left", "taskReferenceName": "left"}]}
    )
