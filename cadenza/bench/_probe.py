"""What the benchmarks read that the Runtime's public API does not say.

The benchmarks drive a `Runtime` through its public API (register, worker,
start, start_many, get, settle). Three figures need more, and this module is
the one place that reaches inside for them, so an engine change breaks one
file: the moment each run's end is durable (the engine's run listener —
`rt.wait` per run would add a waiter per run to what is measured), the
journal's record and commit counters, and the runtime's clock.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import cadenza


def on_finished(rt: cadenza.Runtime, listener: Callable[[str, str, float], None]) -> None:
    """Call `listener(run_id, status, at)` once each run's end is durable (keep it quick)."""
    rt._engine.add_listener(listener)


def journal_counts(rt: cadenza.Runtime) -> tuple[int, int]:
    """(records, commits) the runtime's journal has written since it opened."""
    stats: Any = rt._engine.journal.stats
    return int(stats.records), int(stats.commits)


def now(rt: cadenza.Runtime) -> float:
    """The runtime's clock (Unix seconds): what WAIT deadlines and task times are read on."""
    return float(rt._engine.clock.now())


START_MANY = "start_many"  # API.md's batch starts, which a Runtime of this version may lack


def has_start_many(rt: object) -> bool:
    """Whether this Runtime (or the `Runtime` class) has `start_many` (API.md's batch starts)."""
    return callable(getattr(rt, START_MANY, None))


def start_many(rt: cadenza.Runtime) -> Callable[..., Awaitable[list[str]]]:
    """`rt.start_many`, looked up by name so this module type-checks with or without it.

    Raises:
        AttributeError: this Runtime has no `start_many` (check `has_start_many` first).
    """
    method: Callable[..., Awaitable[list[str]]] = getattr(rt, START_MANY)
    return method
