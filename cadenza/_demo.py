"""`cadenza demo`: an embedded order pipeline on a local SQLite journal.

Orders flow through five task types in three worker groups (`default`,
`payments`, `warehouse`); express orders carry priority 90, standard ones
10. The payment gateway fails now and then (retried with backoff) and
declines some cards for good (the order fails). Every order is started
with an idempotency key, so running the demo again after an interruption —
Ctrl-C or `kill -9` — recovers the unfinished orders from the journal,
starts only the orders never started, and says so. Ctrl-C closes the
runtime quietly (no traceback) and says how many orders are left.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from typing import Any

import anyio
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cadenza._errors import TerminalError
from cadenza.runtime import Runtime, WorkflowRun, WorkflowStatus

ORDER_PIPELINE: dict[str, Any] = {
    "name": "order_pipeline",
    "version": 1,
    "description": "validate, charge, reserve, ship, notify",
    "tasks": [
        {
            "name": "validate_order",
            "taskReferenceName": "validate",
            "inputParameters": {"order": "${workflow.input}"},
        },
        {
            "name": "charge_payment",
            "taskReferenceName": "charge",
            "inputParameters": {
                "amount": "${validate.output.total}",
                "card": "${workflow.input.card}",
            },
        },
        {
            "name": "reserve_stock",
            "taskReferenceName": "reserve",
            "inputParameters": {"items": "${workflow.input.items}"},
        },
        {
            "name": "ship_order",
            "taskReferenceName": "ship",
            "inputParameters": {
                "order_id": "${workflow.input.order_id}",
                "express": "${workflow.input.express}",
            },
        },
        {
            "name": "notify_customer",
            "taskReferenceName": "notify",
            "inputParameters": {
                "tracking": "${ship.output.tracking}",
                "charge": "${charge.output.charge_id}",
            },
        },
    ],
    "outputParameters": {
        "tracking": "${ship.output.tracking}",
        "charged": "${validate.output.total}",
    },
}

TASK_DEFS: list[dict[str, Any]] = [
    {"name": "validate_order", "retryCount": 0},
    {
        "name": "charge_payment",
        "retryCount": 4,
        "retryLogic": "EXPONENTIAL_BACKOFF",
        "retryDelaySeconds": 0.05,
    },
    {"name": "reserve_stock", "retryCount": 2, "retryLogic": "FIXED", "retryDelaySeconds": 0.05},
    {"name": "ship_order", "retryCount": 2},
    {"name": "notify_customer", "retryCount": 3, "retryDelaySeconds": 0.02},
]


WAVE = 30  # orders arriving together
WAVE_EVERY_S = 0.4  # ~75 orders/s: more than the payments group clears, so its queue builds


def _order(number: int, rng: random.Random) -> dict[str, Any]:
    items = [
        {"sku": f"SKU-{rng.randint(100, 999)}", "qty": rng.randint(1, 3)}
        for _ in range(rng.randint(1, 4))
    ]
    return {
        "order_id": f"order-{number:05d}",
        "express": rng.random() < 0.25,
        "card": "declined" if rng.random() < 0.03 else f"4242-{rng.randint(1000, 9999)}",
        "items": items,
    }


def _register_workers(rt: Runtime, rng: random.Random, stats: dict[str, int]) -> None:
    async def work(low_ms: float, high_ms: float) -> None:
        await anyio.sleep(rng.uniform(low_ms, high_ms) / 1000)

    @rt.worker("validate_order", concurrency=16)
    async def validate(data: dict[str, Any]) -> dict[str, Any]:
        await work(1, 5)
        order = data["order"]
        return {"total": sum(10 * item["qty"] for item in order["items"]), "valid": True}

    @rt.worker("charge_payment", group="payments", concurrency=2)
    async def charge(data: dict[str, Any]) -> dict[str, Any]:
        await work(15, 35)
        if data["card"] == "declined":
            raise TerminalError("card declined by the issuer")
        if rng.random() < 0.15:
            stats["gateway_errors"] += 1
            raise ConnectionError("payment gateway timed out")
        return {"charge_id": f"ch_{rng.getrandbits(40):010x}"}

    @rt.worker("reserve_stock", group="warehouse", concurrency=8)
    async def reserve(data: dict[str, Any]) -> dict[str, Any]:
        await work(2, 10)
        return {"reserved": len(data["items"])}

    @rt.worker("ship_order", group="warehouse", concurrency=4)
    async def ship(data: dict[str, Any]) -> dict[str, Any]:
        await work(5, 15)
        return {"tracking": f"TRK-{data['order_id']}"}

    @rt.worker("notify_customer", concurrency=16)
    async def notify(data: dict[str, Any]) -> None:
        await work(1, 3)


async def run_demo(
    db: str, orders: int, seed: int, console: Console, ui_port: int | None = None
) -> int:
    """Run (or resume) the demo; returns a process exit code.

    With `ui_port`, the dashboard is served on 127.0.0.1 at that port while
    the orders flow (its address printed first), and stays up afterwards
    until Ctrl-C.
    """
    if ui_port is None:
        return await _run_demo(db, orders, seed, console, None)
    try:
        from cadenza.http import serving
    except ImportError as exc:
        console.print(
            f"cadenza demo --ui needs the server extra: pip install 'cadenza[server]' ({exc})"
        )
        return 2
    return await _run_demo(db, orders, seed, console, lambda rt: serving(rt, port=ui_port))


async def _run_demo(
    db: str,
    orders: int,
    seed: int,
    console: Console,
    dashboard: Callable[[Runtime], AbstractAsyncContextManager[str]] | None,
) -> int:
    resumed_file = await anyio.Path(db).exists()
    counted = {"finished": 0}
    try:
        await _run_orders(
            db, orders, random.Random(seed), console, resumed_file, counted, dashboard
        )
    except anyio.get_cancelled_exc_class():  # Ctrl-C: the runtime closed quietly; say what is left
        left = orders - counted["finished"]
        if left:
            console.print(
                f"[bold yellow]interrupted:[/] {left} of {orders} orders unfinished, kept in {db}; "
                "run the same command again to resume them"
            )
        raise
    return 0


async def _run_orders(
    db: str,
    orders: int,
    rng: random.Random,
    console: Console,
    resumed_file: bool,
    counted: dict[str, int],
    dashboard: Callable[[Runtime], AbstractAsyncContextManager[str]] | None,
) -> None:
    """Place (or resume) every order, wait for all, and sum up; `counted["finished"]`
    follows them. With a dashboard, it stays up afterwards until cancelled."""
    stats = {"gateway_errors": 0}
    started_at = time.monotonic()
    async with Runtime(db, seed=None) as rt, AsyncExitStack() as stack:
        if dashboard is not None:
            url = await stack.enter_async_context(dashboard(rt))
            console.print(
                f"[bold green]Dashboard:[/] {url}  (the orders, their graphs and retries, live)"
            )
        if rt._engine.recovered:
            console.print(
                f"[bold yellow]Resuming:[/] recovered {rt._engine.recovered} unfinished orders from {db}"
            )
        elif resumed_file:
            console.print(f"Reusing {db}: already finished orders are not started again")
        else:
            console.print(f"Journal: {db} (SQLite, WAL, synchronous=FULL)")
        await rt.register(ORDER_PIPELINE)
        for task_def in TASK_DEFS:
            await rt.register_task(task_def)
        _register_workers(rt, rng, stats)
        known = await rt.runs(name="order_pipeline", limit=orders)
        if known:
            done = sum(1 for run in known if run.status.terminal)
            console.print(
                f"{len(known)} orders already in the journal ({done} finished, {len(known) - done} resumed); "
                f"starting the other {orders - len(known)}: keys make the restarts no-ops"
            )

        run_ids: list[str] = [""] * orders
        finished = 0
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            arriving = progress.add_task("orders arrived", total=orders)
            finishing = progress.add_task("orders finished", total=orders)

            async def place(number: int, order: dict[str, Any]) -> None:
                nonlocal finished
                priority = 90 if order["express"] else 10
                run_id = await rt.start(
                    "order_pipeline",
                    order,
                    key=order["order_id"],
                    priority=priority,
                    correlation_id=order["order_id"],
                )
                run_ids[number] = run_id
                progress.advance(arriving)
                await rt.wait(run_id)
                finished += 1
                counted["finished"] = finished
                progress.update(finishing, completed=finished)

            async with anyio.create_task_group() as tg:
                for wave in range(0, orders, WAVE):
                    for number in range(wave, min(orders, wave + WAVE)):
                        tg.start_soon(place, number, _order(number, rng))
                    await anyio.sleep(
                        WAVE_EVERY_S
                    )  # traffic arrives in waves, faster than payments clear
        runs = [await rt.get(run_id) for run_id in run_ids]
        _summary(console, runs, stats, time.monotonic() - started_at)
        if dashboard is not None:
            console.print(f"The dashboard stays up at {url} — Ctrl-C to stop")
            await anyio.sleep_forever()


def _summary(
    console: Console, runs: list[WorkflowRun], stats: dict[str, int], elapsed_s: float
) -> None:
    by_status: dict[str, int] = {}
    for run in runs:
        by_status[run.status.value] = by_status.get(run.status.value, 0) + 1
    retries = sum(1 for run in runs for task in run.tasks if task.attempt > 0)
    table = Table(title="order pipeline summary")
    table.add_column("what")
    table.add_column("value", justify="right")
    for status, count in sorted(by_status.items()):
        table.add_row(f"orders {status}", str(count))
    table.add_row("retried tasks (gateway errors)", str(retries))
    for label, priority in (("express, priority 90", 90), ("standard, priority 10", 10)):
        latencies = [
            (run.ended_at or run.updated_at) - run.created_at
            for run in runs
            if run.priority == priority and run.status is WorkflowStatus.COMPLETED
        ]
        if latencies:
            table.add_row(
                f"{label} median start-to-done", f"{statistics.median(latencies) * 1000:.0f} ms"
            )
    failed = [run for run in runs if run.status is WorkflowStatus.FAILED]
    if failed:
        table.add_row(f"failed: {failed[0].correlation_id}", failed[0].reason or "")
    table.add_row("wall time this session", f"{elapsed_s:.1f} s")
    console.print(table)
