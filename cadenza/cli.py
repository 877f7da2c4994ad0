"""The `cadenza` command: demo, and read-only inspection of a journal.

The CLI is an application, so it (and only it) configures logging:
key-value lines on a terminal, JSON with `--log-json`.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

import anyio
import structlog
from rich.console import Console
from rich.table import Table

from cadenza._errors import CadenzaError, NotFound
from cadenza.persistence import SqliteJournal
from cadenza.runtime._inspect import read_run, read_runs


def _configure_logging(json_logs: bool, level: str) -> None:
    """cadenza's events at `level` and above to stderr, rendered by structlog.

    One handler on the `cadenza` logger (replaced, not added, when `main` runs
    again in one process); the root logger is left alone.
    """
    renderer: Any = (
        structlog.processors.JSONRenderer() if json_logs else structlog.dev.ConsoleRenderer()
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name("cadenza.cli")
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.TimeStamper(fmt="iso"),
                renderer,
            ],
            foreign_pre_chain=[structlog.stdlib.add_log_level, structlog.stdlib.add_logger_name],
        )
    )
    logger = logging.getLogger("cadenza")
    for old in [h for h in logger.handlers if h.get_name() == "cadenza.cli"]:
        logger.removeHandler(old)
    logger.addHandler(handler)
    logger.setLevel(level.upper())


def _existing(db: str) -> str:
    if db != ":memory:" and not Path(db).is_file():
        raise NotFound("journal file", db)
    return db


async def _runs(db: str, status: str | None, name: str | None, limit: int, console: Console) -> int:
    async with SqliteJournal(_existing(db), readonly=True) as journal:
        runs = await read_runs(journal, status=status, name=name, limit=limit)
    header = ("id", "workflow", "status", "priority", "correlation", "tasks")
    rows = [
        (run.id, f"{run.name} v{run.version}", run.status.value, str(run.priority),
         run.correlation_id or "", str(len(run.tasks)))
        for run in runs
    ]  # fmt: skip
    if not console.is_terminal:  # piped: whole values, one tab-separated line per run
        for row in (header, *rows):
            console.print("\t".join(row), markup=False, highlight=False, soft_wrap=True)
        return 0
    table = Table(title=f"runs in {db}")
    for column in header:
        table.add_column(column, no_wrap=column == "id")
    for row in rows:
        table.add_row(*row)
    console.print(table)
    return 0


async def _show(db: str, run_id: str, as_json: bool, console: Console) -> int:
    async with SqliteJournal(_existing(db), readonly=True) as journal:
        run = await read_run(journal, run_id)
    if as_json:
        from dataclasses import asdict

        print(json.dumps(asdict(run), indent=2, default=str))
        return 0
    console.print(f"[bold]{run.id}[/]  {run.name} v{run.version}  [bold]{run.status.value}[/]")
    if run.reason:
        console.print(f"reason: {run.reason}")
    console.print(f"input: {json.dumps(run.input)}")
    console.print(f"output: {json.dumps(run.output)}")
    table = Table()
    for column in ("task id", "ref", "type", "status", "attempt", "group", "reason"):
        table.add_column(column)
    for task in run.tasks:
        table.add_row(
            task.id,
            task.ref,
            task.type,
            task.status.value,
            str(task.attempt),
            task.group,
            task.reason or "",
        )
    console.print(table)
    return 0


def _serve(args: argparse.Namespace) -> int:
    try:
        from cadenza.http import serve
    except ImportError as exc:
        print(f"cadenza serve needs the server extra: pip install 'cadenza[server]' ({exc})")
        return 2
    announce = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731
    anyio.run(
        lambda: serve(
            args.db, host=args.host, port=args.port, token=args.token, setup=args.setup,
            log_level=args.log_level, announce=announce,
        )
    )  # fmt: skip
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cadenza", description=__doc__)
    parser.add_argument("--log-json", action="store_true", help="log JSON lines (for production)")
    parser.add_argument(
        "--log-level",
        default="warning",
        type=str.lower,
        choices=["debug", "info", "warning", "error", "critical"],
        help="cadenza's log level: debug, info, warning (default), error, critical",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="run (or resume) an embedded order pipeline")
    demo.add_argument(
        "--db", default="cadenza-demo.db", help="the SQLite journal (default: %(default)s)"
    )
    demo.add_argument(
        "--orders", type=int, default=600, help="how many orders (default: %(default)s)"
    )
    demo.add_argument("--seed", type=int, default=7, help="seed for the orders and failures")
    demo.add_argument("--ui", action="store_true", help="serve the dashboard while the orders flow")
    demo.add_argument("--port", type=int, default=8080, help="the dashboard's port (with --ui)")

    runs = commands.add_parser("runs", help="list the runs in a journal")
    runs.add_argument("--db", required=True)
    runs.add_argument("--status")
    runs.add_argument("--name")
    runs.add_argument("--limit", type=int, default=50)

    show = commands.add_parser("show", help="show one run and its tasks")
    show.add_argument("run_id")
    show.add_argument("--db", required=True)
    show.add_argument("--json", action="store_true", help="print the run as JSON")

    sim = commands.add_parser("simulate", help="deterministic simulation of the runtime")
    sim.add_argument("--workload", default="conductor", help="the load (default: %(default)s)")
    sim.add_argument("--seeds", type=int, default=20, help="how many seeds (default: %(default)s)")
    sim.add_argument("--first-seed", type=int, default=0)
    sim.add_argument("--hours", type=float, default=0.002, help="simulated hours per seed")
    sim.add_argument("--rate", type=float, default=90.0, help="workflows started per second")
    sim.add_argument("--delay-ms", type=float, default=0.0, help="max message delay (a fault)")
    sim.add_argument("--replay", type=int, help="rerun one seed and print its trace")
    sim.add_argument("--trace-lines", type=int, default=40)
    sim.add_argument("--crashes", type=int, default=2, help="most crashes per seed")
    sim.add_argument("--storm", type=int, default=2000, help="WAIT runs of the wait_storm load")
    sim.add_argument("--jobs", type=int, default=1, help="processes sharing the seeds")

    serve = commands.add_parser("serve", help="serve Conductor's REST API on a journal")
    serve.add_argument("--db", required=True, help="the journal (a SQLite file)")
    serve.add_argument("--host", default="127.0.0.1", help="bind address (default: %(default)s)")
    serve.add_argument("--port", type=int, default=8080, help="port (default: %(default)s)")
    serve.add_argument("--token", help="require Authorization: Bearer TOKEN on every request")
    serve.add_argument("--setup", help="MODULE:FUNCTION, async def setup(rt), run after recovery")

    args = parser.parse_args(argv)
    _configure_logging(args.log_json, args.log_level)
    console = Console()
    try:
        if args.command == "demo":
            from cadenza._demo import run_demo

            ui_port = args.port if args.ui else None
            return anyio.run(run_demo, args.db, args.orders, args.seed, console, ui_port)
        if args.command == "runs":
            return anyio.run(_runs, args.db, args.status, args.name, args.limit, console)
        if args.command == "show":
            return anyio.run(_show, args.db, args.run_id, args.json, console)
        if args.command == "serve":
            return _serve(args)
        if args.command == "simulate":
            from cadenza.testing._simulation.cli import run as simulate

            return simulate(args, console)
    except CadenzaError as exc:
        console.print(f"[bold red]{type(exc).__name__}:[/] {exc}")
        return 2
    except KeyboardInterrupt:
        console.print("[yellow]interrupted: run the same command again to resume[/]")
        return 130
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
