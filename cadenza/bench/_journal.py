"""`cadenza bench journal`: the SQLite journal's group commit beside raw sqlite3.

`--appenders` concurrent appenders (default 64), each appending
`--per-appender` one-event records to its own stream, one after another
(each waits for its record to be durable), on a fresh journal at each
durability asked for. Figures per durability: records/s, commits/s and the
average batch (records per commit); beside them, measured in the same run
on the same file system, raw sqlite3 `executemany` rows/s (1,000-row
batches) and single-row commits/s at the same `synchronous` level, and the
journal's records/s as a percentage of the raw rows/s.

Beside them, `without_sqlite_records_per_s`: the same appenders through the
journal's encoding and group commit, with a commit that writes nothing (no
thread hop, no SQLite) — the bound the loop side alone sets (each appender
waits for its record, so a round's encoding, waking and committing run one
after another, never side by side).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from typing import Any

import anyio

from cadenza.bench import _ceilings
from cadenza.bench._sizes import Size
from cadenza.persistence import Append, SqliteJournal, StreamInfo
from cadenza.persistence._codec import EncodedAppend, encode_append
from cadenza.persistence._group import Ticket, stream_committer

NAME = "journal"
HELP = "journal records/s with concurrent appenders vs raw sqlite3 executemany"
EVENT = {"type": "task_completed", "ref": "charge_card", "attempt": 1, "output": {"n": 42}}
SIZES = (
    Size("--appenders", 64, 64, "concurrent appenders, one stream each"),
    Size("--per-appender", 200, 4, "records each appender appends, one after another"),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags beside the size flags."""
    parser.add_argument(
        "--durability",
        default="both",
        choices=["full", "normal", "both"],
        help="the journal's and raw sqlite3's durability (default: both, one after the other)",
    )


async def _appends(path: str, durability: str, appenders: int, per_appender: int) -> dict[str, Any]:
    async with SqliteJournal(path, durability=durability) as journal:

        async def appender(i: int) -> None:
            stream = f"run-{i}"
            for n in range(per_appender):
                row = StreamInfo(stream, "bench", 1, "RUNNING", False, 0.0, float(n))
                await journal.append(Append(row, [EVENT]))

        started = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for i in range(appenders):
                tg.start_soon(appender, i)
        elapsed = max(time.perf_counter() - started, 1e-9)
        stats = journal.stats
    return {
        "records": stats.records,
        "seconds": round(elapsed, 3),
        "records_per_s": round(stats.records / elapsed),
        "commits_per_s": round(stats.commits / elapsed),
        "avg_batch": round(stats.records / max(1, stats.commits), 1),
        "largest_batch": stats.largest_batch,
    }


async def _without_sqlite(appenders: int, per_appender: int) -> int:
    """Records/s of `_appends`' appenders through encoding and group commit alone."""
    last = 0

    async def commit(batch: list[Ticket[EncodedAppend]]) -> None:
        nonlocal last
        for ticket in batch:
            last += 1
            ticket.succeed(last)

    committer = stream_committer(commit, batch_max=4096)

    async def appender(i: int) -> None:
        stream = f"run-{i}"
        for n in range(per_appender):
            row = StreamInfo(stream, "bench", 1, "RUNNING", False, 0.0, float(n))
            await committer.submit(encode_append(Append(row, [EVENT])))

    started = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for i in range(appenders):
            tg.start_soon(appender, i)
    return round(last / max(time.perf_counter() - started, 1e-9))


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Measure the journal, then the raw ceilings, per durability; see the module note."""
    levels = ["full", "normal"] if args.durability == "both" else [args.durability]
    scale = 0.02 if args.tiny else 1.0
    figures: dict[str, Any] = {"appenders": args.appenders, "per_appender": args.per_appender}
    ceilings: dict[str, Any] = {}
    loop_only = anyio.run(_without_sqlite, args.appenders, args.per_appender)
    figures["without_sqlite_records_per_s"] = loop_only
    with tempfile.TemporaryDirectory(dir=os.environ.get("CADENZA_BENCH_DIR")) as tmp:
        for level in levels:
            path = os.path.join(tmp, f"journal-{level}.db")
            journal = anyio.run(_appends, path, level, args.appenders, args.per_appender)
            raw = _ceilings.sqlite_ceilings(tmp, level, scale)
            rows_per_s = max(1, raw["sqlite_executemany_rows_per_s"])
            journal["percent_of_executemany"] = round(
                100 * journal["records_per_s"] / rows_per_s, 1
            )
            journal["without_sqlite_percent_of_executemany"] = round(
                100 * loop_only / rows_per_s, 1
            )
            figures[level] = journal
            ceilings[level] = raw
    return {"figures": figures, "ceilings": ceilings}
