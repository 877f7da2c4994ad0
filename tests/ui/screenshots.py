"""Screenshots of each dashboard page for the docs: `python -m tests.ui.screenshots [OUT_DIR]`.

Serves the dashboard on the demo's order pipeline (its workers, groups,
priorities and flaky payment gateway) plus a fulfilment workflow with a
SWITCH, a FORK/JOIN and a SUB_WORKFLOW, lets orders flow, and saves one
PNG per page (default `docs/images/`) with Playwright on Debian's chromium.
"""

from __future__ import annotations

import random
import sys
import tempfile
from pathlib import Path
from typing import Any

import anyio
from playwright.sync_api import Page, sync_playwright

import cadenza
from cadenza._demo import ORDER_PIPELINE, TASK_DEFS, _order, _register_workers
from tests.ui._served import BROWSER_ARGS, CHROMIUM, Served, serve

FULFIL: dict[str, Any] = {
    "name": "fulfilment",
    "version": 1,
    "tasks": [
        {"name": "pick", "taskReferenceName": "pick", "type": "SIMPLE"},
        {
            "name": "route", "taskReferenceName": "route", "type": "SWITCH", "evaluatorType": "value-param",
            "expression": "kind", "inputParameters": {"kind": "${workflow.input.kind}"},
            "decisionCases": {
                "express": [{"name": "courier", "taskReferenceName": "courier", "type": "SIMPLE"}],
                "bulk": [{"name": "freight", "taskReferenceName": "freight", "type": "SIMPLE"}],
            },
            "defaultCase": [{"name": "post", "taskReferenceName": "post", "type": "SIMPLE"}],
        },
        {
            "name": "fork", "taskReferenceName": "fork", "type": "FORK_JOIN",
            "forkTasks": [
                [{"name": "invoice", "taskReferenceName": "invoice", "type": "SIMPLE"}],
                [{"name": "order", "taskReferenceName": "order_flow", "type": "SUB_WORKFLOW",
                  "subWorkflowParam": {"name": "order_pipeline", "version": 1},
                  "inputParameters": {"order_id": "${workflow.input.order_id}", "items": [], "card": "4242-0000"}}],
            ],
        },
        {"name": "join", "taskReferenceName": "join", "type": "JOIN", "joinOn": ["invoice", "order_flow"]},
        {"name": "approve", "taskReferenceName": "approve", "type": "WAIT"},
    ],
}  # fmt: skip


async def _setup(rt: cadenza.Runtime) -> None:
    await rt.register(ORDER_PIPELINE)
    for task_def in TASK_DEFS:
        await rt.register_task(task_def)
    await rt.register(FULFIL)
    _register_workers(rt, random.Random(7), {"gateway_errors": 0})
    for name in ("pick", "courier", "freight", "post", "invoice"):
        rt.worker(name, _quick)


async def _quick(data: dict[str, Any]) -> dict[str, Any]:
    await anyio.sleep(0.05)
    return {"ok": True}


async def _orders(rt: cadenza.Runtime, count: int) -> list[str]:
    rng = random.Random(11)
    ids = []
    for n in range(count):
        order = _order(n, rng)
        ids.append(
            await rt.start(
                "order_pipeline",
                order,
                priority=90 if order["express"] else 10,
                correlation_id=order["order_id"],
            )
        )
    return ids


def shoot(page: Page, url: str, out: Path, name: str, *, wait: str | None = None) -> None:
    page.goto(url)
    if wait:
        page.wait_for_selector(wait)
    page.wait_for_timeout(400)  # the graph's layout animation settles
    page.screenshot(path=str(out / f"ui-{name}.png"), full_page=True)
    print(out / f"ui-{name}.png")


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory() as tmp,
        serve(str(Path(tmp) / "j.db"), setup=_setup) as served,
    ):
        run: Served = served
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
            page = browser.new_page(viewport={"width": 1360, "height": 900})
            ids = run.call(_orders, run.rt, 240)
            # external workers (Conductor's poll model) show when they last polled
            run.call(run.rt.poll, "refund_payment", group="payments", worker_id="refund-svc-7")
            run.call(run.rt.poll, "fraud_check", worker_id="fraud-svc-1")
            shoot(page, run.url + "groups", out, "groups")
            fulfil = run.call(
                run.rt.start, "fulfilment", {"kind": "express", "order_id": "order-x"}
            )
            for run_id in ids:
                run.call(run.rt.wait, run_id, 60)
            shoot(page, run.url, out, "runs")
            runs = [run.call(run.rt.get, run_id) for run_id in ids]
            retried = next(
                r for r in runs if str(r.status) == "COMPLETED" and any(t.attempt for t in r.tasks)
            )
            shoot(
                page, run.url + f"runs/{retried.id}", out, "run", wait="#graph[data-ready='true']"
            )
            shoot(
                page, run.url + f"runs/{fulfil}", out, "run-fork", wait="#graph[data-ready='true']"
            )
            page.on("dialog", lambda dialog: dialog.accept())
            page.click("button[data-action='resume']")  # refused: the run is not paused
            page.wait_for_selector("#flash .flash.error")
            page.screenshot(
                path=str(out / "ui-refused.png"),
                clip={"x": 0, "y": 0, "width": 1360, "height": 420},
            )
            print(out / "ui-refused.png")
            shoot(page, run.url + "definitions", out, "definitions")
            shoot(
                page,
                run.url + "definitions/fulfilment/1",
                out,
                "definition",
                wait="#graph[data-ready='true']",
            )
            browser.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/images"))
