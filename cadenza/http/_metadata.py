"""Conductor's metadata endpoints (`MetadataResource.java`): task and workflow definitions.

`POST /metadata/taskdefs` takes a list, `PUT` one TaskDef; `POST
/metadata/workflow` one WorkflowDef (409 if that name and version exist,
unless `overwrite=true`), `PUT` a list (Conductor's BulkResponse back).
Definitions are parsed by the runtime: an invalid one is a 400 naming the
task reference and the problem.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from cadenza._errors import DefinitionError, InvalidOperation, NotFound
from cadenza.http import _engine
from cadenza.http._shapes import BadRequest, parse_bool, parse_int, parse_json, parse_object
from cadenza.language._taskdef import parse_task_def
from cadenza.runtime import Runtime


def _list(name: str, value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise BadRequest(f"{name}: expected a JSON list, got {type(value).__name__}")
    items = [parse_object(f"{name}[{n}]", item) for n, item in enumerate(value)]
    return [item for item in items if item is not None]


class Metadata:
    """The metadata endpoints on one runtime."""

    def __init__(self, rt: Runtime):
        self.rt = rt

    async def register_task_defs(self, request: Request) -> Response:
        """`POST /metadata/taskdefs`: a list of TaskDefs, each checked before any is registered."""
        task_defs = _list("taskDefs", parse_json(await request.body()))
        for task_def in task_defs:
            parse_task_def(task_def)  # all checked first: a bad one registers none
        for task_def in task_defs:
            await self.rt.register_task(task_def)
        return Response(status_code=200)

    async def update_task_def(self, request: Request) -> Response:
        """`PUT /metadata/taskdefs`: one TaskDef."""
        task_def = parse_object("TaskDef", parse_json(await request.body()))
        assert task_def is not None
        await self.rt.register_task(task_def)
        return Response(status_code=200)

    async def get_task_def(self, request: Request) -> Response:
        name = request.path_params["tasktype"]
        body = _engine.task_def_json(self.rt, name)
        if body is None:
            raise NotFound("task definition", name)
        return JSONResponse(body)

    async def get_task_defs(self, request: Request) -> Response:
        names = _engine.task_def_names(self.rt)
        return JSONResponse([_engine.task_def_json(self.rt, name) for name in names])

    async def _register(self, definition: dict[str, Any], overwrite: bool) -> None:
        name = definition.get("name")
        if not isinstance(name, str) or not name:
            raise BadRequest("WorkflowDef.name is required")
        version = parse_int("version", definition.get("version"), 1, 0)
        assert version is not None
        if not overwrite and _engine.workflow_exists(self.rt, name, version):
            raise InvalidOperation(f"Workflow with {name}.{version} already exists!")
        await self.rt.register(definition)

    async def create_workflow(self, request: Request) -> Response:
        """`POST /metadata/workflow?overwrite=`: one WorkflowDef."""
        overwrite = parse_bool("overwrite", request.query_params.get("overwrite"), False)
        definition = parse_object("WorkflowDef", parse_json(await request.body()))
        assert definition is not None
        await self._register(definition, overwrite)
        return Response(status_code=200)

    async def update_workflows(self, request: Request) -> Response:
        """`PUT /metadata/workflow`: a list of WorkflowDefs; Conductor's BulkResponse back."""
        definitions = _list("workflowDefs", parse_json(await request.body()))
        succeeded: list[str] = []
        failed: dict[str, str] = {}
        for definition in definitions:
            key = f"{definition.get('name')}.{definition.get('version', 1)}"
            try:
                await self._register(definition, overwrite=True)
            except (BadRequest, DefinitionError, InvalidOperation) as exc:
                failed[key] = str(exc)
            else:
                succeeded.append(key)
        if failed and not succeeded:
            raise BadRequest("; ".join(f"{key}: {why}" for key, why in failed.items()))
        return JSONResponse(
            {"bulkSuccessfulResults": succeeded, "bulkErrorResults": failed, "message": ""}
        )

    async def get_workflow(self, request: Request) -> Response:
        version = parse_int("version", request.query_params.get("version"), None, 0)
        return JSONResponse(await self.rt.definition(request.path_params["name"], version))
