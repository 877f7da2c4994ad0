"""Small Conductor definitions for the language tests."""

from __future__ import annotations

from typing import Any


def simple(ref: str, name: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"name": name or ref, "taskReferenceName": ref, "type": "SIMPLE", **extra}


def workflow(name: str, *tasks: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"name": name, "version": 1, "tasks": list(tasks), **extra}


def switch(
    ref: str, value: str, cases: dict[str, list[Any]], default: list[Any] | None = None
) -> dict[str, Any]:
    return {
        "name": ref,
        "taskReferenceName": ref,
        "type": "SWITCH",
        "evaluatorType": "value-param",
        "expression": "switchCaseValue",
        "inputParameters": {"switchCaseValue": value},
        "decisionCases": cases,
        "defaultCase": default or [],
    }


def fork(ref: str, *branches: list[Any]) -> dict[str, Any]:
    return {"name": ref, "taskReferenceName": ref, "type": "FORK_JOIN", "forkTasks": list(branches)}


def join(ref: str, *on: str) -> dict[str, Any]:
    return {"name": ref, "taskReferenceName": ref, "type": "JOIN", "joinOn": list(on)}


def quick(retries: int = 0) -> dict[str, Any]:
    """An inline taskDefinition: `retries` retries, no delay."""
    return {"taskDefinition": {"retryCount": retries, "retryDelaySeconds": 0}}
