"""Small helpers every benchmark shares: percentiles, resident memory, the collector's
time, the machine."""

from __future__ import annotations

import gc
import os
import platform
import sqlite3
import sys
import time
from typing import Any


def percentiles_ms(seconds: list[float]) -> dict[str, float]:
    """p50, p99 and max of `seconds`, in milliseconds (nearest-rank; empty gives zeros)."""
    if not seconds:
        return {"p50_ms": 0.0, "p99_ms": 0.0, "max_ms": 0.0}
    ordered = sorted(seconds)

    def rank(q: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, int(len(ordered) * q + 0.999999) - 1))]

    return {
        "p50_ms": round(rank(0.50) * 1000, 3),
        "p99_ms": round(rank(0.99) * 1000, 3),
        "max_ms": round(ordered[-1] * 1000, 3),
    }


def rss_bytes() -> int | None:
    """This process's resident memory now (Linux `/proc/self/statm`), or None elsewhere."""
    try:
        with open("/proc/self/statm") as statm:
            pages = int(statm.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE")


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    return {
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "sqlite": sqlite3.sqlite_version,
        "cpus": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()]
        if hasattr(os, "getloadavg")
        else None,
    }


class CollectorTime:
    """Times CPython's cyclic collections from construction until `stop()`."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._began = 0.0
        gc.callbacks.append(self._observe)

    def _observe(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._began = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._began

    def stop(self) -> float:
        """Stop timing; the seconds collections took."""
        if self._observe in gc.callbacks:
            gc.callbacks.remove(self._observe)
        return self.seconds
