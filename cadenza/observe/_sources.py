"""The engine's own state, read when Prometheus scrapes: queues, timers, journal records."""

from __future__ import annotations

from collections.abc import Iterator

from cadenza.engine._host import Engine
from cadenza.observe._metrics import Metrics


def attach(metrics: Metrics, engine: Engine) -> None:
    """Give `metrics` its scrape-time readers of `engine` (nothing is read until a scrape)."""

    def queues() -> Iterator[tuple[str, str, int, float]]:
        for group, (state, _ref) in list(engine._groups.items()):
            found: dict[str, tuple[int, float]] = {}
            for task in list(state.tasks.values()):
                count, oldest = found.get(task.type, (0, task.ready_at))
                found[task.type] = (count + 1, min(oldest, task.ready_at))
            for task_type, (count, oldest) in found.items():
                yield task_type, group, count, oldest

    def timers_pending() -> int:
        timers = getattr(engine, "_timer_state", None)  # set once the engine opened
        return 0 if timers is None else timers.pending()

    metrics.attach(
        queues=queues,
        timers_pending=timers_pending,
        journal_records=lambda: engine.journal.stats.records,
        now=engine.clock.now,
    )
