"""Issue 17's throughput figures in one run, beside the ceilings measured in that run.

On one private PostgreSQL server (`tests._postgres`), for each process count
in `--procs` (interleaved, each on a fresh database):

- cadenza: `n` processes of `Runtime(URL, lease_s=...)` (`bench_pg_processes`);
- DBOS Transact: `n` processes on the same server (`bench_dbos`; needs
  `pip install dbos`, which is not a cadenza dependency);

then cadenza on a SQLite file in one process (`durability="full"`). Each
three-step workflow's steps are async functions that add one. Beside them:

- `pg_commits_per_s`: the server's commit ceiling: `--ceiling-connections`
  asyncpg connections each committing one-row INSERTs in a loop for
  `--ceiling-s` (`synchronous_commit = on`, as both engines use);
- `sqlite_*`: the SQLite ceilings of `cadenza.bench._ceilings`.

Per-process cost: `client_cpu_ms_per_run` is the engine processes' own CPU
per workflow; `server_cpu_ms_per_run` the PostgreSQL server's (the
postmaster's reaped children: the backends exit with their connections).
On a 2-core machine the sum bounds throughput at about 2000 /
(client + server) workflows/s, whatever the number of processes.

    .venv/bin/python -m benchmarks.bench_pg_figures --runs 600 --procs 1 2 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import bench_dbos, bench_pg_processes
from cadenza.bench._ceilings import sqlite_ceilings
from tests._postgres import PostgresServer

TICKS = os.sysconf("SC_CLK_TCK")


def server_cpu_s(server: PostgresServer) -> float:
    """The server's CPU seconds so far: the postmaster's own and its reaped children's."""
    pid = int((server.data / "postmaster.pid").read_text().split()[0])
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime, cutime, cstime = (int(fields[i]) for i in (11, 12, 13, 14))
    return (utime + stime + cutime + cstime) / TICKS


async def pg_commits_per_s(url: str, connections: int, seconds: float) -> float:
    """One-row INSERT commits/s from `connections` connections for `seconds`."""
    admin = await asyncpg.connect(url)
    await admin.execute("CREATE TABLE IF NOT EXISTS ceiling (n bigint, body bytea)")
    await admin.close()
    count = 0
    stop = time.perf_counter() + seconds

    async def writer() -> None:
        nonlocal count
        conn = await asyncpg.connect(url)
        try:
            while time.perf_counter() < stop:
                await conn.execute("INSERT INTO ceiling VALUES ($1, $2)", count, b"x" * 64)
                count += 1
        finally:
            await conn.close()

    began = time.perf_counter()
    await asyncio.gather(*(writer() for _ in range(connections)))
    return count / (time.perf_counter() - began)


def measured(server: PostgresServer, processes: Any, url: str, n: int, args: Any) -> dict[str, Any]:
    """`processes(url, n, args)`'s figures, with the server's CPU per workflow added."""
    before = server_cpu_s(server)
    figures: dict[str, Any] = asyncio.run(processes(url, n, args))
    time.sleep(0.5)  # the backends of the finished processes exit and are reaped
    server_ms = 1000 * (server_cpu_s(server) - before) / figures["runs"]
    figures["server_cpu_ms_per_run"] = round(server_ms, 2)
    figures["total_cpu_ms_per_run"] = round(server_ms + figures["client_cpu_ms_per_run"], 2)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=600)
    parser.add_argument("--procs", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--inflight", type=int, default=200)
    parser.add_argument("--lease", type=float, default=3.0)
    parser.add_argument("--ceiling-connections", type=int, default=16)
    parser.add_argument("--ceiling-s", type=float, default=3.0)
    parser.add_argument("--no-dbos", action="store_true", help="skip DBOS (not installed)")
    args = parser.parse_args()
    args.mode, args.pollers = "three", 0  # what bench_pg_processes' children read
    server = PostgresServer()
    server.start()
    results: dict[str, Any] = {
        "benchmark": "pg_figures", "cpus": os.cpu_count(), "python": platform.python_version(),
        "runs": args.runs, "inflight_per_process": args.inflight, "lease_s": args.lease,
        "cadenza_postgresql": [], "dbos_postgresql": [],
    }  # fmt: skip
    try:
        server.sql("CREATE DATABASE ceiling TEMPLATE template0")
        results["pg_commits_per_s"] = round(
            asyncio.run(
                pg_commits_per_s(server.url("ceiling"), args.ceiling_connections, args.ceiling_s)
            )
        )
        for i, n in enumerate(args.procs):
            server.sql(f"CREATE DATABASE cadenza_{i} TEMPLATE template0")
            url = server.url(f"cadenza_{i}")
            results["cadenza_postgresql"].append(
                measured(server, bench_pg_processes.processes, url, n, args)
            )
            if not args.no_dbos:
                server.sql(f"CREATE DATABASE dbos_{i} TEMPLATE template0")
                dbos_url = server.url(f"dbos_{i}")
                results["dbos_postgresql"].append(
                    measured(server, bench_dbos.processes, dbos_url, n, args)
                )
    finally:
        server.stop()
    with tempfile.TemporaryDirectory() as folder:

        async def go() -> None:
            return None

        seconds, cpu = anyio.run(
            bench_pg_processes.serve, str(Path(folder) / "bench.db"), args.runs, args.inflight,
            "three", 0, args.lease, go,
        )  # fmt: skip
        results["cadenza_sqlite"] = {
            "processes": 1, "runs": args.runs, "seconds": round(seconds, 3),
            "per_s": round(args.runs / seconds, 1),
            "client_cpu_ms_per_run": round(1000 * cpu / args.runs, 2),
        }  # fmt: skip
        results["sqlite_ceilings"] = sqlite_ceilings(folder, "full", 1.0)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
