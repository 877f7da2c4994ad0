"""This machine's ceilings, measured in the same run as a benchmark.

Absolute figures drift on a shared machine; a figure means something only
beside the ceiling it is held against, measured a moment apart. Every
benchmark reports `measure(scale)`:

- `sqlite_executemany_rows_per_s`: raw stdlib sqlite3 in WAL mode,
  `executemany` of 1,000 small rows per transaction (the disk's row ceiling);
- `sqlite_single_row_commits_per_s`: one row per transaction (its commit,
  i.e. fsync, ceiling);
- `loop_call_at`: 20,000 bare `loop.call_at` timers due evenly over one second —
  the rate they were armed at and their lateness p50/p99/max (the floor for
  any timer on this loop);
- `asyncio_queue_messages_per_s`, `loop_callbacks_per_s` and
  `loop_turns_per_s`: a bare asyncio loop passing messages through one
  `asyncio.Queue`, running `call_soon` callbacks scheduled all at once, and
  turning (each callback scheduling the next) — the ceilings for any actor
  hop on this loop.

`scale` (0 < scale <= 1) shrinks every sample for `--tiny` runs.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import tempfile
import time
from typing import Any

from cadenza.bench._figures import percentiles_ms

PAYLOAD = b'{"e":"task_completed","at":1.0,"task_id":"x-1","output":{"n":1}}'
SYNCHRONOUS = {"full": "FULL", "normal": "NORMAL"}


def sqlite_inserts(directory: str, synchronous: str, *, batch: int, batches: int) -> dict[str, Any]:
    """Raw sqlite3 in WAL mode: `batches` transactions of `batch` small rows (`executemany`).

    With `batch=1` this is the disk's commit ceiling. The one implementation
    of the raw-SQLite baseline every benchmark is held against.
    """
    path = os.path.join(directory, f"raw-{synchronous.lower()}-{batch}.db")
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={synchronous}")
        db.execute(
            "CREATE TABLE r (seq INTEGER PRIMARY KEY, stream TEXT, payload BLOB, crc INTEGER)"
        )
        started = time.perf_counter()
        for start in range(0, batch * batches, batch):
            db.execute("BEGIN")
            db.executemany(
                "INSERT INTO r (stream, payload, crc) VALUES (?, ?, ?)",
                ((f"s{i % 997}", PAYLOAD, i) for i in range(start, start + batch)),
            )
            db.execute("COMMIT")
        elapsed = max(time.perf_counter() - started, 1e-9)
    finally:
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


def sqlite_ceilings(directory: str, durability: str, scale: float) -> dict[str, int]:
    """Raw `executemany` rows/s (1,000-row batches) and single-row commits/s at `durability`."""
    synchronous = SYNCHRONOUS[durability]
    batches = max(2, round(200 * scale))
    commits = max(20, round(500 * scale))
    many = sqlite_inserts(directory, synchronous, batch=1000, batches=batches)
    single = sqlite_inserts(directory, synchronous, batch=1, batches=commits)
    return {
        "sqlite_executemany_rows_per_s": many["rows_per_s"],
        "sqlite_single_row_commits_per_s": single["commits_per_s"],
    }


async def call_at_timers(count: int, window_s: float = 1.0) -> dict[str, Any]:
    """`count` bare `loop.call_at` timers due evenly over `window_s`: arming rate and lateness.

    The window opens after a lead long enough to arm them even on a loaded
    machine (0.2 s plus 50 µs a timer); `armed_before_window` says whether it was.
    """
    loop = asyncio.get_running_loop()
    late: list[float] = []
    finished = asyncio.Event()

    def fire(due: float) -> None:
        late.append(loop.time() - due)
        if len(late) == count:
            finished.set()

    base = loop.time() + 0.2 + count * 50e-6
    began = time.perf_counter()
    for i in range(count):
        due = base + window_s * i / count
        loop.call_at(due, fire, due)
    armed_s = max(time.perf_counter() - began, 1e-9)
    armed_before_window = loop.time() < base
    await finished.wait()
    return {
        "timers": count,
        "window_s": window_s,
        "armed_per_s": round(count / armed_s),
        "armed_before_window": armed_before_window,
        "never_early": min(late) >= 0,
        "lateness": percentiles_ms(late),
    }


async def queue_messages_per_s(messages: int) -> float:
    """A producer and a consumer passing `messages` through one bounded asyncio.Queue."""
    queue: asyncio.Queue[int] = asyncio.Queue(maxsize=1024)

    async def produce() -> None:
        for i in range(messages):
            await queue.put(i)

    async def consume() -> None:
        for _ in range(messages):
            await queue.get()

    started = time.perf_counter()
    await asyncio.gather(produce(), consume())
    return messages / max(time.perf_counter() - started, 1e-9)


async def callbacks_per_s(callbacks: int) -> float:
    """`call_soon` callbacks per second, all scheduled at once (the loop's dispatch rate)."""
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    left = [callbacks]

    def step() -> None:
        left[0] -= 1
        if not left[0]:
            done.set_result(None)

    started = time.perf_counter()
    for _ in range(callbacks):
        loop.call_soon(step)
    await done
    return callbacks / max(time.perf_counter() - started, 1e-9)


async def turns_per_s(turns: int) -> float:
    """Loop iterations per second: each callback schedules the next (one turn apiece)."""
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    left = [turns]

    def step() -> None:
        left[0] -= 1
        if left[0]:
            loop.call_soon(step)
        else:
            done.set_result(None)

    started = time.perf_counter()
    loop.call_soon(step)
    await done
    return turns / max(time.perf_counter() - started, 1e-9)


async def _loop_ceilings(scale: float) -> dict[str, Any]:
    return {
        "loop_call_at": await call_at_timers(max(1000, round(20_000 * scale))),
        "asyncio_queue_messages_per_s": round(
            await queue_messages_per_s(max(2000, round(300_000 * scale)))
        ),
        "loop_callbacks_per_s": round(await callbacks_per_s(max(5000, round(500_000 * scale)))),
        "loop_turns_per_s": round(await turns_per_s(max(5000, round(200_000 * scale)))),
    }


def measure(scale: float = 1.0, durability: str = "full") -> dict[str, Any]:
    """Every ceiling above, on a fresh event loop and in a temporary directory.

    The directory is `$CADENZA_BENCH_DIR` if set (to measure another disk),
    else the system's temporary directory. Call it outside any event loop.
    """
    with tempfile.TemporaryDirectory(dir=os.environ.get("CADENZA_BENCH_DIR")) as tmp:
        ceilings: dict[str, Any] = {
            "durability": durability,
            **sqlite_ceilings(tmp, durability, scale),
        }
    ceilings.update(asyncio.run(_loop_ceilings(scale)))
    return ceilings
