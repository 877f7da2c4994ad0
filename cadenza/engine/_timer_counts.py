"""Pending WAIT deadlines by task type, over the runs this process holds.

Design note
-----------
`max_timers_per_type` bounds the WAIT timers one task type holds: the pure
core reads the live `by_type` mapping when it schedules a WAIT
(`Environment.timers_by_type`), and the dashboard shows it. A run's share
changes as its rows are made durable (`count`), and recovery counts each
recovered row's `timers`.

With several processes on one journal a process holds only its partitions'
runs, and a partition moves. So the counts are also kept by partition
(`shard_of`, set when the journal is shared): a partition dropped here
(lost, released, or about to be recovered afresh) takes its runs' timers
out of the totals (`drop`), and whoever recovers it counts them again from
its rows. Without it the totals only grew: a process that lost and retook
a partition counted its WAITs twice and refused new ones early. 64
partitions cost 64 small maps, never one per run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable


class TimerCounts:
    """The per-type pending-timer totals of the runs held here; see the module note."""

    def __init__(self) -> None:
        self.by_type: dict[str, int] = {}  # live: the environment reads this very mapping
        self.shard_of: Callable[[str], int] | None = None  # a run's partition (shared journal)
        self._by_shard: dict[int, dict[str, int]] = {}

    def count(self, run_id: str, before: dict[str, int], after: dict[str, int]) -> None:
        """Run `run_id`'s pending timers by task type went from `before` to `after`."""
        _add(self.by_type, before, after)
        if self.shard_of is not None:
            shard = self.shard_of(run_id)
            held = self._by_shard.setdefault(shard, {})
            _add(held, before, after)
            if not held:
                del self._by_shard[shard]

    def drop(self, shards: Iterable[int]) -> None:
        """Forget the timers of the runs in `shards` (their partitions left this process)."""
        for shard in shards:
            held = self._by_shard.pop(shard, None)
            if held:
                _add(self.by_type, held, {})


def _add(counts: dict[str, int], before: dict[str, int], after: dict[str, int]) -> None:
    """`counts` += `after` - `before`, by name; a name at zero (or below) is removed."""
    for name in before.keys() | after.keys():
        count = counts.get(name, 0) + after.get(name, 0) - before.get(name, 0)
        if count > 0:
            counts[name] = count
        else:
            counts.pop(name, None)
