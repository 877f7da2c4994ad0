"""Conductor's JSON shapes, both ways: Task, Workflow, WorkflowSummary out; query and body values in.

Field names follow Conductor's `common/metadata` classes (`Task.java`,
`run/Workflow.java`, `run/WorkflowSummary.java`): camelCase, times in epoch
milliseconds (WorkflowSummary's times are ISO-8601 strings, as Conductor's
are). Reading is as lenient as Conductor's Jackson: unknown fields are
ignored, booleans are case-insensitive (`overwrite=True`), numbers may come
as numeric strings; anything else is a `BadRequest` (400).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from cadenza.core._status import TaskStatus, WorkflowStatus
from cadenza.core._views import TaskRun, WorkflowRun

_FAILED = frozenset(
    {TaskStatus.FAILED, TaskStatus.FAILED_WITH_TERMINAL_ERROR, TaskStatus.TIMED_OUT}
)


class BadRequest(Exception):
    """Malformed input: answered 400 with Conductor's error body."""


def millis(seconds: float | None) -> int:
    """Epoch seconds (the runtime's clock) as Conductor's epoch milliseconds; 0 for none."""
    return 0 if seconds is None else round(seconds * 1000)


def _iso(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    moment = datetime.fromtimestamp(seconds, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def task_json(
    task: TaskRun,
    *,
    seq: int = 0,
    workflow: WorkflowRun | None = None,
    response_timeout_s: float | None = None,
) -> dict[str, Any]:
    """A `TaskRun` as Conductor's `Task` JSON."""
    started = task.started_at
    ended = task.ended_at
    updated = ended or started or task.scheduled_at
    body: dict[str, Any] = {
        "taskType": task.type,
        "status": task.status.value,
        "inputData": task.input,
        "referenceTaskName": task.ref,
        "retryCount": task.attempt,
        "seq": seq,
        "pollCount": 0 if started is None else 1,
        "taskDefName": task.type,
        "scheduledTime": millis(task.scheduled_at),
        "startTime": millis(started),
        "endTime": millis(ended),
        "updateTime": millis(updated),
        "startDelayInSeconds": 0,
        "retried": task.retried,
        "executed": task.status.terminal,
        "callbackFromWorker": True,
        "workflowInstanceId": task.run_id,
        "taskId": task.id,
        "reasonForIncompletion": task.reason,
        "callbackAfterSeconds": 0,
        "workerId": task.worker_id,
        "outputData": task.output,
        "domain": task.group,
        "iteration": task.iteration,
        "subWorkflowId": task.sub_workflow_id,
        "queueWaitTime": 0
        if started is None
        else max(0, millis(started) - millis(task.scheduled_at)),
        "loopOverTask": task.iteration > 0,
    }
    if response_timeout_s is not None:
        body["responseTimeoutSeconds"] = math.ceil(response_timeout_s)
    if workflow is not None:
        body["workflowType"] = workflow.name
        body["correlationId"] = workflow.correlation_id
        body["workflowPriority"] = workflow.priority
    return body


def _failed_refs(run: WorkflowRun) -> list[str]:
    return [t.ref for t in run.tasks if t.status in _FAILED and not t.retried]


def workflow_json(
    run: WorkflowRun, *, include_tasks: bool = True, definition: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A `WorkflowRun` as Conductor's `Workflow` JSON."""
    failed = _failed_refs(run)
    body: dict[str, Any] = {
        "workflowId": run.id,
        "workflowName": run.name,
        "workflowVersion": run.version,
        "status": run.status.value,
        "input": run.input,
        "output": run.output,
        "variables": run.variables,
        "reasonForIncompletion": run.reason,
        "priority": run.priority,
        "correlationId": run.correlation_id,
        "parentWorkflowId": run.parent_id,
        "idempotencyKey": run.key,
        "createTime": millis(run.created_at),
        "startTime": millis(run.created_at),
        "updateTime": millis(run.updated_at),
        "endTime": millis(run.ended_at),
        "failedReferenceTaskNames": failed,
        "failedTaskNames": sorted({t.type for t in run.tasks if t.ref in failed}),
        "taskToDomain": {},
        "tasks": [task_json(task, seq=seq, workflow=run) for seq, task in _numbered(run.tasks)]
        if include_tasks
        else [],
    }
    if definition is not None:
        body["workflowDefinition"] = definition
    return body


def summary_json(run: WorkflowRun) -> dict[str, Any]:
    """A `WorkflowRun` as Conductor's `WorkflowSummary` JSON (what search returns)."""
    ended = run.ended_at
    return {
        "workflowType": run.name,
        "version": run.version,
        "workflowId": run.id,
        "correlationId": run.correlation_id,
        "startTime": _iso(run.created_at),
        "updateTime": _iso(run.updated_at),
        "endTime": _iso(ended),
        "status": run.status.value,
        "input": json.dumps(run.input),
        "output": json.dumps(run.output),
        "reasonForIncompletion": run.reason,
        "executionTime": 0 if ended is None else millis(ended) - millis(run.created_at),
        "failedReferenceTaskNames": ",".join(_failed_refs(run)),
        "priority": run.priority,
        "idempotencyKey": run.key,
        "parentWorkflowId": run.parent_id or "",
        "taskToDomain": {},
    }


def error_json(status: int, message: str, *, retryable: bool = False) -> dict[str, Any]:
    """Conductor's `ErrorResponse` body."""
    return {"status": status, "message": message, "retryable": retryable}


# -- reading ----------------------------------------------------------------------


def parse_bool(name: str, value: Any, default: bool) -> bool:
    """A boolean from a query value or a JSON field, case-insensitively ("True", "FALSE")."""
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise BadRequest(f"{name}: expected true or false, got {value!r}")


def parse_int(
    name: str, value: Any, default: int | None, low: int = -(2**31), high: int = 2**31 - 1
) -> int | None:
    """An integer from a query value or a JSON field (a numeric string is accepted)."""
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        raise BadRequest(f"{name}: expected an integer, got {value!r}")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            raise BadRequest(f"{name}: expected an integer, got {value!r}") from None
    if not isinstance(value, int):
        raise BadRequest(f"{name}: expected an integer, got {value!r}")
    if not low <= value <= high:
        raise BadRequest(f"{name}: expected an integer from {low} to {high}, got {value}")
    return value


def parse_seconds(name: str, value: Any) -> float:
    """A non-negative, finite number of seconds (0 when absent)."""
    if value is None or value == "":
        return 0.0
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise BadRequest(f"{name}: expected a number, got {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadRequest(f"{name}: expected a number, got {value!r}")
    if not math.isfinite(value) or value < 0:
        raise BadRequest(f"{name}: expected a finite, non-negative number, got {value!r}")
    return float(value)


def parse_text(name: str, value: Any, *, required: bool = False) -> str | None:
    """A string field (None when absent, unless `required`)."""
    if value is None or value == "":
        if required:
            raise BadRequest(f"{name} is required")
        return None
    if not isinstance(value, str):
        raise BadRequest(f"{name}: expected a string, got {type(value).__name__}")
    return value


def parse_object(name: str, value: Any) -> dict[str, Any] | None:
    """A JSON object field (None when absent)."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise BadRequest(f"{name}: expected a JSON object, got {type(value).__name__}")
    return dict(value)


def parse_json(raw: bytes, *, empty: Any = None) -> Any:
    """A request body as JSON (`empty` for an empty body)."""
    if not raw.strip():
        if empty is None:
            raise BadRequest("a JSON body is required")
        return empty
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}") from None


def workflow_status(value: str) -> WorkflowStatus:
    """A workflow status named in a query, case-insensitively."""
    try:
        return WorkflowStatus(value.strip().upper())
    except ValueError:
        names = ", ".join(s.value for s in WorkflowStatus)
        raise BadRequest(f"unknown workflow status {value!r}: expected one of {names}") from None


def _numbered(tasks: list[TaskRun]) -> list[tuple[int, TaskRun]]:
    """Each task with Conductor's `seq`: a task an operator skipped ahead of time has none (0,
    WorkflowExecutorOps.skipTaskFromWorkflow), every scheduled one the highest so far plus one
    (WorkflowExecutorOps.scheduleTask)."""
    numbered, count = [], 0
    for task in tasks:
        if task.status is TaskStatus.SKIPPED:
            numbered.append((0, task))
        else:
            count += 1
            numbered.append((count, task))
    return numbered
