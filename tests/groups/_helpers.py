"""Shared helpers for the worker-group tests: a one-task workflow, a runtime maker."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import cadenza
from cadenza.persistence import MemoryJournal
from cadenza.testing import VirtualClock

START = 1_800_000_000.0


def one_task(name: str = "one", task: str = "work") -> dict[str, Any]:
    """A Conductor definition with a single SIMPLE task."""
    return {
        "name": name,
        "version": 1,
        "tasks": [{"name": task, "taskReferenceName": "t", "inputParameters": {}}],
    }


@asynccontextmanager
async def runtime(clock: VirtualClock, **kwargs: Any) -> AsyncIterator[cadenza.Runtime]:
    """A runtime over an in-memory journal on `clock` (fast enough for hypothesis)."""
    async with cadenza.Runtime(clock=clock, journal=MemoryJournal(), seed=1, **kwargs) as rt:
        yield rt
