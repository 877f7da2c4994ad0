"""The simulated database's inbox and outcome tables, as one process sees them.

`MemoryInbox` answers `Inbox` (`_shared`) on a `SharedStore`
(`_shared_memory`) exactly as `PostgresInbox` does on PostgreSQL: a post
appends a row and "notifies" every listening process the store can reach;
`done` deletes rows, writes the awaited ones' outcomes and wakes the
waiting posters in one step that never yields (one transaction); outcomes
older than `OUTCOME_TTL_S` on the store's clock are dropped there. Each call
first makes the process's round trip (`SharedMemoryJournal.io`: latency,
then `StoreUnreachable` when cut off or dead).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import anyio

from cadenza.persistence._postgres_schema import partition_of
from cadenza.persistence._shared import (
    OUTCOME_TTL_S,
    DeadLetter,
    Inbox,
    Posted,
    read_body,
    taken_outcome,
)

if TYPE_CHECKING:
    from cadenza.persistence._shared_memory import SharedMemoryJournal


class MemoryInbox(Inbox):
    """The store's inbox table as seen from one process; see the module note."""

    def __init__(self, journal: SharedMemoryJournal, *, poll_s: float):
        if poll_s <= 0:
            raise ValueError(f"poll_s must be above 0, got {poll_s!r}")
        self.journal = journal
        self.store = journal.store
        self.poll_s = poll_s
        self.notified = 0
        self._wake = anyio.Event()
        self._outcomes: dict[int, anyio.Event] = {}  # awaited message id → its waiter's wake

    def _hears(self) -> bool:
        return not self.journal.dead and self.journal.reachable  # a NOTIFY reaches it

    async def open(self) -> None:
        await self.journal.io()
        self.store.listeners.append(self)

    async def close(self) -> None:
        if self in self.store.listeners:
            self.store.listeners.remove(self)

    def heard(self) -> None:
        self.notified += 1
        self._wake.set()

    def kick(self) -> None:
        self._wake.set()

    async def post(
        self, run_id: str, kind: str, body: dict[str, Any], *, awaited: bool = False
    ) -> int:
        await self.journal.io()
        store = self.store
        store.inbox_next += 1
        row = (store.inbox_next, partition_of(run_id), run_id, kind, json.dumps(body), awaited)
        store.inbox.append(row)
        for listener in list(store.listeners):
            if listener._hears():  # NOTIFY goes out
                listener.heard()
        return store.inbox_next

    async def take(self, partitions: Iterable[int], limit: int = 1000) -> list[Posted]:
        wanted = set(partitions)
        if not wanted:
            return []
        await self.journal.io()
        found = [row for row in self.store.inbox if row[1] in wanted][:limit]
        return [_posted(row) for row in found]

    async def done(
        self,
        ids: Sequence[int],
        outcomes: Mapping[int, dict[str, Any]] | None = None,
        dead: Mapping[int, str] | None = None,
    ) -> None:
        if not ids:
            return
        await self.journal.io()
        store, now = self.store, self.store.clock()  # from here on, one transaction
        gone = set(ids)
        for row in store.inbox:
            if dead and row[0] in dead:
                store.inbox_dead.append((row, dead[row[0]]))
        store.inbox[:] = [row for row in store.inbox if row[0] not in gone]
        for id, outcome in (outcomes or {}).items():
            store.outcomes.setdefault(id, (json.dumps(outcome), now))
        for id, (_body, at) in list(store.outcomes.items()):
            if at < now - OUTCOME_TTL_S:
                del store.outcomes[id]
        for listener in list(store.listeners):
            if listener._hears():
                for id in outcomes or {}:
                    if (waiter := listener._outcomes.get(id)) is not None:
                        waiter.set()

    async def outcome(self, id: int) -> dict[str, Any]:
        async def take() -> str | None:
            try:
                await self.journal.io()
                found = self.store.outcomes.pop(id, None)
            except OSError:  # cut off: the next poll looks again
                if self.journal.dead:
                    raise
                return None
            return None if found is None else found[0]

        return await taken_outcome(self._outcomes, id, self.poll_s, take)

    async def applied_through(self, run_ids: Iterable[str]) -> dict[str, int]:
        await self.journal.io()
        seen = self.store.inbox_seen
        return {run_id: seen[run_id] for run_id in set(run_ids) if run_id in seen}

    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        await self.journal.io()
        return [DeadLetter(_posted(row), reason) for row, reason in self.store.inbox_dead[:limit]]

    async def size(self) -> int:
        await self.journal.io()
        return len(self.store.inbox)

    async def wait(self) -> None:
        with anyio.move_on_after(self.poll_s):
            await self._wake.wait()
        self._wake = anyio.Event()


def _posted(row: tuple[int, int, str, str, str, bool]) -> Posted:
    id, _partition, run_id, kind, text, awaited = row
    body, unreadable = read_body(text)
    return Posted(id, run_id, kind, body, awaited, unreadable)
