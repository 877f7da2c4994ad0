"""Back-pressure on starts: at most `limit` runs in flight; past it, starts wait.

Design note
-----------
Every run in flight costs memory (its queued tasks, its actor while it
works), so a flood of starts must slow down rather than grow memory
without bound (issue 13: 50,000 starts from 2,000 callers were all
accepted at once). `RunGate` counts the runs in flight: the unfinished
runs recovery found, every run a caller started that has not ended, and
every start admitted (a *reservation* until its run id is minted, so
concurrent callers cannot all slip past the check before any counts). A start
admitted when the count is below `limit` goes ahead at once; the others
wait in arrival order (FIFO) and are admitted one by one as runs end.

Runs started by the engine itself (sub-workflows, failure workflows) are
never held back — their parents are already in flight and would wait on
them — and are not counted. An admitted start counts its run from the
moment its id is minted (`started`, before the run can end or park); a
start that fails or is cancelled then gives it back (`finished`).
`close()` fails every waiting start with `RuntimeClosed`.
"""

from __future__ import annotations

import asyncio
from collections import deque

from cadenza._errors import RuntimeClosed


class RunGate:
    """Admits starts while fewer than `limit` runs are in flight; see the module note."""

    def __init__(self, limit: int):
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        self.limit = limit
        self.running: set[str] = set()  # runs in flight that a caller started or recovery found
        self.reserved = 0  # starts admitted and still being made
        self.peak = 0  # the most runs in flight at once (for tests and metrics)
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._closed = False

    @property
    def in_flight(self) -> int:
        return len(self.running) + self.reserved

    @property
    def waiting(self) -> int:
        """Starts waiting for room."""
        return sum(1 for f in self._waiters if not f.done())

    async def admit(self) -> None:
        """Wait until a run may start; hold a reservation for it (give it back or `started`).

        Raises:
            RuntimeClosed: the runtime closed while the start waited.
        """
        if self._closed:
            raise RuntimeClosed()
        if self.in_flight < self.limit and not self._waiters:
            self._reserve()
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(future)
        try:
            await future  # resolved by `_hand_over`, which reserved for us
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.reserved -= 1  # admitted just as the caller gave up: pass it on
                self._hand_over()
            raise

    async def admit_many(self, count: int) -> None:
        """`admit` for a batch of `count` starts: it waits for room once, then is admitted
        whole (the count may pass the limit by the batch), holding `count` reservations."""
        if count < 1:
            return
        await self.admit()
        self.reserved += count - 1
        self.peak = max(self.peak, self.in_flight)

    def started(self, run_id: str) -> None:
        """The admitted start is making run `run_id`: its reservation becomes the run."""
        self.reserved -= 1
        self.running.add(run_id)

    def recovered(self, run_ids: list[str]) -> None:
        """Unfinished runs found at recovery are in flight (the count may exceed the limit)."""
        self.running.update(run_ids)
        self.peak = max(self.peak, self.in_flight)

    def finished(self, run_id: str) -> None:
        """A run ended: if it was counted, admit the next waiting start."""
        if run_id in self.running:
            self.running.discard(run_id)
            self._hand_over()

    def close(self) -> None:
        """Fail every waiting start with `RuntimeClosed`; refuse later ones."""
        self._closed = True
        while self._waiters:
            future = self._waiters.popleft()
            if not future.done():
                future.set_exception(RuntimeClosed("the runtime closed while the start waited"))
                future.exception()  # a caller who gave up must not log "never retrieved"

    def _reserve(self) -> None:
        self.reserved += 1
        self.peak = max(self.peak, self.in_flight)

    def _hand_over(self) -> None:
        while self._waiters and self.in_flight < self.limit:
            future = self._waiters.popleft()
            if not future.done():
                self._reserve()
                future.set_result(None)
