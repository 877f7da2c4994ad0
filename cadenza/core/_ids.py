"""Checks at the public face: payloads JSON can hold, task ids that name their run."""

from __future__ import annotations

from cadenza._errors import NotFound


def run_id_of(task_id: str) -> str:
    """The run a task id belongs to (task ids are `<run id>-<n>`)."""
    run_id, sep, number = task_id.rpartition("-")
    if not sep or not number.isdigit():
        raise NotFound("task", task_id)
    return run_id
