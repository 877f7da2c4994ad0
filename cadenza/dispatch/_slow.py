"""Slow dispatch: a task still queued past `dispatch_warning_s` is reported once.

The group keeps a heap of (deadline, seq, task id) for its queued tasks
(`GroupState.watch`, filled as tasks are queued); `watch_slow` pops the
deadlines that passed, logs `dispatch.slow` for each task still queued
(WARNING, `still_queued=True`, whether any worker is live), and returns
the next deadline for the group's one wake-up. A task handed out late is
reported by the group itself, at the hand-out.
"""

from __future__ import annotations

import heapq
from typing import TYPE_CHECKING

from cadenza._log import get_logger

if TYPE_CHECKING:
    from cadenza.dispatch._groups import GroupState

log = get_logger("cadenza.dispatch")


def watch_slow(group: GroupState, now: float) -> float | None:
    """Report each task still queued past its deadline, once; the next deadline (or None)."""
    watch = group.watch
    while watch and (watch[0][2] not in group.tasks or watch[0][0] <= now):
        _due, _seq, task_id = heapq.heappop(watch)
        task = group.tasks.get(task_id)
        if task is None or task_id in group.warned:
            continue
        group.warned.add(task_id)
        log.warning(
            "dispatch.slow",
            group=group.name,
            task_type=task.type,
            task_id=task_id,
            run_id=task.run_id,
            waited_s=now - task.ready_at,
            still_queued=True,
            live_workers=group.live(),
        )
    return watch[0][0] if watch else None
