"""The queue of one task type in one worker group: priority first, then fair across keys.

Design note — the ordering rule
-------------------------------
Every task carries a *fairness key* (`QueuedTask.fairness_key`: the task's
`fairnessKey` input if it is a string, else its run's correlation id, else
None — one shared key). The next task handed out is chosen thus:

1. **Priority first** (DESIGN.md invariant 3): only tasks of the highest
   priority present are candidates. Fairness never lets a lower priority
   pass a higher one.
2. **Round-robin across keys** among those: each key holding tasks at that
   priority has a *turn*, the number of times it was served at that level
   (a key that arrives, or comes back after emptying, starts at the level's
   current *round* — the turn of the key served last — so it neither jumps
   ahead of keys waiting since long nor starves them). The key with the
   smallest turn is served; so two busy keys alternate, and one busy key
   cannot starve another (conductor-oss#1266).
3. **Within a key**: the task that became ready first, then sequence —
   invariant 3 holds exactly within a key. Ties between keys on turn fall
   back to the heads' `(ready_at, seq)`, so when every task has its own
   key (or all share one) the order is exactly `(-priority, ready_at, seq)`.

A task handed back (its poller went away, or a retry inheriting the place
of an expired lease) re-enters its key at its original `(ready_at, seq)` and
its key's turn drops to the round, so it is served next among equals.

Cancelled tasks are dropped lazily: the owner says which ids are still
`alive`. Each priority level keeps a heap of keys by `(turn, head)`; an
entry whose key's head or turn has since changed carries an old version
and is skipped.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Container, Mapping
from dataclasses import dataclass, field
from typing import Any

Key = str | None
FAIRNESS_INPUT = "fairnessKey"  # a task input naming its fairness key (e.g. a tenant)


@dataclass(slots=True)
class _Level:
    """The tasks of one priority: a heap per key, and a heap of keys."""

    tasks: dict[Key, list[tuple[float, int, str]]] = field(default_factory=dict)
    turns: dict[Key, int] = field(default_factory=dict)
    versions: dict[Key, int] = field(default_factory=dict)
    keys: list[tuple[int, float, int, int, Key]] = field(default_factory=list)
    round: int = 0


class FairQueue:
    """See the module note. Holds `(ready_at, seq, task_id)` under a priority and a key."""

    __slots__ = ("_levels", "_priorities", "_versions")

    def __init__(self) -> None:
        self._levels: dict[int, _Level] = {}
        self._priorities: list[int] = []  # -priority of each level (a level may have emptied)
        self._versions = itertools.count()

    def __bool__(self) -> bool:
        return bool(self._levels)

    def push(
        self,
        task_id: str,
        priority: int,
        ready_at: float,
        seq: int,
        key: Key = None,
        *,
        handed_back: bool = False,
    ) -> None:
        level = self._levels.get(priority)
        if level is None:
            level = self._levels[priority] = _Level()
            heapq.heappush(self._priorities, -priority)
        heap = level.tasks.get(key)
        if heap is None:
            heap = level.tasks[key] = []
            level.turns[key] = level.round
        elif handed_back:
            level.turns[key] = min(level.turns[key], level.round)
        entry = (ready_at, seq, task_id)
        heapq.heappush(heap, entry)
        if heap[0] is entry or handed_back:
            self._announce(level, key, heap)

    def head(self, alive: Container[str]) -> str | None:
        """The id of the task to hand out next (None if none), without taking it."""
        found = self._find(alive)
        return None if found is None else found[2][0][2]

    def pop(self, alive: Container[str]) -> str | None:
        """Take the task `head` names; its key's turn advances."""
        found = self._find(alive)
        if found is None:
            return None
        level, key, heap = found
        _ready, _seq, task_id = heapq.heappop(heap)
        level.round = level.turns[key]
        level.turns[key] += 1
        if heap:
            self._announce(level, key, heap)
        else:
            self._drop(level, key)
        return task_id

    def _find(
        self, alive: Container[str]
    ) -> tuple[_Level, Key, list[tuple[float, int, str]]] | None:
        priorities = self._priorities
        while priorities:
            priority = -priorities[0]
            level = self._levels.get(priority)
            if level is None:
                heapq.heappop(priorities)
                continue
            keys = level.keys
            while keys:
                _turn, _ready, _seq, version, key = keys[0]
                if level.versions.get(key) != version:
                    heapq.heappop(keys)  # superseded: the key's head or turn changed
                    continue
                heap = level.tasks[key]
                while heap and heap[0][2] not in alive:
                    heapq.heappop(heap)  # cancelled
                if not heap:
                    self._drop(level, key)
                    continue
                if heap[0][:2] != (_ready, _seq):
                    self._announce(level, key, heap)
                    continue
                return level, key, heap
            del self._levels[priority]
            heapq.heappop(priorities)
        return None

    def _announce(self, level: _Level, key: Key, heap: list[tuple[float, int, str]]) -> None:
        version = next(self._versions)
        level.versions[key] = version
        ready_at, seq, _task_id = heap[0]
        heapq.heappush(level.keys, (level.turns[key], ready_at, seq, version, key))

    @staticmethod
    def _drop(level: _Level, key: Key) -> None:
        del level.tasks[key]
        del level.turns[key]
        del level.versions[key]


def fairness_key_of(task_input: Mapping[str, Any], correlation_id: str | None) -> str | None:
    """A task's key: its `fairnessKey` input if a non-empty string, else the run's correlation id."""
    key = task_input.get(FAIRNESS_INPUT)
    if isinstance(key, str) and key:
        return key
    return correlation_id
