"""The dashboard's pages and actions over ASGI: filters, paging, counts, graphs, refusals."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx

import cadenza
from cadenza.testing import VirtualClock
from tests.ui._flows import TWO_STEPS
from tests.ui.conftest import csrf_of, finish

CONDUCTOR_DEFS = Path(__file__).parents[1] / "conductor_defs"


def run_ids(page: str) -> list[str]:
    return re.findall(r'<tr data-run-id="([^"]+)"', page)


async def test_runs_list_filters_pages_and_counts(
    ui: httpx.AsyncClient, flows: cadenza.Runtime, clock: VirtualClock
) -> None:
    started = []
    for n in range(7):
        started.append(
            await flows.start("two_steps", {"n": n}, correlation_id=f"c{n % 2}", key=f"k{n}")
        )
        await clock.advance(1.0)
    await flows.start("waiting", {})
    await flows.terminate(started[0], reason="stop")
    await flows.settle()
    newest_first = list(reversed(started))

    page = (await ui.get("/ui/?name=two_steps&size=3")).text
    assert run_ids(page) == newest_first[:3]
    assert 'data-count="all">7<' in page
    assert 'data-count="RUNNING">6<' in page
    assert 'data-count="TERMINATED">1<' in page
    assert "page 1 of 3" in page
    third = (await ui.get("/ui/?name=two_steps&size=3&page=3")).text
    assert run_ids(third) == newest_first[6:]

    assert run_ids((await ui.get("/ui/?status=TERMINATED")).text) == [started[0]]
    by_correlation = run_ids((await ui.get("/ui/?correlation_id=c1")).text)
    assert by_correlation == [r for i, r in enumerate(started) if i % 2][::-1]
    assert run_ids((await ui.get("/ui/?key=k4")).text) == [started[4]]
    assert run_ids((await ui.get(f"/ui/?id={started[5][4:12]}")).text) == [started[5]]
    assert run_ids((await ui.get("/ui/?name=two_steps&version=2")).text) == []
    # the start-time range, inclusive, in epoch milliseconds
    t2 = int((clock.now() - 5.0) * 1000)  # runs 2.. started at or after this
    t4 = int((clock.now() - 3.0) * 1000)
    ranged = run_ids((await ui.get(f"/ui/?name=two_steps&since={t2}&until={t4}")).text)
    assert ranged == [started[4], started[3], started[2]]


async def test_a_bad_filter_is_a_400_naming_it(ui: httpx.AsyncClient) -> None:
    for query, named in (
        ("status=DONE", "status"),
        ("version=x", "version"),
        ("page=0", "page"),
        ("size=100000", "size"),
        ("since=yesterday", "since"),
    ):
        answer = await ui.get(f"/ui/?{query}")
        assert answer.status_code == 400, query
        assert named in answer.text


async def test_run_page_shows_tasks_payloads_timeline_and_links(
    ui: httpx.AsyncClient, flows: cadenza.Runtime, clock: VirtualClock
) -> None:
    run_id = await flows.start("two_steps", {"n": 5}, correlation_id="corr-9")
    await clock.advance(2.0)
    task = await flows.poll("ui_a", worker_id="worker-7")
    assert task is not None
    await clock.advance(3.0)
    await flows.complete(task.id, {"n": 6})
    await flows.settle()
    page = (await ui.get(f"/ui/runs/{run_id}")).text
    assert "corr-9" in page
    assert 'data-ref="a"' in page
    assert 'data-ref="b"' in page
    assert "worker-7" in page
    assert "wait 2.0 s · run 3.0 s" in page  # queue wait and execution of a's attempt
    live = await ui.get(f"/ui/runs/{run_id}/live")
    assert live.status_code == 200  # polling goes on while the run is not terminal
    graph = (await ui.get(f"/ui/runs/{run_id}/graph.json")).json()
    statuses = {node["id"]: node["status"] for node in graph["nodes"]}
    assert statuses == {
        "__start": "COMPLETED",
        "a": "COMPLETED",
        "b": "SCHEDULED",
        "__final": "NOT_STARTED",
    }
    await finish(flows, "ui_b", {"n": 7})
    over = await ui.get(f"/ui/runs/{run_id}/live")
    assert over.status_code == 286  # htmx's "stop polling": the run is over
    graph = (await ui.get(f"/ui/runs/{run_id}/graph.json")).json()
    assert graph["terminal"] is True
    assert {n["id"]: n["status"] for n in graph["nodes"]}["__final"] == "COMPLETED"


async def test_a_refused_action_shows_the_engines_message(
    ui: httpx.AsyncClient, flows: cadenza.Runtime
) -> None:
    run_id = await flows.start("two_steps", {"n": 1})
    await flows.settle()
    token = csrf_of((await ui.get(f"/ui/runs/{run_id}")).text)
    headers = {"X-CSRF-Token": token, "HX-Request": "true"}
    base = f"/ui/runs/{run_id}/actions"
    try:
        await flows.resume(run_id)
    except cadenza.InvalidOperation as exc:
        engine_says = str(exc)
    resumed = await ui.post(f"{base}/resume", headers=headers)
    assert resumed.status_code == 409
    assert engine_says in resumed.text.replace("&#39;", "'").replace("&#34;", '"')
    bad_json = await ui.post(f"{base}/rerun", data={"ref": "a", "input": "{nope"}, headers=headers)
    assert bad_json.status_code == 400
    assert "input: not JSON" in bad_json.text
    unknown = await ui.post("/ui/runs/no-such-run/actions/pause", headers=headers)
    assert unknown.status_code == 404
    no_action = await ui.post(f"{base}/explode", headers=headers)
    assert no_action.status_code == 404
    assert "no action" in no_action.text
    assert (await flows.get(run_id)).status == "RUNNING"


async def test_every_action_reaches_the_runtime(
    ui: httpx.AsyncClient, flows: cadenza.Runtime
) -> None:
    """pause, resume, skip, rerun with new input, signal, terminate, restart, retry."""
    run_id = await flows.start("two_steps", {"n": 1})
    await flows.settle()
    token = csrf_of((await ui.get(f"/ui/runs/{run_id}")).text)

    async def act(rid: str, action: str, **data: str) -> None:
        answer = await ui.post(
            f"/ui/runs/{rid}/actions/{action}",
            data=data,
            headers={"X-CSRF-Token": token, "HX-Request": "true"},
        )
        assert answer.status_code == 200, answer.text
        await flows.settle()

    await act(run_id, "pause")
    assert (await flows.get(run_id)).status == "PAUSED"
    await act(run_id, "resume")
    assert (await flows.get(run_id)).status == "RUNNING"
    await act(run_id, "skip", ref="b")  # before it is scheduled, as Conductor's skipTask wants
    await finish(flows, "ui_a", {"n": 2})
    assert (await flows.get(run_id)).status == "COMPLETED"
    await act(run_id, "rerun", ref="b", input='{"n": 42}')
    rerun = await flows.get(run_id)
    assert rerun.status == "RUNNING"
    # `b`, skipped ahead of time, is listed first (Conductor's seq 0): a rerun from it drops
    # every task listed after it, so the run starts over at `a`
    assert [t.ref for t in rerun.tasks] == ["a"]
    assert rerun.input == {"n": 42}  # rerun's input replaces the workflow input
    await act(run_id, "terminate", reason="enough")
    assert (await flows.get(run_id)).reason == "enough"
    await act(run_id, "restart", latest="on")
    assert [t.ref for t in (await flows.get(run_id)).tasks] == ["a"]

    waiting = await flows.start("waiting", {})
    await flows.settle()
    await act(waiting, "signal", ref="hold", output='{"approved": true}')
    assert (await flows.get(waiting)).output == {"approved": True}

    failing = await flows.start(
        "two_steps", {"n": 1}, priority=99
    )  # polled before the restarted run
    await flows.settle()
    task = await flows.poll("ui_a")
    assert task is not None
    assert task.run_id == failing
    await flows.fail(task.id, "down")
    await flows.settle()
    assert (await flows.get(failing)).status == "FAILED"
    await act(failing, "retry")
    assert (await flows.get(failing)).status == "RUNNING"


async def test_groups_timers_and_definitions_pages(
    ui: httpx.AsyncClient, flows: cadenza.Runtime
) -> None:
    await flows.start("two_steps", {"n": 1}, priority=7)
    await flows.start("two_steps", {"n": 2}, priority=3)
    await flows.start("waiting", {})
    await flows.settle()
    groups = (await ui.get("/ui/groups")).text
    assert 'data-task-type="ui_a"' in groups
    assert "p7: 1" in groups
    assert "p3: 1" in groups
    assert re.search(r'class="depth">2<', groups)
    definitions = (await ui.get("/ui/definitions")).text
    assert "/ui/definitions/two_steps/1" in definitions
    one = await ui.get("/ui/definitions/two_steps/1")
    assert one.status_code == 200
    assert "taskReferenceName" in one.text
    graph = (await ui.get("/ui/definitions/two_steps/1/graph.json")).json()
    assert [n["id"] for n in graph["nodes"]] == ["__start", "a", "b", "__final"]
    assert (await ui.get("/ui/definitions/two_steps/9")).status_code == 404


async def test_a_runs_graph_is_the_definition_it_started_with(
    ui: httpx.AsyncClient, flows: cadenza.Runtime
) -> None:
    """Registering the same version again later does not redraw an older run's graph."""
    run_id = await flows.start("two_steps", {"n": 1})
    await flows.settle()
    changed = {
        **TWO_STEPS,
        "tasks": [
            *TWO_STEPS["tasks"],
            {"name": "ui_c", "taskReferenceName": "c", "type": "SIMPLE"},
        ],
    }
    await flows.register(changed)
    graph = (await ui.get(f"/ui/runs/{run_id}/graph.json")).json()
    assert [n["id"] for n in graph["nodes"]] == ["__start", "a", "b", "__final"]
    newer = await flows.start("two_steps", {"n": 1})
    await flows.settle()
    graph = (await ui.get(f"/ui/runs/{newer}/graph.json")).json()
    assert [n["id"] for n in graph["nodes"]] == ["__start", "a", "b", "c", "__final"]


