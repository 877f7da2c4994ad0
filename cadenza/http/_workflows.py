"""Conductor's workflow endpoints (`WorkflowResource.java`): start, get, search, operations.

Starting answers the run id as `text/plain`. `search` reads the journal's
run rows (so counting does not load runs) and understands the part of
Conductor's query language a single process can answer:
`workflowType`, `status`, `correlationId`, `workflowId` with `=` or
`IN (...)`, and `startTime` / `updateTime` with `>`, `>=`, `<`, `<=` in epoch
milliseconds, joined by `AND`; `freeText` matches a run id, workflow name or
correlation id (`*` matches all). Anything else is a 400 naming the clause.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from cadenza._errors import NotFound
from cadenza.http import _engine
from cadenza.http._shapes import (
    BadRequest,
    parse_bool,
    parse_int,
    parse_json,
    parse_object,
    parse_text,
    summary_json,
    workflow_json,
    workflow_status,
)
from cadenza.persistence import StreamInfo
from cadenza.runtime import Runtime

SEARCH_ROWS_MAX = 100_000
_CLAUSE = re.compile(
    r"^\s*(?P<field>\w+)\s*(?P<op>=|==|!=|>=|<=|>|<|\bIN\b)\s*(?P<value>.+?)\s*$", re.IGNORECASE
)
_AND = re.compile(r"\s+AND\s+", re.IGNORECASE)


@dataclass
class Query:
    """A parsed search query: value sets to match, and time bounds (epoch seconds)."""

    names: list[str | None] = field(default_factory=lambda: [None])
    statuses: list[str | None] = field(default_factory=lambda: [None])
    correlations: list[str | None] = field(default_factory=lambda: [None])
    ids: set[str] | None = None
    bounds: list[tuple[str, str, float]] = field(default_factory=list)

    def keeps(self, row: StreamInfo) -> bool:
        if self.ids is not None and row.stream_id not in self.ids:
            return False
        for column, op, bound in self.bounds:
            value = row.created_at if column == "startTime" else row.updated_at
            if not _compare(value, op, bound):
                return False
        return True


def _compare(value: float, op: str, bound: float) -> bool:
    if op == ">":
        return value > bound
    if op == ">=":
        return value >= bound
    if op == "<":
        return value < bound
    return value <= bound


def _values(op: str, raw: str) -> list[str]:
    if op.upper() == "IN":
        if not (raw.startswith("(") and raw.endswith(")")):
            raise BadRequest(f"search query: IN needs a list in parentheses, got {raw!r}")
        items = [item.strip().strip("'\"") for item in raw[1:-1].split(",")]
        return [item for item in items if item]
    return [raw.strip().strip("'\"")]


def parse_query(text: str | None) -> Query:
    query = Query()
    if not text or not text.strip():
        return query
    for clause in _AND.split(text.strip()):
        match = _CLAUSE.match(clause)
        if match is None:
            raise BadRequest(f"search query: cannot read the clause {clause!r}")
        name, op, raw = match["field"], match["op"], match["value"]
        if name in ("startTime", "updateTime") and op in (">", ">=", "<", "<="):
            bound = parse_int(name, raw.strip().strip("'\""), None, 0, 2**62)
            assert bound is not None
            query.bounds.append((name, op, bound / 1000))
            continue
        if op not in ("=", "==") and op.upper() != "IN":
            raise BadRequest(f"search query: {op!r} is not supported on {name!r}")
        values: list[str | None] = list(_values(op, raw))
        if not values:
            raise BadRequest(f"search query: no value in {clause!r}")
        if name == "workflowType":
            query.names = values
        elif name == "status":
            query.statuses = [workflow_status(str(v)).value for v in values]
        elif name == "correlationId":
            query.correlations = values
        elif name == "workflowId":
            query.ids = {str(v) for v in values}
        else:
            raise BadRequest(
                f"search query: unknown field {name!r} (workflowType, status, correlationId, "
                "workflowId, startTime, updateTime)"
            )
    return query


class Workflows:
    """The workflow endpoints on one runtime."""

    def __init__(self, rt: Runtime):
        self.rt = rt

    async def _start(self, request: dict[str, Any], name: str | None = None) -> str:
        rt = self.rt
        definition = parse_object("workflowDef", request.get("workflowDef"))
        name = name or parse_text("name", request.get("name")) or (definition or {}).get("name")
        if not isinstance(name, str) or not name:
            raise BadRequest("name is required")
        version = parse_int("version", request.get("version"), None, 0)
        if definition is not None:  # started as it is, not registered (Conductor's dynamic
            definition = {**definition, "name": name}  # workflow, WorkflowExecutorOps:2746)
            if version is not None:
                definition["version"] = version
        input = parse_object("input", request.get("input"))
        priority = parse_int("priority", request.get("priority"), 0, 0, 99)
        assert priority is not None
        return await rt.start(
            name,
            input or {},
            version=version,
            priority=priority,
            key=parse_text("idempotencyKey", request.get("idempotencyKey")),
            correlation_id=parse_text("correlationId", request.get("correlationId")),
            task_to_group=parse_object("taskToDomain", request.get("taskToDomain")) or None,
            definition=definition,
        )

    async def start(self, request: Request) -> Response:
        """`POST /workflow` with a StartWorkflowRequest."""
        body = parse_object("StartWorkflowRequest", parse_json(await request.body()))
        assert body is not None
        return PlainTextResponse(await self._start(body))

    async def start_by_name(self, request: Request) -> Response:
        """`POST /workflow/{name}?version=&correlationId=&priority=` with the input as the body."""
        query = request.query_params
        input = parse_object("input", parse_json(await request.body(), empty={}))
        start = {
            "input": input,
            "version": query.get("version"),
            "correlationId": query.get("correlationId"),
            "priority": query.get("priority"),
        }
        return PlainTextResponse(await self._start(start, request.path_params["name"]))

    async def get(self, request: Request) -> Response:
        include = parse_bool("includeTasks", request.query_params.get("includeTasks"), True)
        run = await self.rt.get(request.path_params["workflowId"])
        try:
            definition: dict[str, Any] | None = await self.rt.definition(run.name, run.version)
        except NotFound:
            definition = None
        return JSONResponse(workflow_json(run, include_tasks=include, definition=definition))

    async def search(self, request: Request) -> Response:
        """`GET /workflow/search`: a SearchResult of WorkflowSummary, newest first."""
        params = request.query_params
        start = parse_int("start", params.get("start"), 0, 0)
        size = parse_int("size", params.get("size"), 100, 0, 10_000)
        assert start is not None
        assert size is not None
        query = parse_query(params.get("query"))
        free = (params.get("freeText") or "*").strip()
        rows: dict[str, StreamInfo] = {}
        for name, status, correlation in itertools.product(
            query.names, query.statuses, query.correlations
        ):
            for row in await _engine.run_rows(
                self.rt, name=name, status=status, correlation_id=correlation, limit=SEARCH_ROWS_MAX
            ):
                if query.keeps(row) and free in (
                    "*",
                    "",
                    row.stream_id,
                    row.kind,
                    row.correlation_id,
                ):
                    rows[row.stream_id] = row
        ordered = sorted(
            rows.values(), key=lambda r: r.created_at, reverse=True
        )  # stable: ties keep the journal's newest-first order
        page = []
        for row in ordered[start : start + size]:
            try:
                page.append(summary_json(await self.rt.get(row.stream_id)))
            except NotFound:
                continue
        return JSONResponse({"totalHits": len(ordered), "results": page})

    # -- operations ------------------------------------------------------------------

    async def pause(self, request: Request) -> Response:
        await self.rt.pause(request.path_params["workflowId"])
        return Response(status_code=200)

    async def resume(self, request: Request) -> Response:
        await self.rt.resume(request.path_params["workflowId"])
        return Response(status_code=200)

    async def terminate(self, request: Request) -> Response:
        reason = request.query_params.get("reason") or ""
        await self.rt.terminate(request.path_params["workflowId"], reason)
        return Response(status_code=200)

    async def retry(self, request: Request) -> Response:
        parse_bool(
            "resumeSubworkflowTasks", request.query_params.get("resumeSubworkflowTasks"), False
        )
        await self.rt.retry(request.path_params["workflowId"])
        return Response(status_code=204)

    async def reset_callbacks(self, request: Request) -> Response:
        """`POST /workflow/{id}/resetcallbacks`: 204 (WorkflowResource.java:306-313)."""
        await self.rt.reset_callbacks(request.path_params["workflowId"])
        return Response(status_code=204)

    async def restart(self, request: Request) -> Response:
        latest = parse_bool(
            "useLatestDefinitions", request.query_params.get("useLatestDefinitions"), False
        )
        await self.rt.restart(request.path_params["workflowId"], latest=latest)
        return Response(status_code=204)

    async def rerun(self, request: Request) -> Response:
        """`POST /workflow/{id}/rerun` with a RerunWorkflowRequest; answers the run id."""
        run_id = request.path_params["workflowId"]
        body = parse_object("RerunWorkflowRequest", parse_json(await request.body(), empty={}))
        assert body is not None
        if parse_object("taskInput", body.get("taskInput")):
            raise BadRequest("taskInput: replacing a task's input on rerun is not supported")
        task_id = parse_text("reRunFromTaskId", body.get("reRunFromTaskId"))
        run = await self.rt.get(run_id)
        if task_id is None:
            if not run.tasks:
                raise BadRequest(f"workflow {run_id!r} has no task to rerun from")
            ref = run.tasks[0].ref
        else:
            refs = [t.ref for t in run.tasks if t.id == task_id]
            if not refs:
                raise NotFound("task", task_id)
            ref = refs[0]
        await self.rt.rerun(
            run_id, ref, input=parse_object("workflowInput", body.get("workflowInput"))
        )
        return PlainTextResponse(run_id)

    async def skip(self, request: Request) -> Response:
        """`PUT /workflow/{id}/skiptask/{ref}` (a SkipTaskRequest body, if any, is not used)."""
        params = request.path_params
        parse_json(await request.body(), empty={})
        await self.rt.skip(params["workflowId"], params["taskReferenceName"])
        return Response(status_code=200)
