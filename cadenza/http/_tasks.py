"""Conductor's task endpoints (`TaskResource.java`): poll, batch poll, update, get, queue sizes.

A poll is `Runtime.poll`: the batch poll waits for its first task up to
`timeout` ms (at most 5000, as Conductor's `MAX_POLL_TIMEOUT_MS`), parked in
the worker group, so it answers the moment a task is queued; the rest of the
batch is what is ready then. A TaskResult maps onto the runtime's calls:
COMPLETED -> `complete`, FAILED / FAILED_WITH_TERMINAL_ERROR -> `fail`,
IN_PROGRESS -> `update` (back to the queue after `callbackAfterSeconds`, as
Conductor postpones it), `extendLease` -> `heartbeat`.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from cadenza._errors import NotFound
from cadenza.core._ids import run_id_of
from cadenza.core._views import TaskRun
from cadenza.http import _engine
from cadenza.http._shapes import (
    BadRequest,
    parse_bool,
    parse_int,
    parse_json,
    parse_object,
    parse_seconds,
    parse_text,
    task_json,
)
from cadenza.runtime import Runtime

MAX_POLL_TIMEOUT_MS = 5000  # Conductor's ExecutionService.MAX_POLL_TIMEOUT_MS
DEFAULT_POLL_TIMEOUT_MS = 100  # Conductor's default `timeout` of a (batch) poll
MAX_BATCH = 1000
REMEMBERED = 100_000  # polled tasks whose type and domain update-v2 looks up without a read
RESULT_STATUSES = ("IN_PROGRESS", "FAILED", "FAILED_WITH_TERMINAL_ERROR", "COMPLETED")


class Tasks:
    """The task endpoints on one runtime."""

    def __init__(self, rt: Runtime):
        self.rt = rt
        self._polled: OrderedDict[str, tuple[str, str | None]] = OrderedDict()

    # -- polling ------------------------------------------------------------------

    async def _poll(
        self, task_type: str, domain: str | None, worker_id: str | None, count: int, wait_s: float
    ) -> list[dict[str, Any]]:
        rt = self.rt
        found: list[TaskRun] = []
        task = await rt.poll(task_type, group=domain, worker_id=worker_id, wait=wait_s)
        while task is not None:
            found.append(task)
            if len(found) >= count:
                break
            task = await rt.poll(task_type, group=domain, worker_id=worker_id)
        timeout_s = _engine.response_timeout_s(rt, task_type)
        for task in found:
            self._polled[task.id] = (task_type, domain)
        while len(self._polled) > REMEMBERED:
            self._polled.popitem(last=False)
        return [task_json(task, response_timeout_s=timeout_s) for task in found]

    async def poll(self, request: Request) -> Response:
        query = request.query_params
        found = await self._poll(
            request.path_params["tasktype"],
            query.get("domain") or None,
            query.get("workerid") or None,
            1,
            DEFAULT_POLL_TIMEOUT_MS / 1000,
        )
        return JSONResponse(found[0]) if found else Response(status_code=204)

    async def batch_poll(self, request: Request) -> Response:
        query = request.query_params
        count = parse_int("count", query.get("count"), 1, 1, MAX_BATCH)
        timeout = parse_int("timeout", query.get("timeout"), DEFAULT_POLL_TIMEOUT_MS, 0)
        assert count is not None
        assert timeout is not None
        if timeout > MAX_POLL_TIMEOUT_MS:
            raise BadRequest(
                f"Long Poll Timeout value cannot be more than 5 seconds (got {timeout} ms)"
            )
        found = await self._poll(
            request.path_params["tasktype"],
            query.get("domain") or None,
            query.get("workerid") or None,
            count,
            timeout / 1000,
        )
        return JSONResponse(found)

    # -- results ------------------------------------------------------------------

    async def _apply(self, result: dict[str, Any]) -> tuple[str, bool]:
        """Apply a TaskResult; returns the task id and whether the task ended."""
        rt = self.rt
        task_id = parse_text("taskId", result.get("taskId"), required=True)
        assert task_id is not None
        if parse_bool("extendLease", result.get("extendLease"), False):
            await rt.heartbeat(task_id)
            return task_id, False
        status = parse_text("status", result.get("status"), required=True)
        assert status is not None
        status = status.upper()
        if status not in RESULT_STATUSES:
            raise BadRequest(
                f"status: expected one of {', '.join(RESULT_STATUSES)}, got {status!r}"
            )
        output = parse_object("outputData", result.get("outputData"))
        reason = parse_text("reasonForIncompletion", result.get("reasonForIncompletion")) or ""
        if status == "COMPLETED":
            await rt.complete(task_id, output or {})
        elif status in ("FAILED", "FAILED_WITH_TERMINAL_ERROR"):
            await rt.fail(
                task_id, reason, output=output, terminal=status == "FAILED_WITH_TERMINAL_ERROR"
            )
        else:
            delay = parse_seconds("callbackAfterSeconds", result.get("callbackAfterSeconds"))
            await rt.update(task_id, output=output, callback_after_s=delay)
            return task_id, False
        return task_id, True

    async def update(self, request: Request) -> Response:
        result = parse_object("TaskResult", parse_json(await request.body()))
        assert result is not None
        task_id, _ended = await self._apply(result)
        return PlainTextResponse(task_id)

    async def update_v2(self, request: Request) -> Response:
        """Apply a TaskResult; if the task ended, answer the next task of its type and domain."""
        result = parse_object("TaskResult", parse_json(await request.body()))
        assert result is not None
        task_id, ended = await self._apply(result)
        if not ended:
            return Response(status_code=204)
        where = self._polled.pop(task_id, None)
        if where is None:
            task = await self._find(task_id)
            where = (task.type, task.group)
        worker_id = parse_text("workerId", result.get("workerId"))
        found = await self._poll(where[0], where[1], worker_id, 1, 0.0)
        return JSONResponse(found[0]) if found else Response(status_code=204)

    async def update_by_ref(self, request: Request) -> Response:
        """`POST /tasks/{workflowId}/{taskRefName}/{status}`: the run's pending task of that ref."""
        rt = self.rt
        params = request.path_params
        run_id, ref = params["workflowId"], params["taskRefName"]
        status = params["status"].upper()
        if status not in RESULT_STATUSES:
            raise BadRequest(
                f"status: expected one of {', '.join(RESULT_STATUSES)}, got {status!r}"
            )
        output = parse_object("output", parse_json(await request.body(), empty={})) or {}
        run = await rt.get(run_id)
        pending = [t for t in run.tasks if t.ref == ref and not t.status.terminal]
        if not pending:
            raise NotFound("running task", f"{ref} of workflow {run_id}")
        task = pending[-1]
        if status == "COMPLETED" and task.type in ("WAIT", "HUMAN"):
            await rt.signal(run_id, ref, output)
        else:
            await self._apply({"taskId": task.id, "status": status, "outputData": output})
        return PlainTextResponse(task.id)

    # -- reads --------------------------------------------------------------------

    async def _find(self, task_id: str) -> TaskRun:
        run = await self.rt.get(run_id_of(task_id))
        for task in run.tasks:
            if task.id == task_id:
                return task
        raise NotFound("task", task_id)

    async def get(self, request: Request) -> Response:
        task_id = request.path_params["taskId"]
        run = await self.rt.get(run_id_of(task_id))
        for seq, task in enumerate(run.tasks, start=1):
            if task.id == task_id:
                timeout_s = _engine.response_timeout_s(self.rt, task.type)
                return JSONResponse(
                    task_json(task, seq=seq, workflow=run, response_timeout_s=timeout_s)
                )
        raise NotFound("task", task_id)

    async def queue_sizes(self, request: Request) -> Response:
        """`GET /tasks/queue/sizes?taskType=a&taskType=b`: ready tasks by type, every domain."""
        types = request.query_params.getlist("taskType") or None
        return JSONResponse(_engine.queue_sizes(self.rt, types))

    async def queue_size(self, request: Request) -> Response:
        """`GET /tasks/queue/size?taskType=&domain=`: ready tasks of one type in one domain."""
        task_type = parse_text("taskType", request.query_params.get("taskType"), required=True)
        assert task_type is not None
        domain = request.query_params.get("domain") or _engine.default_group(self.rt)
        return JSONResponse(_engine.queue_sizes(self.rt, [task_type], domain)[task_type])
