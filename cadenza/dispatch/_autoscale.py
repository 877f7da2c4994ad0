"""Autoscaled local worker pools: `rt.worker(..., concurrency=(min, max))`.

Design note
-----------
A pool's size (`LocalWorker.concurrency`) starts at `min`. It **grows** by
one slot each time the group would hand out a task of its type but every
slot is busy (`grow`), up to `max`: while tasks wait and the pool is
saturated it grows as far as they need, at once. It **shrinks** on the
runtime's clock: every `AUTOSCALE_IDLE_S` after its size last changed,
the pool is cut to the most slots that were busy at once in that window
(never below `min`) (`shrink`); a pool left idle for that long falls back
to `min`. The group arms one wake-up per pool above its minimum: an idle
runtime still has nothing to do. Slots told to leave take a `None` from the
inbox once they are free (`LocalWorker.leaving`), so no task is cut short.
A fixed `concurrency=n` is `(n, n)`: nothing here applies to it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cadenza.dispatch._slots import LocalWorker

AUTOSCALE_IDLE_S = 30.0

Pool = int | tuple[int, int]
"""A local worker's pool size: fixed, or `(min, max)` to autoscale."""


def bounds(concurrency: Any) -> tuple[int, int]:
    """`(min, max)` of a worker's `concurrency`: an int n is (n, n)."""
    if isinstance(concurrency, tuple):
        low, high = concurrency
        return int(low), int(high)
    return int(concurrency), int(concurrency)


def resize(worker: LocalWorker, concurrency: Any, now: float) -> None:
    """Give `worker` the bounds of `concurrency` (a registration), its size kept within them."""
    worker.min_size, worker.max_size = bounds(concurrency)
    worker.concurrency = min(max(worker.concurrency, worker.min_size), worker.max_size)
    worker.scaled_at = now


def grow(worker: LocalWorker, now: float) -> bool:
    """One slot more, if below `max` (the group saw it saturated while tasks wait)."""
    if worker.concurrency >= worker.max_size or worker.paused:
        return False
    worker.concurrency += 1
    worker.peak = max(worker.peak, worker.concurrency)
    worker.scaled_at = now
    return True


def shrink(worker: LocalWorker, now: float, idle_s: float = AUTOSCALE_IDLE_S) -> float | None:
    """Cut the pool to the window's peak once `idle_s` passed since its last change.

    Returns when to look again (None: the pool is at its minimum).
    """
    if worker.concurrency <= worker.min_size:
        return None
    due = worker.scaled_at + idle_s
    if now < due:
        return due
    worker.concurrency = max(worker.min_size, min(worker.concurrency, worker.peak))
    worker.peak = worker.running
    worker.scaled_at = now
    return None if worker.concurrency <= worker.min_size else now + idle_s
