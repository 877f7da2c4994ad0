"""The recording delivery seam: every message's (sender, target, type), hashed.

Design note
-----------
`TraceDelivery` is a `cadenza.actors.Delivery`. Every accepted message is
recorded as one line `sender|target|MessageType` and fed to a running
sha256, so two runs are the same interleaving iff their trace hashes match
(DESIGN.md invariant 6). It keeps the last `keep_max` lines for a readable
replay.

Fault point: with `delay_max_s > 0` it holds each message for a seeded
random delay before it enters the mailbox, which reorders messages across
senders. Each sender's messages stay in order: they wait in a per-sender
queue, and a release callback only ever pops from the head of that queue.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
from collections import deque
from collections.abc import Callable


class TraceDelivery:
    """Records and hashes deliveries; optionally delays them (see the module note)."""

    def __init__(
        self,
        *,
        rng: random.Random | None = None,
        delay_max_s: float = 0.0,
        keep_max: int = 10_000,
    ) -> None:
        self.rng = rng if rng is not None else random.Random(0)
        self.delay_max_s = delay_max_s
        self.count = 0
        self.lines: deque[str] = deque(maxlen=keep_max)
        self._hash = hashlib.sha256()
        self._held: dict[str | None, deque[tuple[float, Callable[[], None]]]] = {}
        self._last: dict[str | None, float] = {}
        # watchers of every message as it enters its mailbox (after any delay)
        self.on_deliver: list[Callable[[str, object], None]] = []

    def digest(self) -> str:
        """The sha256 of every delivery so far, as hex."""
        return self._hash.hexdigest()

    def deliver(
        self, sender: str | None, target: str, message: object, enqueue: Callable[[], None]
    ) -> None:
        line = f"{sender}|{target}|{type(message).__name__}"
        self.count += 1
        self.lines.append(line)
        self._hash.update(line.encode())
        self._hash.update(b"\n")
        if self.on_deliver:
            enqueue = self._watched(target, message, enqueue)
        if self.delay_max_s <= 0:
            enqueue()
            return
        loop = asyncio.get_running_loop()
        release = max(
            self._last.get(sender, 0.0), loop.time() + self.rng.random() * self.delay_max_s
        )
        self._last[sender] = release
        self._held.setdefault(sender, deque()).append((release, enqueue))
        loop.call_at(release, self._release, sender)

    def _watched(
        self, target: str, message: object, enqueue: Callable[[], None]
    ) -> Callable[[], None]:
        def watched() -> None:
            for watch in self.on_deliver:
                watch(target, message)
            enqueue()

        return watched

    def _release(self, sender: str | None) -> None:
        held = self._held.get(sender)
        if not held:
            return
        now = asyncio.get_running_loop().time()
        while held and held[0][0] <= now:
            held.popleft()[1]()

    def held(self) -> int:
        """Messages delayed and not yet in a mailbox."""
        return sum(len(q) for q in self._held.values())
