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


def sqlite_batch_insert_rows_per_s(
    rows: int = 200_000, batch: int = 1000, synchronous: str = "FULL"
) -> float:
    """Raw sqlite3 `executemany` of small rows in batches, one commit per batch, WAL."""
    with tempfile.TemporaryDirectory(dir=os.environ.get("CADENZA_BENCH_DIR")) as tmp:
        db = sqlite3.connect(os.path.join(tmp, "ceiling.db"), isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={synchronous}")
        db.execute(
            "CREATE TABLE r (seq INTEGER PRIMARY KEY, stream TEXT, payload BLOB, crc INTEGER)"
        )
        payload = b'{"e":"task_completed","at":1.0,"task_id":"x-1","output":{"n":1}}'
        started = time.perf_counter()
        for start in range(0, rows, batch):
            db.execute("BEGIN")
            db.executemany(
                "INSERT INTO r (stream, payload, crc) VALUES (?, ?, ?)",
                ((f"s{i % 997}", payload, i) for i in range(start, start + batch)),
            )
            db.execute("COMMIT")
        elapsed = time.perf_counter() - started
        db.close()
    return rows / elapsed


def sqlite_commits_per_s(commits: int = 500, synchronous: str = "FULL") -> float:
    """Single-row transactions per second: the disk's fsync ceiling."""
    with tempfile.TemporaryDirectory(dir=os.environ.get("CADENZA_BENCH_DIR")) as tmp:
        db = sqlite3.connect(os.path.join(tmp, "commits.db"), isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={synchronous}")
        db.execute("CREATE TABLE r (seq INTEGER PRIMARY KEY, payload BLOB)")
        started = time.perf_counter()
        for _ in range(commits):
            db.execute("INSERT INTO r (payload) VALUES (?)", (b"x" * 64,))
        elapsed = time.perf_counter() - started
        db.close()
    return commits / elapsed


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
