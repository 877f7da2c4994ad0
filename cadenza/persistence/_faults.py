"""Fault points of a journal: off unless a test or the simulation switches them on.

Design note
-----------
A journal holds `faults: JournalFaults | None`, None by default, and asks
it at two points of every append:

- `before_commit(stream_id)`, inside the commit: it may raise
  `InjectedFault` (an `OSError`, as a full disk or an I/O error would be),
  which the journal turns into the `JournalWriteError` a real failure
  gives — nothing of that commit is written, later appends are unaffected.
- `crash_due()`, once per append: it counts appends, and at the
  `crash_at`-th the journal calls `crash(before, after)`, which reports the
  crash through `on_crash`, handing over the durable image of that instant
  — with or without the k-th record, as the seed chose, since a crash may
  come just before or just after its commit. The k-th appender and every
  later one get a `JournalWriteError` that is not transient: the journal is
  a dead process's disk, nothing more of that incarnation becomes durable,
  and nobody is told it did.

Failing commits come in bursts of at most `fail_burst_max` in a row, so a
writer that retries with backoff gets through: the faults model transient
trouble (a busy disk, a locked file), not a journal that is gone.
Everything random comes from the `random.Random` given, so a seed replays.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any


class InjectedFault(OSError):
    """A failure the fault plan injected (it stands for a real I/O error)."""


class JournalFaults:
    """See the module note. `fail_p` is the chance that one commit fails."""

    def __init__(
        self,
        rng: random.Random,
        *,
        fail_p: float = 0.0,
        fail_burst_max: int = 3,
        crash_at: int | None = None,
        on_crash: Callable[[Any], None] | None = None,
    ):
        if not 0.0 <= fail_p < 1.0:
            raise ValueError(f"fail_p must be in [0, 1), got {fail_p}")
        if crash_at is not None and crash_at < 1:
            raise ValueError(f"crash_at counts appends from 1, got {crash_at}")
        self.rng = rng
        self.fail_p = fail_p
        self.fail_burst_max = fail_burst_max
        self.crash_at = crash_at
        self.on_crash = on_crash
        self.appends = 0
        self.failed = 0
        self.crashed = False
        self._burst = 0

    @property
    def active(self) -> bool:
        return self.fail_p > 0.0 or (self.crash_at is not None and not self.crashed)

    def before_commit(self, stream_id: str) -> None:
        """Raise `InjectedFault` if this commit is to fail (or the process is dead)."""
        if self.crashed:
            raise InjectedFault(f"the process crashed; append to {stream_id!r} never committed")
        if self.fail_p <= 0.0:
            return
        if self._burst < self.fail_burst_max and self.rng.random() < self.fail_p:
            self._burst += 1
            self.failed += 1
            raise InjectedFault(f"injected: the commit of an append to {stream_id!r} failed")
        self._burst = 0

    def crash_due(self) -> bool:
        """Count an append about to be made; True if the crash comes at this one."""
        self.appends += 1
        return not self.crashed and self.crash_at is not None and self.appends >= self.crash_at

    def crash(self, image_before: Any, image_after: Callable[[], Any]) -> None:
        """The process dies now; its disk holds one of the two images, as the seed chose."""
        self.crashed = True
        image = image_after() if self.rng.random() < 0.5 else image_before
        if self.on_crash is not None:
            self.on_crash(image)
