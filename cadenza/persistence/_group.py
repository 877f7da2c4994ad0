"""Group commit without a background task: the waiting appenders take turns writing.

Design note
-----------
`submit` puts a ticket on the pending list (FIFO) and then *drives*: if no
commit is in flight, this caller becomes the writer for one round — it takes
up to `batch_max` tickets from the front of the list, runs the commit
callback on them (shielded from cancellation, so a transaction is never left
half done) and wakes everybody waiting on that round. If a commit is in
flight, the caller waits for the round to end and looks again. Whatever
arrives while a commit is in flight therefore lands in the next round's
transaction, and one waiting appender (the first to wake) writes it. A
round starts with one yield before it takes its batch, so the appenders the
last round just woke queue their next records and join it, not trail it.

Why not a writer task: a task needs a task group that outlives `open()`, and
`open()` and `close()` are not always called from the same task (pytest
fixtures, services that open at startup and close in a signal handler). Here
every write runs in the task of an appender that is waiting anyway; nothing
can leak, and a round costs one wake-up per waiting appender.

Order: tickets are committed in submission order, so appends of one stream
issued one after another keep their order. A caller cancelled while its
ticket is still pending withdraws it (nothing written); once its ticket was
taken into a round, the round completes and the record may be durable.

`submit_many` queues a batch and has the next round take it whole (past
`batch_max` if need be), so the batch shares one transaction; each item
gets its own verdict (a round that fails is split by the commit callback).

`flush` waits until every ticket submitted before it is resolved, writing
rounds itself if nobody else does; it does not wait for later submissions.

`hold(members)` gathers a batch into one round (`Runtime.start_many`): while
held, no round starts; the hold lifts once every member has submitted its
ticket (or been forgone: its start failed before appending), and the next
round takes everything pending, past `batch_max` if need be, so the members
share one transaction.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Hashable, Sequence
from operator import attrgetter
from typing import Generic, TypeVar

import anyio
import anyio.lowlevel

from cadenza._errors import InternalError

T = TypeVar("T")
U = TypeVar("U")


class Ticket(Generic[T]):
    """One submitted item and, once its round ends, its seq or its error."""

    __slots__ = ("error", "item", "number", "seq")

    def __init__(self, item: T, number: int):
        self.item = item
        self.number = number
        self.seq: int | None = None
        self.error: BaseException | None = None

    @property
    def done(self) -> bool:
        return self.seq is not None or self.error is not None

    def succeed(self, seq: int) -> None:
        self.seq = seq

    def fail(self, error: BaseException) -> None:
        self.error = error


class Hold:
    """A batch gathered into one round: lifts once each member submitted or was forgone."""

    def __init__(self, members: Collection[Hashable]):
        self.waiting = set(members)
        self.lifted = anyio.Event()
        if not self.waiting:
            self.lifted.set()

    def arrived(self, member: Hashable) -> None:
        """`member` submitted its ticket, or will never submit one (`forgo`)."""
        self.waiting.discard(member)
        if not self.waiting:
            self.lifted.set()

    forgo = arrived


class GroupCommitter(Generic[T]):
    """Gathers submitted items into rounds; `commit` resolves every ticket of a round."""

    def __init__(
        self,
        commit: Callable[[list[Ticket[T]]], Awaitable[None]],
        *,
        batch_max: int,
        member: Callable[[T], Hashable] | None = None,
    ):
        if batch_max < 1:
            raise ValueError(f"batch_max must be at least 1, got {batch_max}")
        self._commit = commit
        self._batch_max = batch_max
        self._pending: list[Ticket[T]] = []
        self._round: anyio.Event | None = None  # set while a round is in flight
        self._inflight_first: int | None = None  # lowest ticket number in flight
        self._next_number = 1
        self._member = member  # which hold member an item belongs to
        self._hold: Hold | None = None
        self._whole = 0  # tickets the next round takes whole (a lifted hold's batch)

    @property
    def idle(self) -> bool:
        """Nothing pending and no round in flight."""
        return not self._pending and self._round is None

    async def submit(self, item: T) -> int:
        """Queue `item`, drive rounds until it is resolved; its seq, or raise its error."""
        ticket = Ticket(item, self._next_number)
        self._next_number += 1
        self._pending.append(ticket)
        if self._hold is not None and self._member is not None:
            self._hold.arrived(self._member(item))
        try:
            await self._drive(lambda: ticket.done)
        except BaseException:
            if not ticket.done:
                with contextlib.suppress(ValueError):
                    self._pending.remove(ticket)
            raise
        if ticket.error is not None:
            raise ticket.error
        if ticket.seq is None:  # pragma: no cover - `done` implies one of the two
            raise InternalError("a resolved ticket has neither seq nor error")
        return ticket.seq

    async def submit_many(self, items: Sequence[T]) -> list[int | Exception]:
        """Queue `items` for one round, drive rounds until each is resolved; each one's seq or
        its error, in order. Cancelled, it withdraws those still pending (nothing written)."""
        tickets = [Ticket(item, self._next_number + i) for i, item in enumerate(items)]
        self._next_number += len(tickets)
        self._pending.extend(tickets)
        self._whole = max(self._whole, len(self._pending))  # the next round takes them all
        if self._hold is not None and self._member is not None:
            for ticket in tickets:
                self._hold.arrived(self._member(ticket.item))
        resolved = 0

        def all_done() -> bool:
            nonlocal resolved
            while resolved < len(tickets) and tickets[resolved].done:
                resolved += 1
            return resolved == len(tickets)

        try:
            await self._drive(all_done)
        except BaseException:
            unresolved = {id(t) for t in tickets if not t.done}
            self._pending = [t for t in self._pending if id(t) not in unresolved]
            raise
        return [_verdict(ticket) for ticket in tickets]

    async def flush(self) -> None:
        """Return once every item submitted before this call is resolved."""
        last = self._next_number - 1

        def flushed() -> bool:
            if self._pending and self._pending[0].number <= last:
                return False
            return self._inflight_first is None or self._inflight_first > last

        await self._drive(flushed)

    @contextlib.asynccontextmanager
    async def hold(self, members: Collection[Hashable]) -> AsyncIterator[Hold]:
        """Hold rounds back until each of `members` submitted (or was forgone); see the note.

        Holds do not nest: a second one waits for the first to lift.
        """
        while self._hold is not None:
            await self._hold.lifted.wait()
        hold = self._hold = Hold(members)
        try:
            yield hold
        finally:
            hold.lifted.set()
            if self._hold is hold:
                self._hold = None
                self._whole = len(self._pending)

    async def _drive(self, done: Callable[[], bool]) -> None:
        while not done():
            hold = self._hold
            if hold is not None and not hold.lifted.is_set():
                await hold.lifted.wait()
            elif hold is not None:  # lifted: the round after it takes the batch whole
                self._hold = None
                self._whole = len(self._pending)
            elif self._round is None:
                await self._write_round()
            else:
                await self._round.wait()

    async def _write_round(self) -> None:
        this_round = self._round = anyio.Event()
        try:
            with anyio.CancelScope(shield=True):
                # Yield once before taking the batch: the appenders the last round
                # just woke queue their next records and join this round.
                await anyio.lowlevel.cancel_shielded_checkpoint()
                take = max(self._batch_max, self._whole)
                self._whole = 0
                batch = self._pending[:take]
                del self._pending[:take]
                if batch:  # empty only if every pending submitter withdrew meanwhile
                    self._inflight_first = batch[0].number
                    await self._commit_batch(batch)
        finally:
            self._round = None
            self._inflight_first = None
            this_round.set()

    async def _commit_batch(self, batch: list[Ticket[T]]) -> None:
        try:
            await self._commit(batch)
        except Exception as exc:  # a bug in the commit callback: fail the round
            for ticket in batch:
                if not ticket.done:
                    ticket.fail(exc)
        for ticket in batch:
            if not ticket.done:
                ticket.fail(InternalError("the commit left a ticket unresolved"))


def _verdict(ticket: Ticket[T]) -> int | Exception:
    if ticket.seq is not None:
        return ticket.seq
    error = ticket.error
    if isinstance(error, Exception):
        return error
    return InternalError(f"a ticket resolved without a seq: {error!r}")


async def submit_prepared(
    committer: GroupCommitter[T], items: Sequence[U], prepare: Callable[[U], T]
) -> list[int | Exception]:
    """`committer.submit_many` of each item `prepare`d; an item whose preparation raises (a
    payload that does not encode) gets that error and is not submitted."""
    prepared: list[T | Exception] = []
    for item in items:
        try:
            prepared.append(prepare(item))
        except Exception as exc:
            prepared.append(exc)
    submitted = [p for p in prepared if not isinstance(p, Exception)]
    verdicts = iter(await committer.submit_many(submitted) if submitted else [])
    return [p if isinstance(p, Exception) else next(verdicts) for p in prepared]


def stream_committer(
    commit: Callable[[list[Ticket[T]]], Awaitable[None]], batch_max: int
) -> GroupCommitter[T]:
    """A journal's committer: a hold's members are streams (each item's `stream_id`)."""
    return GroupCommitter(commit, batch_max=batch_max, member=attrgetter("stream_id"))
