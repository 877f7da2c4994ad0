"""Shared pieces of the schedule tests: a workflow that waits for a signal, and readers."""

from __future__ import annotations

from typing import Any

import cadenza

HELD = {
    "name": "held",
    "version": 1,
    "tasks": [{"name": "hold", "taskReferenceName": "hold", "type": "WAIT"}],
}  # runs until signalled: overlap policies see it running
QUICK = {
    "name": "quick",
    "version": 1,
    "tasks": [
        {
            "name": "noop",
            "taskReferenceName": "noop",
            "type": "SET_VARIABLE",
            "inputParameters": {"x": 1},
        }
    ],
}  # ends in its first step


async def scheduled_runs(rt: cadenza.Runtime, workflow: str) -> list[cadenza.WorkflowRun]:
    """The runs of `workflow`, oldest first."""
    return list(reversed(await rt.runs(name=workflow, limit=10_000)))


def scheduled_times(runs: list[cadenza.WorkflowRun]) -> list[float]:
    """Each run's tick time (its `_scheduledTime`, in seconds)."""
    return [run.input["_scheduledTime"] / 1000 for run in runs]


def results(schedule: cadenza.Schedule) -> list[tuple[float, str]]:
    recent: Any = schedule.recent
    return [(r["at"], r["result"]) for r in recent]
