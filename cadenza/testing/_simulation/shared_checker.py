"""The shared world's checker: one owner per run, judged from what the store accepted.

Design note
-----------
`OwnerChecker.check()` runs after every step of the simulation loop. The
store logs each lease grant and each accepted write with the owner and the
epoch it was written under (as PostgreSQL's records carry them); the
checker replays both logs in the store's order and flags:

- `stale_write`: a write whose (epoch, owner) is not the partition's latest
  grant at that moment: a late write of an owner that lost the lease;
- `two_owners`: a run written at an older epoch after a newer one, or by two
  owners at one epoch;
- `epoch_regressed`: a grant that does not raise the partition's epoch;
- `ended_changed`: a write to a run after a write said it ended.

The world adds its end-of-run findings through `flag` (`key`, `stuck`,
`inbox`, `hung`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cadenza.persistence._shared_memory import Grant, SharedStore, Write


@dataclass(frozen=True, slots=True)
class OwnerViolation:
    kind: str  # stale_write, two_owners, epoch_regressed, ended_changed, key, stuck, inbox, hung
    detail: str
    at: float  # simulated seconds

    def __str__(self) -> str:
        return f"[{self.kind}] t={self.at:.3f}: {self.detail}"


class OwnerChecker:
    """The write-ownership invariants, checked on the store's logs after every step."""

    def __init__(self, store: SharedStore, now: Callable[[], float]) -> None:
        self.store = store
        self.now = now
        self.violations: list[OwnerViolation] = []
        self.granted: dict[int, tuple[int, str]] = {}  # partition → (epoch, owner) latest
        self.last: dict[str, tuple[int, str]] = {}  # stream → (epoch, owner) of its last write
        self.ended: set[str] = set()  # streams a write said ended
        self.writes_checked = 0
        self._grants = 0

    def flag(self, kind: str, detail: str) -> None:
        """Record a violation of `kind` at the current simulated time."""
        self.violations.append(OwnerViolation(kind, detail, self.now()))

    def check(self) -> None:
        """Check every grant and write logged since the last call, in the store's order."""
        grants, writes = self.store.grants, self.store.writes
        while self._grants < len(grants) or self.writes_checked < len(writes):
            grant = grants[self._grants] if self._grants < len(grants) else None
            write = writes[self.writes_checked] if self.writes_checked < len(writes) else None
            if write is None or (grant is not None and grant.order < write.order):
                self._grant(grants[self._grants])
                self._grants += 1
            else:
                self._write(write)
                self.writes_checked += 1

    def _grant(self, grant: Grant) -> None:
        before = self.granted.get(grant.partition)
        if before is not None and grant.epoch <= before[0]:
            self.flag(
                "epoch_regressed",
                f"partition {grant.partition} granted to {grant.owner} at epoch {grant.epoch}, "
                f"after epoch {before[0]}",
            )
        self.granted[grant.partition] = (grant.epoch, grant.owner)

    def _write(self, write: Write) -> None:
        if write.stream_id in self.ended:
            self.flag(
                "ended_changed",
                f"{write.owner} wrote {write.stream_id} (seq {write.seq}, epoch {write.epoch}) "
                "after it ended",
            )
        if write.terminal:
            self.ended.add(write.stream_id)
        current = self.granted.get(write.partition)
        mine = (write.epoch, write.owner)
        if current != mine:
            self.flag(
                "stale_write",
                f"{write.owner} wrote {write.stream_id} (seq {write.seq}) at epoch {write.epoch} "
                f"while partition {write.partition} belonged to {current}",
            )
        last = self.last.get(write.stream_id)
        if last is not None and mine[0] is not None:
            if mine[0] < last[0]:
                self.flag(
                    "two_owners",
                    f"{write.stream_id} written by {write.owner} at epoch {mine[0]} after "
                    f"{last[1]} wrote it at epoch {last[0]}",
                )
            elif mine[0] == last[0] and mine[1] != last[1]:
                self.flag(
                    "two_owners", f"{write.stream_id}: {last[1]} and {write.owner} at one epoch"
                )
        if mine[0] is not None and mine[1] is not None:
            self.last[write.stream_id] = (mine[0], mine[1])
