"""The dashboard's run pages: the runs list and one run (graph, tasks, timeline, payloads).

Each page has a fragment that htmx polls while the tab is visible (`every
2s [!document.hidden]`), so a page nobody looks at costs nothing; the run
fragment answers 286 (htmx's "stop polling") once the run is terminal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from cadenza.http.ui import _graph, _reads
from cadenza.http.ui._render import render
from cadenza.http.ui._security import Guard
from cadenza.http.ui._timeline import timeline
from cadenza.persistence import StreamQuery
from cadenza.runtime import Runtime

PAGE_SIZE = 25
STOP_POLLING = 286  # htmx: a poll answered 286 is the last one
_TERMINAL = frozenset({"COMPLETED", "FAILED", "TIMED_OUT", "TERMINATED"})
_FILTERS = ("name", "version", "status", "correlation_id", "key", "id", "since", "until")


class BadFilter(ValueError):
    """A query parameter the runs list cannot use; the message names it."""


@dataclass(frozen=True, slots=True)
class Filters:
    query: StreamQuery
    page: int
    size: int
    values: dict[str, str]  # the non-empty parameters as given, for links and the form

    def link(self, **changes: Any) -> str:
        params = {**self.values, "page": str(self.page), **{k: str(v) for k, v in changes.items()}}
        return urlencode({k: v for k, v in params.items() if v not in ("", "None")})


def _integer(params: Any, name: str, low: int, high: int, default: int | None) -> int | None:
    raw = (params.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadFilter(f"{name}: expected a whole number, got {raw!r}") from None
    if not low <= value <= high:
        raise BadFilter(f"{name}: expected {low} to {high}, got {value}")
    return value


def parse_filters(request: Request) -> Filters:
    """The runs list's filters from the query string; `BadFilter` names a bad one.

    `since`/`until` are epoch milliseconds (the page's script turns the
    browser-local inputs into them), inclusive.
    """
    params = request.query_params
    values = {k: params.get(k, "").strip() for k in _FILTERS if params.get(k, "").strip()}
    status = values.get("status")
    if status is not None and status not in _reads.STATUSES:
        raise BadFilter(f"status: expected one of {', '.join(_reads.STATUSES)}, got {status!r}")
    since = _integer(params, "since", 0, 2**53, None)
    until = _integer(params, "until", 0, 2**53, None)
    query = StreamQuery(
        kind=values.get("name"),
        version=_integer(params, "version", 0, 2**31, None),
        status=status,
        correlation_id=values.get("correlation_id"),
        key=values.get("key"),
        created_from=None if since is None else since / 1000,
        created_to=None if until is None else until / 1000,
        id_text=values.get("id"),
    )
    page = _integer(params, "page", 1, 10**7, 1) or 1
    size = _integer(params, "size", 1, _reads.PAGE_SIZE_MAX, PAGE_SIZE) or PAGE_SIZE
    if size != PAGE_SIZE:
        values["size"] = str(size)
    return Filters(query=query, page=page, size=size, values=values)


class RunPages:
    """GET handlers of the runs list and of one run."""

    def __init__(self, rt: Runtime, guard: Guard):
        self.rt = rt
        self.guard = guard

    async def _list_context(self, request: Request) -> dict[str, Any]:
        filters = parse_filters(request)
        page = await _reads.runs_page(self.rt, filters.query, page=filters.page, size=filters.size)
        return {
            "filters": filters,
            "runs": page,
            "statuses": _reads.STATUSES,
            "pages": page.pages(filters.query.status),
            "names": sorted(_reads.definition_versions(self.rt)),
        }

    async def runs(self, request: Request) -> Response:
        return render(request, self.guard, "runs.html", await self._list_context(request))

    async def runs_table(self, request: Request) -> Response:
        return render(request, self.guard, "_runs_table.html", await self._list_context(request))

    async def _run_context(self, request: Request) -> dict[str, Any]:
        run = await self.rt.get(request.path_params["run_id"])
        now = self.rt._engine.clock.now()
        tasks = list(run.tasks)
        return {
            "run": run,
            "terminal": str(run.status) in _TERMINAL,
            "children": _reads.children_of(tasks),
            "timeline": timeline(tasks, run_start=run.created_at, run_end=run.ended_at, now=now),
            "refs": sorted({t.ref for t in tasks}),
            "waiting_refs": sorted(
                {
                    t.ref
                    for t in tasks
                    if t.type in ("WAIT", "HUMAN") and str(t.status) == "IN_PROGRESS"
                }
            ),
        }

    async def run(self, request: Request) -> Response:
        return render(request, self.guard, "run.html", await self._run_context(request))

    async def run_live(self, request: Request) -> Response:
        context = await self._run_context(request)
        status = STOP_POLLING if context["terminal"] else 200
        return render(request, self.guard, "_run_live.html", context, status=status)

    async def run_graph(self, request: Request) -> Response:
        run = await self.rt.get(request.path_params["run_id"])
        definition = await _reads.run_definition(self.rt, run.id, run.name, run.version)
        graph = _graph.build(
            definition,
            statuses=_graph.last_statuses(run.tasks, str(run.status)),
            children=_graph.sub_workflow_children(run.tasks),
            spawned=_graph.dynamic_forks(run.tasks),
            iterations=_graph.loop_iterations(run.tasks),
            run_status=str(run.status),
        )
        graph["status"] = str(run.status)
        return JSONResponse(graph)
