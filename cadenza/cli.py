"""The `cadenza` command: demo, serve, simulate, bench, inspect or recover a journal, operate on runs.

The CLI is an application, so it (and only it) configures logging:
key-value lines on a terminal, JSON with `--log-json`. Every bad argument
(an unknown status, `--limit -1`, `--log-level verbose`, an unknown run id,
a journal a live process owns) is one line on stderr and exit code 2, never
a traceback; an unexpected failure is one line and exit code 1 (its
traceback with `--log-level debug`).
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import anyio
from rich.console import Console

from cadenza._cli import _args, _bench, _inspect, _operate, _recover, _schedules
from cadenza._cli._args import Parser, UsageError
from cadenza._cli._logs import configure as _configure_logging
from cadenza._errors import CadenzaError


def _version() -> str:
    try:
        return f"cadenza {version('cadenza')}"
    except PackageNotFoundError:  # a source tree without its metadata
        return "cadenza (version unknown: not installed)"


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


def _add_inspection(commands: Any) -> None:
    runs = commands.add_parser("runs", help="list the runs in a journal, newest first")
    runs.add_argument("--db", required=True, help="the SQLite journal (read, never written)")
    runs.add_argument("--status", type=_args.status, help=f"one of {_args.STATUSES}")
    runs.add_argument("--name", help="the workflow's name")
    runs.add_argument("--correlation-id", help="the runs' correlation id")
    runs.add_argument(
        "--since", type=_args.since, help="started since: 15m, 2h, 7d, or an ISO 8601 time"
    )
    runs.add_argument("--limit", type=_args.limit, default=50, help="at most (default: 50)")
    runs.add_argument("--json", action="store_true", help="print the runs as a JSON array")

    schedules = commands.add_parser("schedules", help="list the schedules in a journal")
    schedules.add_argument("--db", required=True, help="the SQLite journal (read, never written)")
    schedules.add_argument("--json", action="store_true", help="print them as a JSON array")

    show = commands.add_parser("show", help="show one run and its tasks")
    show.add_argument("run_id", help="a run id, or the start of one that names a single run")
    show.add_argument("--db", required=True, help="the SQLite journal (read, never written)")
    show.add_argument("--json", action="store_true", help="print the run as JSON")

    recover = commands.add_parser(
        "recover", help="rebuild a damaged run table from the records (no live owner)"
    )
    recover.add_argument("--db", required=True, help="the SQLite journal (no live owner)")
    recover.add_argument("--json", action="store_true", help="print the report as JSON")


_CONTROL_HELP = {
    "pause": "pause a running run",
    "resume": "resume a paused run",
    "terminate": "end a run now (TERMINATED)",
    "retry": "retry the failed task(s) of a FAILED or TIMED_OUT run",
    "restart": "run an ended run again from the start, same id",
    "rerun": "run an ended run again from one task",
    "skip": "skip a task of a running run before it is scheduled",
    "signal": "complete a WAIT or HUMAN task from outside",
}


def _add_controls(commands: Any) -> None:
    for op in _operate.OPERATIONS:
        control = commands.add_parser(op, help=_CONTROL_HELP[op])
        control.add_argument("run_id", help="the run's id")
        if op in ("skip", "signal"):
            control.add_argument("ref", help="the task's reference name")
        target = control.add_mutually_exclusive_group(required=True)
        target.add_argument("--server", help="the URL `cadenza serve` answers on")
        target.add_argument("--db", help="a journal no live process owns")
        control.add_argument(
            "--token", default=os.environ.get("CADENZA_TOKEN"), help="the server's token"
        )
        if op == "terminate":
            control.add_argument("--reason", default="", help="why (kept on the run)")
        if op == "retry":
            control.add_argument(
                "--resume-subworkflow-tasks", action="store_true", help="retry the failed child"
            )
        if op == "restart":
            control.add_argument("--latest", action="store_true", help="the newest definition")
        if op == "rerun":
            control.add_argument("--from", dest="ref", required=True, help="the task ref")
            control.add_argument("--input", type=_args.json_object, help="new workflow input")
        if op == "signal":
            control.add_argument(
                "--output", type=_args.json_object, default={}, help="the task's output (JSON)"
            )


def _add_others(commands: Any) -> None:
    demo = commands.add_parser("demo", help="run (or resume) an embedded order pipeline")
    demo.add_argument("--db", default="cadenza-demo.db", help="the journal (default: %(default)s)")
    demo.add_argument("--orders", type=int, default=600, help="how many (default: %(default)s)")
    demo.add_argument("--seed", type=int, default=7, help="seed for the orders and failures")
    demo.add_argument("--ui", action="store_true", help="serve the dashboard while the orders flow")
    demo.add_argument("--port", type=int, default=8080, help="the dashboard's port (with --ui)")

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

    _bench.add_parser(commands)

    serve = commands.add_parser("serve", help="serve Conductor's REST API on a journal")
    serve.add_argument("--db", required=True, help="the journal (a SQLite file)")
    serve.add_argument("--host", default="127.0.0.1", help="bind address (default: %(default)s)")
    serve.add_argument("--port", type=int, default=8080, help="port (default: %(default)s)")
    serve.add_argument("--token", help="require Authorization: Bearer TOKEN on every request")
    serve.add_argument("--setup", help="MODULE:FUNCTION, async def setup(rt), run after recovery")


def parser() -> Parser:
    """The command line's parser (its errors raise `UsageError`)."""
    top = Parser(prog="cadenza", description=__doc__.splitlines()[0])
    top.add_argument("--version", action="version", version=_version())
    top.add_argument("--log-json", action="store_true", help="log JSON lines (for production)")
    top.add_argument(
        "--log-level",
        default="warning",
        type=str.lower,
        choices=["debug", "info", "warning", "error", "critical"],
        help="cadenza's log level: debug, info, warning (default), error, critical",
    )
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_others(commands)
    _add_inspection(commands)
    _add_controls(commands)
    return top


