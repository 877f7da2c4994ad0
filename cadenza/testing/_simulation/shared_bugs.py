"""Fencing bugs to inject into the shared journal, to show the shared world's checker can fail.

Each function patches one bug into `Leases` (the fence `PostgresJournal` and
the simulation's `SharedMemoryJournal` both run), or into the runtime's
`Partitions` (the inbox's acknowledgements), through a
`pytest.MonkeyPatch`-like object, and `BUGS` names the invariant the world's
checker must report for it and the budget of seeds within which it must.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from cadenza.actors import Reply
from cadenza.engine._messages import StartRun
from cadenza.engine.shared._inbox_codec import encode
from cadenza.persistence._codec import EncodedAppend
from cadenza.persistence._group import Ticket
from cadenza.persistence._journal import OwnershipLost
from cadenza.persistence._postgres_leases import Leases
from cadenza.persistence._postgres_schema import partition_of
from cadenza.runtime._partitions import Partitions
from cadenza.testing._simulation.bugs import Patcher


def skip_epoch_check(mp: Patcher) -> None:
    """The fence trusts the writer's own belief: a partition it thinks it holds is written,
    whatever the lease row says (no owner or epoch compared in the write's transaction)."""

    async def fence(
        self: Leases, conn: Any, batch: Sequence[Ticket[EncodedAppend]]
    ) -> list[Ticket[EncodedAppend]]:
        allowed = []
        for ticket in batch:
            partition = partition_of(ticket.item.stream_id)
            if partition in self.held:
                allowed.append(ticket)
            else:
                ticket.fail(OwnershipLost(ticket.item.stream_id, partition, None))
        return allowed

    mp.setattr(Leases, "fence", fence)


def skip_read_epoch(mp: Patcher) -> None:
    """The fence compares the lease row with the epoch held *now*, not the one the writer
    read the run under: state read before a partition was lost and taken back is written
    (the bug the shared world found first: a paused owner's in-flight batch, written once
    it took the partition back)."""
    original = Leases.fence

    async def fence(
        self: Leases, conn: Any, batch: Sequence[Ticket[EncodedAppend]]
    ) -> list[Ticket[EncodedAppend]]:
        twins = {id(t): _without_epoch(t) for t in batch}
        allowed = {id(t) for t in await original(self, conn, list(twins.values()))}
        for ticket in batch:
            error = twins[id(ticket)].error
            if error is not None:
                ticket.fail(error)
        return [t for t in batch if id(twins[id(t)]) in allowed]

    mp.setattr(Leases, "fence", fence)


def ack_when_posted(mp: Patcher) -> None:
    """A forwarded call is answered once its message is in the owner's inbox, not once the
    owner applied it (as before issue 17's acknowledgements): the owner's refusal is lost
    and a pause through one process, then a resume through another, can apply out of order
    (the `ack` check: a pause answered OK while the run's row is not PAUSED)."""
    original = Partitions.forward

    async def forward(self: Partitions, run_id: str, message: Any) -> bool:
        reply = getattr(message, "reply", None)
        encoded = encode(message)
        if isinstance(message, StartRun) or encoded is None or not isinstance(reply, Reply):
            return await original(self, run_id, message)
        await self.inbox.post(run_id, *encoded)
        reply.set(None)
        return True

    mp.setattr(Partitions, "forward", forward)


def refuse_unconfirmed(mp: Patcher) -> None:
    """A run's actor refuses a call from its state without confirming its lease (the bug the
    shared world's operators found first): an owner that lost its partition unawares answers
    "not paused" from stale state to a resume, and the run stays PAUSED."""

    async def confirm(self: Partitions, run_id: str, epoch: int) -> bool:
        return True

    mp.setattr(Partitions, "confirm", confirm)


def _without_epoch(ticket: Ticket[EncodedAppend]) -> Ticket[EncodedAppend]:
    item = replace(ticket.item, append=replace(ticket.item.append, epoch=None))
    return Ticket(item, ticket.number)


# name → (inject, the first violation kind the world must report, seeds budget)
BUGS: dict[str, tuple[Callable[[Patcher], None], str, int]] = {
    "skip_epoch_check": (skip_epoch_check, "stale_write", 3),
    "skip_read_epoch": (skip_read_epoch, "ended_changed", 25),
    "ack_when_posted": (ack_when_posted, "ack", 3),
}
