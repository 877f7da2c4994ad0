"""Journal throughput against the raw SQLite ceiling on the same file system.

Prints one JSON object:

- `journal`: for durability "full" and "normal", appends/s with N concurrent
  appenders (each appending to its own stream, one record after another),
  commits/s and the average batch (records per commit);
- `raw_sqlite`: stdlib sqlite3 in WAL mode at the same synchronous levels,
  `executemany` of 1,000-row batches with a commit per batch (rows/s), and
  one row per commit (commits/s: the disk's commit ceiling).

Usage: python simulations/bench_journal.py [--dir DIR] [--appenders 64] [--per-appender 200]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cadenza.persistence import Append, SqliteJournal, StreamInfo
from simulations._baselines import sqlite_inserts

EVENT = {"type": "task_completed", "ref": "charge_card", "attempt": 1, "output": {"n": 42}}


async def bench_journal(
    directory: str, durability: str, appenders: int, per_appender: int
) -> dict[str, Any]:
    path = os.path.join(directory, f"journal-{durability}.db")
    async with SqliteJournal(path, durability=durability) as journal:

        async def appender(i: int) -> None:
            sid = f"run-{i}"
            for n in range(per_appender):
                row = StreamInfo(sid, "bench", 1, "RUNNING", False, 0.0, float(n))
                await journal.append(Append(row, [EVENT]))

        started = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for i in range(appenders):
                tg.start_soon(appender, i)
        elapsed = time.perf_counter() - started
        stats = journal.stats
    return {
        "durability": durability,
        "appenders": appenders,
        "appends": stats.records,
        "seconds": round(elapsed, 3),
        "appends_per_s": round(stats.records / elapsed),
        "commits": stats.commits,
        "commits_per_s": round(stats.commits / elapsed),
        "avg_batch": round(stats.records / stats.commits, 1),
        "largest_batch": stats.largest_batch,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default=None, help="where to put the files (default: a tmp dir)")
    parser.add_argument("--appenders", type=int, default=64)
    parser.add_argument("--per-appender", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as directory:
        journal = [
            anyio.run(bench_journal, directory, durability, args.appenders, args.per_appender)
            for durability in ("full", "normal")
        ]
        raw = [
            sqlite_inserts(directory, level, batch=batch, batches=batches)
            for level in ("FULL", "NORMAL")
            for batch, batches in ((1000, 50), (1, 500))
        ]
        report = {
            "dir": directory,
            "platform": platform.platform(),
            "sqlite": sqlite3.sqlite_version,
            "journal": journal,
            "raw_sqlite": raw,
        }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
