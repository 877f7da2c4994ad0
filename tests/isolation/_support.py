"""Helpers of the fault-isolation tests: a runtime on a file, and counting what it holds."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import cadenza
from cadenza.testing import VirtualClock


def open_rt(db: Path, **extra: Any) -> cadenza.Runtime:
    return cadenza.Runtime(str(db), clock=VirtualClock(), seed=13, **extra)


def records(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM records").fetchone()[0])


async def add_one(data: dict[str, Any]) -> dict[str, Any]:
    return {"n": data["n"] + 1}


def serve(rt: cadenza.Runtime) -> None:
    for task_type in ("step_a", "step_b", "step_c"):
        rt.worker(task_type, add_one)