async def test_an_inline_sub_workflows_graph_and_its_parent_link(
    ui: httpx.AsyncClient, flows: cadenza.Runtime
) -> None:
    """The child of an inline workflowDefinition (registered under no name) still draws,
    links back to its parent, and the parent's SUB_WORKFLOW node links to it."""
    inline = {
        "name": "inline_child",
        "version": 1,
        "tasks": [{"name": "ui_c", "taskReferenceName": "c1", "type": "SIMPLE"}],
    }
    await flows.register({
        "name": "parent", "version": 1,
        "tasks": [{"name": "sub", "taskReferenceName": "sub", "type": "SUB_WORKFLOW",
                   "subWorkflowParam": {"name": "inline_child", "workflowDefinition": inline}}],
    })  # fmt: skip
    parent = await flows.start("parent", {})
    await flows.settle()
    child = (await flows.get(parent)).tasks[0].sub_workflow_id
    assert child is not None
    graph = (await ui.get(f"/ui/runs/{child}/graph.json")).json()
    assert [n["id"] for n in graph["nodes"]] == ["__start", "c1", "__final"]
    assert f'id="parent-link">{parent}<' in (await ui.get(f"/ui/runs/{child}")).text
    parent_graph = (await ui.get(f"/ui/runs/{parent}/graph.json")).json()
    assert {n["id"]: n.get("child") for n in parent_graph["nodes"]}["sub"] == child


