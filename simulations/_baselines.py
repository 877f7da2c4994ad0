"""Ceilings of this machine, measured in the same run as a benchmark.

Absolute figures drift on shared machines; a figure means something only
beside the ceiling it is held against, measured a moment apart.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import tempfile
import time
from typing import Any

PAYLOAD = b'{"e":"task_completed","at":1.0,"task_id":"x-1","output":{"n":1}}'


def sqlite_inserts(directory: str, synchronous: str, *, batch: int, batches: int) -> dict[str, Any]:
    """Raw sqlite3 in WAL mode: `batches` transactions of `batch` small rows (`executemany`).

    With `batch=1` this is the disk's commit ceiling. The one implementation of
    the raw-SQLite baseline that every benchmark here is held against.
    """
    path = os.path.join(directory, f"raw-{synchronous.lower()}-{batch}.db")
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={synchronous}")
    db.execute("CREATE TABLE r (seq INTEGER PRIMARY KEY, stream TEXT, payload BLOB, crc INTEGER)")
    started = time.perf_counter()
    for start in range(0, batch * batches, batch):
        db.execute("BEGIN")
        db.executemany(
            "INSERT INTO r (stream, payload, crc) VALUES (?, ?, ?)",
            ((f"s{i % 997}", PAYLOAD, i) for i in range(start, start + batch)),
        )
        db.execute("COMMIT")
    elapsed = time.perf_counter() - started
    db.close()
    rows = batch * batches
    return {
        "synchronous": synchronous,
        "rows_per_batch": batch,
        "rows": rows,
        "seconds": round(elapsed, 3),
        "rows_per_s": round(rows / elapsed),
        "commits_per_s": round(batches / elapsed),
    }


def sqlite_batch_insert_rows_per_s(
    rows: int = 200_000, batch: int = 1000, synchronous: str = "FULL"
) -> float:
    """Rows/s of `executemany` in batches, one commit per batch."""
    with tempfile.TemporaryDirectory(dir=os.environ.get("CADENZA_BENCH_DIR")) as tmp:
        return float(
            sqlite_inserts(tmp, synchronous, batch=batch, batches=rows // batch)["rows_per_s"]
        )


def sqlite_commits_per_s(commits: int = 500, synchronous: str = "FULL") -> float:
    """Single-row transactions per second: the disk's fsync ceiling."""
    with tempfile.TemporaryDirectory(dir=os.environ.get("CADENZA_BENCH_DIR")) as tmp:
        return float(sqlite_inserts(tmp, synchronous, batch=1, batches=commits)["commits_per_s"])


def asyncio_queue_messages_per_s(messages: int = 300_000) -> float:
    """A producer and a consumer passing messages through one asyncio.Queue."""

    async def run() -> float:
        queue: asyncio.Queue[int] = asyncio.Queue(maxsize=1024)

        async def produce() -> None:
            for i in range(messages):
                await queue.put(i)

        async def consume() -> None:
            for _ in range(messages):
                await queue.get()

        started = time.perf_counter()
        await asyncio.gather(produce(), consume())
        return messages / (time.perf_counter() - started)

    return asyncio.run(run())
