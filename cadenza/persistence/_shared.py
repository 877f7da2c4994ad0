"""What a journal shared by several processes offers beyond `Journal`: leases and an inbox.

Design note
-----------
A journal several processes write (PostgreSQL; the simulation's in-memory
`SharedMemoryJournal`) is fenced by partition: each process holds leases,
each with an epoch, and every append checks its partition's lease and epoch
in the same atomic step as the write (`OwnershipLost` otherwise). The
runtime's `Partitions` (`cadenza.runtime._partitions`) drives it through
this interface only, so the simulation runs the very same heartbeat,
takeover and inbox code as a process on PostgreSQL:

- `leases`: the owner's name, the partitions held and the epochs they were
  taken at, `on_lost` (`_postgres_leases.Leases`);
- `balance(lease_s)`: one membership tick (heartbeat, renew, even share;
  `_postgres_members`); `renew(lease_s)`: extend the held leases alone
  (and learn which were taken over); `release(partitions)`: give
  partitions back;
- `unfinished_rows(partitions)`: the held partitions' unfinished runs;
- `open_inbox(poll_s)`: the inbox of messages for runs owned elsewhere
  (`Inbox`: posted in order, taken by partition, deleted once applied,
  `wait` woken by a post or after `poll_s`). A message posted `awaited`
  gets an outcome row, written by its owner in the same step that deletes
  the message (`done`): what the owner's call answered, or the error it
  raised (`cadenza.engine.shared._inbox_outcome`). The poster waits for it
  (`outcome`, woken by a notification, else polling every `poll_s`), and
  taking it deletes it; one nobody took (its poster gave up or died) is
  deleted `OUTCOME_TTL_S` after it was written, by a later `done`.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import anyio

from cadenza.persistence._journal import Journal, StreamInfo
from cadenza.persistence._postgres_leases import Leases
from cadenza.persistence._postgres_members import Balance


@dataclass(frozen=True, slots=True)
class Posted:
    """One message in the inbox, as posted."""

    id: int
    run_id: str
    kind: str
    body: dict[str, Any]
    awaited: bool = False  # its poster waits for the outcome (`Inbox.outcome`)
    unreadable: str | None = None  # why its body is not JSON (then `body` is empty)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message no owner could read, set aside (`Inbox.done(dead=...)`) with the reason."""

    posted: Posted
    reason: str


def read_body(text: str) -> tuple[dict[str, Any], str | None]:
    """An inbox row's body: (the JSON object, None), or ({}, why it is not one)."""
    try:
        body = json.loads(text)
    except ValueError as exc:
        return {}, f"its body is not JSON ({exc})"
    if not isinstance(body, dict):
        return {}, f"its body is not a JSON object but {type(body).__name__}"
    return body, None


OUTCOME_TTL_S = 3600.0  # an outcome nobody took is deleted this long after it was written


class Inbox(ABC):
    """Messages for runs another process owns; see `_postgres_inbox` for the promises."""

    poll_s: float

    @abstractmethod
    async def open(self) -> None:
        """Connect and start listening for posts."""

    @abstractmethod
    async def close(self) -> None:
        """Stop listening (idempotent)."""

    @abstractmethod
    async def post(
        self, run_id: str, kind: str, body: dict[str, Any], *, awaited: bool = False
    ) -> int:
        """Post a message for `run_id`; its id once durable (and its owner woken).

        `awaited`: the owner writes the message's outcome when it applied it
        (`done`), for `outcome(id)`."""

    @abstractmethod
    async def take(self, partitions: Iterable[int], limit: int = 1000) -> list[Posted]:
        """The oldest messages of runs of `partitions`, in posting order."""

    @abstractmethod
    async def done(
        self,
        ids: Sequence[int],
        outcomes: Mapping[int, dict[str, Any]] | None = None,
        dead: Mapping[int, str] | None = None,
    ) -> None:
        """Delete applied messages and, in the same step, write the `outcomes` of the awaited
        ones (by message id) and wake their posters; drop outcomes older than
        `OUTCOME_TTL_S`. The `dead` ones (id → why no owner can apply it; among `ids`) are
        moved to the dead letters instead of deleted: kept for an operator, never retried."""

    @abstractmethod
    async def applied_through(self, run_ids: Iterable[str]) -> dict[str, int]:
        """For each of `run_ids` that has one, the highest inbox message id whose effect its
        journal holds (`Append.inbox_seen`): a message of that run at or below it was
        applied, whether or not its row was deleted after."""

    @abstractmethod
    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """The messages set aside as unreadable, oldest first."""

    @abstractmethod
    async def outcome(self, id: int) -> dict[str, Any]:
        """Wait for the outcome of awaited message `id` and take it (it is deleted).

        Waits as long as it takes (a message whose owner died waits for the
        partition's next owner): a caller bounds it with its own timeout or
        cancels it. Raises what the database connection raises only after
        the connection is closed; a failed read is retried at the next poll.
        """

    @abstractmethod
    async def size(self) -> int:
        """How many messages wait, all partitions."""

    @abstractmethod
    async def wait(self) -> None:
        """Return once a post was heard since the last wait, or after `poll_s`."""

    @abstractmethod
    def kick(self) -> None:
        """Make the current (or next) `wait` return at once."""


class SharedJournal(Journal):
    """A `Journal` several processes share, fenced by partition leases; see the module note.

    `leases` is None for a journal opened without an owner (it is then its
    database's one writer and holds no partitions).
    """

    leases: Leases | None

    @abstractmethod
    async def balance(self, lease_s: float) -> Balance:
        """One membership tick: heartbeat, renew, then release or take up to an even share."""

    @abstractmethod
    async def renew(self, lease_s: float) -> set[int]:
        """Extend the held leases (those nobody took); the partitions found taken over (dropped
        from `leases.held`, each reported to `leases.on_lost`)."""

    @abstractmethod
    async def release(self, partitions: Iterable[int] | None = None) -> list[int]:
        """Flush, then give held partitions (default: all) back at once; those released."""

    @abstractmethod
    async def unfinished_rows(self, partitions: Iterable[int] | None = None) -> list[StreamInfo]:
        """The unfinished streams' rows; a fenced journal's: its held partitions' (of those)."""

    @abstractmethod
    def open_inbox(self, poll_s: float) -> Inbox:
        """A new, unopened inbox on this journal's database, polled every `poll_s` at worst."""


async def taken_outcome(
    wakes: dict[int, anyio.Event],
    id: int,
    poll_s: float,
    take: Callable[[], Awaitable[str | None]],
) -> dict[str, Any]:
    """Awaited message `id`'s outcome, once `take()` finds it (its JSON text; None: not yet).

    `take` is tried at once, then whenever `wakes[id]` is set (a notification
    for `id`) or `poll_s` has passed; what it raises ends the wait. Both
    inboxes (`_postgres_inbox`, `_shared_memory_inbox`) wait this way.
    """
    wake = wakes[id] = anyio.Event()
    try:
        while True:
            body = await take()
            if body is not None:
                decided: dict[str, Any] = json.loads(body)
                return decided
            with anyio.move_on_after(poll_s):
                await wake.wait()
            wake = wakes[id] = anyio.Event()
    finally:
        wakes.pop(id, None)