async def test_mounted_inside_a_service_every_link_keeps_the_services_prefix(
    flows: cadenza.Runtime,
) -> None:
    """`create_app(rt)` mounted at /ops in a service's own Starlette app: pages, links,
    static files and actions all live under /ops/ui/."""
    from starlette.applications import Starlette
    from starlette.routing import Mount

    from cadenza.http import create_app

    service = Starlette(routes=[Mount("/ops", app=create_app(flows))])
    run_id = await flows.start("two_steps", {"n": 1})
    await flows.settle()
    transport = httpx.ASGITransport(app=service)
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        listing = (await client.get("/ops/ui/")).text
        assert f'href="/ops/ui/runs/{run_id}"' in listing
        assert 'src="/ops/ui/static/vendor/htmx-2.0.11.min.js"' in listing
        assert (await client.get("/ops/ui/static/ui.css")).status_code == 200
        page = (await client.get(f"/ops/ui/runs/{run_id}")).text
        assert f'hx-post="/ops/ui/runs/{run_id}/actions/pause"' in page
        token = csrf_of(page)
        paused = await client.post(f"/ops/ui/runs/{run_id}/actions/pause", data={"csrf": token})
        assert paused.status_code == 303
        assert paused.headers["location"] == f"/ops/ui/runs/{run_id}"  # no script: back to the run
    assert (await flows.get(run_id)).status == "PAUSED"


async def test_a_dynamic_forks_graph_shows_the_tasks_it_forked(
    ui: httpx.AsyncClient, flows: cadenza.Runtime
) -> None:
    """Conductor's dynamic_fork_join_integration_test: dt1 plans two tasks; the graph draws them."""
    definition = json.loads(
        (CONDUCTOR_DEFS / "dynamic_fork_join_integration_test.json").read_text()
    )
    await flows.register(definition)

    async def plan(data: dict[str, Any]) -> dict[str, Any]:
        return {
            "dynamicTasks": [
                {"name": "integration_task_2", "taskReferenceName": "xdt1"},
                {"name": "integration_task_3", "taskReferenceName": "xdt2"},
            ],
            "dynamicTasksInput": {"xdt1": {}, "xdt2": {}},
        }

    flows.worker("integration_task_1", plan)
    run_id = await flows.start(definition["name"], {})
    await flows.settle()
    graph = (await ui.get(f"/ui/runs/{run_id}/graph.json")).json()
    edges = {(e["source"], e["target"]) for e in graph["edges"]}
    assert ("dynamicfanouttask", "xdt1") in edges
    assert ("xdt2", "dynamicfanouttask_join") in edges
    statuses = {n["id"]: n["status"] for n in graph["nodes"]}
    assert statuses["xdt1"] == "SCHEDULED"
    assert statuses["dynamicfanouttask_join"] == "IN_PROGRESS"


async def test_a_local_workers_traceback_is_shown_folded_and_escaped(
    ui: httpx.AsyncClient, flows: cadenza.Runtime
) -> None:
    async def broken(data: dict[str, Any]) -> dict[str, Any]:
        raise ValueError("bad <value>")

    flows.worker("ui_a", broken)
    run_id = await flows.start("two_steps", {"n": 1})
    await flows.settle()
    run = await flows.get(run_id)
    assert run.status == "FAILED"
    page = (await ui.get(f"/ui/runs/{run_id}")).text
    assert f'<details data-key="{run.tasks[0].id}:trace"><summary>traceback</summary>' in page
    assert "Traceback (most recent call last)" in page
    assert "ValueError: bad &lt;value&gt;" in page
    assert "bad <value>" not in page
