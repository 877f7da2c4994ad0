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

Two more points fail chosen *members* only, as a journal refuses one
bad value (issue 13): `refuse_append(append)` is asked for every append
of a commit, and a transaction holding one it refuses fails as a whole —
the journal must then split it so its neighbours still land;
`refuse_load(stream_id)` is asked for every stream of a read, and a read
holding one it refuses fails as a whole, as a query with one malformed
parameter would. Both are None (off) by default.

Failing commits come in bursts of at most `fail_burst_max` in a row, so a
writer that retries with backoff gets through: the faults model transient
trouble (a busy disk, a locked file), not a journal that is gone.
Everything random comes from the `random.Random` given, so a seed replays.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
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
        refuse_append: Callable[[Any], bool] | None = None,
        refuse_load: Callable[[str], bool] | None = None,
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
        self.refuse_append = refuse_append
        self.refuse_load = refuse_load
        self.refused = 0  # transactions or reads failed because of a refused member
        self.appends = 0
        self.failed = 0
        self.crashed = False
        self._burst = 0

    @property
    def active(self) -> bool:
        return (
            self.fail_p > 0.0
            or (self.crash_at is not None and not self.crashed)
            or self.refuse_append is not None
            or self.refuse_load is not None
        )

    def check_members(self, appends: Iterable[Any]) -> None:
        """Raise `InjectedFault` if `refuse_append` refuses one of a commit's appends."""
        refuse = self.refuse_append
        if refuse is None:
            return
        for append in appends:
            if refuse(append):
                self.refused += 1
                raise InjectedFault(
                    f"injected: the journal refused the append to {append.info.stream_id!r}"
                )

    def check_loads(self, stream_ids: Iterable[str]) -> None:
        """Raise `InjectedFault` if `refuse_load` refuses one of a read's streams."""
        refuse = self.refuse_load
        if refuse is None:
            return
        for stream_id in stream_ids:
            if refuse(stream_id):
                self.refused += 1
                raise InjectedFault(f"injected: the read of stream {stream_id!r} failed")

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
