"""The cyclic garbage collector, tuned while a runtime is open (`Runtime(gc_tuning=True)`).

Design note
-----------
Profiled on `cadenza bench throughput` (3,000 workflows in flight), CPython's
cyclic collector took 31% of the wall time: 10 full collections at about
220 ms each, walking every live object (the application's modules and
classes, and each in-flight run's actor, futures and coroutine frames), and
finding almost nothing to free (a few hundred objects per thousand
collections). The engine makes little cyclic garbage; what costs is the
walking.

So, while at least one runtime is open in the process:

- the objects alive when the first runtime opens (the application and its
  imports) are moved to the permanent generation (`gc.freeze()`), which no
  collection walks. Whatever cyclic garbage is left uncollected at that
  moment is frozen with them until the last runtime closes; a process
  opening runtime after runtime (the simulation's sweep workers) grew by
  about 2 MB a runtime that way, to 4-9 GB in the long sweeps. So a full
  collection runs before the freeze whenever the heap (`sys.
  getallocatedblocks()`) has grown by more than `GROWTH_BEFORE_COLLECT`
  since the last one run here: CPython's own rule for full collections
  (a quarter of the long-lived objects), which bounds what waits to the
  same share of the heap. Collecting at every opening bounded it to
  nothing, but cost each opening a walk of every live object (about 60 ms
  in a test process of 700,000 objects);
- the youngest generation's threshold is raised from 700 to
  `YOUNG_THRESHOLD` allocations, so young collections are rarer and a full
  one rarer still (the older generations' thresholds are kept). At 10,000
  a young collection still ran about every 75 workflows of the benchmark,
  and 3,000 workflows spent 0.9-1.2 s of wall time in about 40 of them and
  4 of the middle generation; at 50,000, 0.2-0.5 s (issue 14). What waits
  longer for its collection is only cyclic garbage, bounded by the
  threshold (a few MB).

An application that froze objects itself keeps managing the permanent
generation: then only the threshold is changed.

When the last runtime closes, both are undone (`gc.unfreeze()`, the previous
thresholds): garbage made before the runtime opened is collectable again,
and the application's own tuning stands. Nothing here changes what is freed,
only when: reference counting frees acyclic garbage at once as always.

This is process-wide state, so it is counted: runtimes opened together tune
once, and a runtime opened with `gc_tuning=False` leaves the collector alone
(an application that tunes it itself, or wants the default).
"""

from __future__ import annotations

import gc
import sys
import threading

YOUNG_THRESHOLD = 50_000  # allocations less deallocations between young collections
GROWTH_BEFORE_COLLECT = 0.25  # heap growth since the last collection that makes an opening collect

_lock = threading.Lock()
_holders = 0
_saved: tuple[int, ...] | None = None
_froze = False  # False: the application had frozen objects itself, and keeps managing that
_collected_at: int | None = None  # allocated blocks just after the last collection run here


def acquire() -> None:
    """Tune the collector for a runtime being opened; pair with one `release`."""
    global _holders, _saved, _froze
    with _lock:
        _holders += 1
        if _holders > 1:
            return
        _saved = gc.get_threshold()
        young, *older = _saved
        gc.set_threshold(max(young, YOUNG_THRESHOLD), *older)
        _froze = gc.get_freeze_count() == 0
        if _froze:
            _collect_if_grown()
            gc.freeze()


def release() -> None:
    """Undo one `acquire`; the last one restores the collector as it was found."""
    global _holders, _saved
    with _lock:
        if _holders == 0:
            return
        _holders -= 1
        if _holders > 0 or _saved is None:
            return
        if _froze:
            gc.unfreeze()
        gc.set_threshold(*_saved)
        _saved = None


def _collect_if_grown() -> None:
    """Run a full collection if the heap grew by `GROWTH_BEFORE_COLLECT` since the last one."""
    global _collected_at
    blocks = sys.getallocatedblocks()
    if _collected_at is not None and blocks <= _collected_at * (1 + GROWTH_BEFORE_COLLECT):
        _collected_at = min(_collected_at, blocks)  # a smaller heap: a smaller allowance
        return
    gc.collect()
    _collected_at = sys.getallocatedblocks()


def holders() -> int:
    """How many open runtimes hold the tuning (0: the collector is as found)."""
    return _holders
