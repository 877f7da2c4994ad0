"""The few reads the REST API needs that the `Runtime` face does not offer (yet).

Kept in one place so the face can grow public calls for them later: a
registered TaskDef as JSON, queue sizes by task type, the journal's run rows
(for search without loading every run), and whether recovery is done.
All are reads on the event loop's thread; none changes anything.
"""

from __future__ import annotations

from typing import Any

import msgspec

from cadenza.engine.schedules._store import run_rows as runs_only
from cadenza.persistence import StreamInfo
from cadenza.runtime import Runtime


def is_open(rt: Runtime) -> bool:
    """The runtime is open: recovery is done and calls are served."""
    return bool(rt._engine.is_open)


def default_group(rt: Runtime) -> str:
    """The worker group of Conductor's null domain."""
    return str(rt._engine.default_group)


def task_def_json(rt: Runtime, name: str) -> dict[str, Any] | None:
    """The TaskDef registered for `name`, as Conductor's JSON (None if none is)."""
    task_def = rt._engine.registry.task_defs.get(name)
    if task_def is None:
        return None
    body: dict[str, Any] = msgspec.to_builtins(task_def)
    return {key: value for key, value in body.items() if value is not None}


def task_def_names(rt: Runtime) -> list[str]:
    return sorted(rt._engine.registry.task_defs)


def response_timeout_s(rt: Runtime, task_type: str) -> float | None:
    task_def = rt._engine.registry.task_defs.get(task_type)
    return None if task_def is None else float(task_def.response_timeout_s)


def workflow_exists(rt: Runtime, name: str, version: int) -> bool:
    return (name, version) in rt._engine.registry.workflows


def queue_sizes(
    rt: Runtime, task_types: list[str] | None, group: str | None = None
) -> dict[str, int]:
    """Tasks ready in the queues, by task type (every group, or only `group`)."""
    sizes: dict[str, int] = dict.fromkeys(task_types or (), 0)
    for name, (state, _ref) in list(rt._engine._groups.items()):
        if group is not None and name != group:
            continue
        for task in state.tasks.values():
            if task_types is None or task.type in sizes:
                sizes[task.type] = sizes.get(task.type, 0) + 1
    return sizes


async def run_rows(
    rt: Runtime,
    *,
    name: str | None,
    status: str | None,
    correlation_id: str | None,
    limit: int,
) -> list[StreamInfo]:
    """The journal's rows of runs matching the filters, newest first."""
    rows: list[StreamInfo] = await runs_only(
        rt._engine.journal, kind=name, status=status, correlation_id=correlation_id, limit=limit
    )
    return rows


def now_of(rt: Runtime) -> float:
    """The runtime's clock (virtual in tests), epoch seconds."""
    now: float = rt._engine.clock.now()
    return now
