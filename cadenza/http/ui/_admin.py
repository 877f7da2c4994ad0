"""The dashboard's engine pages: worker groups, timers, schedules, definitions (each
version as JSON and as a graph)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from cadenza._errors import NotFound
from cadenza.http._engine import now_of
from cadenza.http.ui import _graph, _reads
from cadenza.http.ui._render import render
from cadenza.http.ui._security import Guard
from cadenza.runtime import Runtime


class AdminPages:
    """GET handlers of the groups, timers and definitions pages."""

    def __init__(self, rt: Runtime, guard: Guard):
        self.rt = rt
        self.guard = guard

    async def groups(self, request: Request) -> Response:
        context = {"groups": _reads.groups(self.rt), "timers": _reads.timers(self.rt)}
        return render(request, self.guard, "groups.html", context)

    async def groups_live(self, request: Request) -> Response:
        context = {"groups": _reads.groups(self.rt), "timers": _reads.timers(self.rt)}
        return render(request, self.guard, "_groups_live.html", context)

    async def schedules(self, request: Request) -> Response:
        """Every schedule: its next tick, last run, counts and last ticks."""
        context = {"schedules": await self.rt.schedules(), "now": now_of(self.rt)}
        return render(request, self.guard, "schedules.html", context)

    async def definitions(self, request: Request) -> Response:
        context = {
            "versions": _reads.definition_versions(self.rt),
            "task_defs": _reads.task_defs(self.rt),
        }
        return render(request, self.guard, "definitions.html", context)

    def _version(self, request: Request) -> tuple[str, int]:
        name = request.path_params["name"]
        raw = request.path_params["version"]
        if not raw.isdigit():
            raise NotFound("workflow definition", f"{name} version {raw}")
        return name, int(raw)

    async def definition(self, request: Request) -> Response:
        name, version = self._version(request)
        body = await self.rt.definition(name, version)
        versions = _reads.definition_versions(self.rt).get(name, [])
        context = {"name": name, "version": version, "body": body, "versions": versions}
        return render(request, self.guard, "definition.html", context)

    async def definition_graph(self, request: Request) -> Response:
        name, version = self._version(request)
        body = await self.rt.definition(name, version)
        return JSONResponse(_graph.build(body))
