"""The engine's own state, read when Prometheus scrapes (queues, timers, journal records),
and the callbacks of its timer service and worker groups, set to count into the metrics."""

from __future__ import annotations

from collections.abc import Iterator

from cadenza.engine._host import Engine
from cadenza.engine._schedules import Scheduler
from cadenza.observe._metrics import Metrics


def attach(metrics: Metrics, engine: Engine, scheduler: Scheduler | None = None) -> None:
    """Give `metrics` its scrape-time readers of `engine` (nothing is read until a scrape),
    and count `scheduler`'s ticks."""

    def queues() -> Iterator[tuple[str, str, int, float]]:
        found: dict[tuple[str, str], tuple[int, float]] = {}

        def add(task_type: str, group: str, ready_at: float) -> None:
            count, oldest = found.get((task_type, group), (0, ready_at))
            found[(task_type, group)] = (count + 1, min(oldest, ready_at))

        for group, (state, _ref) in list(engine._groups.items()):
            for task in list(state.tasks.values()):
                add(task.type, group, task.ready_at)
        if engine.shared is not None:  # posted to the shared queues, at the last look
            for task_type, group, ready_at in engine.shared.waiting():
                add(task_type, group, ready_at)
        for (task_type, group), (count, oldest) in found.items():
            yield task_type, group, count, oldest

    def pools() -> Iterator[tuple[str, str, int, int]]:
        for group, (state, _ref) in list(engine._groups.items()):
            for task_type, worker in list(state.workers.items()):
                yield task_type, group, worker.concurrency, worker.running

    if scheduler is not None:
        scheduler.observers.append(metrics.schedule_ticked)
    engine._timer_state.late = metrics.timer_late
    engine.unserved.counted = metrics.unserved_type
    metrics.attach(
        queues=queues,
        pools=pools,
        timers_pending=engine._timer_state.pending,
        journal_records=lambda: engine.journal.stats.records,
        unrecovered=lambda: len(engine.recovery.unrecovered),
        now=engine.clock.now,
    )