def _control(args: argparse.Namespace) -> int:
    control = _operate.Control(
        op=args.command,
        run_id=args.run_id,
        reason=getattr(args, "reason", ""),
        latest=getattr(args, "latest", False),
        resume_subworkflow_tasks=getattr(args, "resume_subworkflow_tasks", False),
        ref=getattr(args, "ref", None),
        input=getattr(args, "input", None),
        output=getattr(args, "output", None) or {},
    )
    if args.server is not None:

        async def remote() -> str:
            async with _operate.client(args.server, args.token) as client:
                return await _operate.on_server(client, control)

        status = anyio.run(remote)
    else:
        status = anyio.run(_operate.on_db, args.db, control)
    print(f"{args.command} {args.run_id}: {status}")
    return 0


def _run(args: argparse.Namespace, console: Console) -> int:
    if args.command == "demo":
        from cadenza._demo import run_demo

        ui_port = args.port if args.ui else None
        return anyio.run(run_demo, args.db, args.orders, args.seed, console, ui_port)
    if args.command == "runs":
        return anyio.run(
            lambda: _inspect.runs(
                args.db, status=args.status, name=args.name, correlation_id=args.correlation_id,
                since=args.since, limit=args.limit, json_out=args.json, console=console,
            )
        )  # fmt: skip
    if args.command == "schedules":
        return anyio.run(lambda: _schedules.schedules(args.db, json_out=args.json, console=console))
    if args.command == "show":
        return anyio.run(_inspect.show, args.db, args.run_id, args.json, console)
    if args.command == "recover":
        return anyio.run(_recover.recover, args.db, args.json, console)
    if args.command == "serve":
        return _serve(args)
    if args.command == "simulate":
        from cadenza.testing._simulation.cli import run as simulate

        return simulate(args, console)
    if args.command == "bench":
        return _bench.run(args)
    return _control(args)


def _fail(message: str, prefix: str = "cadenza: ") -> None:
    """One line on stderr, whatever line breaks the message held."""
    print(prefix + " ".join(message.split()), file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Run the command line `argv` (default: the process's); returns the exit code."""
    try:
        args = parser().parse_args(argv)
    except UsageError as exc:
        _fail(str(exc), prefix="")
        return 2
    except SystemExit as exc:  # --help, --version
        return exc.code if isinstance(exc.code, int) else 0
    # The demo's payment gateway fails on purpose (its summary counts the retries):
    # shown from --log-level info down.
    demo_quiet = args.command == "demo" and args.log_level not in ("debug", "info")
    _configure_logging(args.log_json, args.log_level, ["task.worker_failed"] if demo_quiet else [])
    try:
        return _run(args, Console())
    except CadenzaError as exc:
        _fail(f"{type(exc).__name__}: {exc}")
        return 2
    except _operate.Refused as exc:
        _fail(str(exc))
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted: run the same command again to resume", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.log_level == "debug":
            traceback.print_exc()
        _fail(f"unexpected {type(exc).__name__}: {exc} (--log-level debug shows the traceback)")
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
