"""Definitions the dashboard's tests run: plain SIMPLE tasks that the tests finish by hand."""

from __future__ import annotations

from typing import Any

TWO_STEPS: dict[str, Any] = {
    "name": "two_steps",
    "version": 1,
    "tasks": [
        {"name": "ui_a", "taskReferenceName": "a", "type": "SIMPLE", "inputParameters": {"n": "${workflow.input.n}"}},
        {"name": "ui_b", "taskReferenceName": "b", "type": "SIMPLE", "inputParameters": {"n": "${a.output.n}"}},
    ],
    "outputParameters": {"result": "${b.output.n}"},
}  # fmt: skip

WAITING: dict[str, Any] = {
    "name": "waiting",
    "version": 1,
    "tasks": [{"name": "hold", "taskReferenceName": "hold", "type": "WAIT"}],
    "outputParameters": {"approved": "${hold.output.approved}"},
}

TASK_DEFS: list[dict[str, Any]] = [
    {"name": "ui_a", "retryCount": 0},
    {"name": "ui_b", "retryCount": 0},
]
