"""How a run's actor makes a batch durable before it acts on it.

Design note
-----------
`DurableBatches` is a part the run's actor owns, between handling and
acting. Handling a batch changes only the actor's in-memory state; its
effects (`_effects`) wait until the batch's one record is durable. So a
commit that fails transiently (`JournalWriteError.transient`) is simply
redone: the state is reloaded from the journal, which never saw the batch,
and the same messages are handled again after a backoff — nothing is lost
and nothing is told twice. Memory and disk cannot diverge.

The backoff doubles from `COMMIT_BACKOFF_S` up to `COMMIT_BACKOFF_MAX_S`,
each delay scaled by a random factor in [0.5, 1.5) (jitter, from the
runtime's seed), so runs that failed together do not retry together.

A result is kept until it is durable (issue 13): a message nobody waits on
— a local worker's result, a wake-up, a child's end — is redone for as long
as the failure is transient, however long the disk stays full. A caller
who waits (a start, an external worker's `complete`, an operation) gets
the `JournalWriteError` after `COMMIT_ATTEMPTS` failed commits and can
retry; its message is dropped and the rest of the batch carries on. A
waiter for the run's end stays. While the actor waits out a back-off, the
run is in `RunServices.retrying`, and `Runtime.get` reads it from the
journal instead of queueing behind the retry (its durable state is what
the actor would answer: nothing of the failed batch was acted on). A failure that is not transient (the
journal's process is gone) crashes the actor: its callers get the error,
the kernel restarts it, and the fresh incarnation reloads from the journal.
The reload after a failed commit is itself retried after a back-off while
the journal cannot be read (the same outage), never crashing the actor:
the batch's messages (a local worker's result) would die with it.

With several processes on one journal, a batch that only refuses (an
operation the run's state refuses, a stale attempt's result) writes
nothing, so no fence checks it: before such refusals are answered, the
lease the state was read under is confirmed with the database
(`Ownership.confirm`); an owner that lost it unawares answers
`OwnershipLost` instead of a refusal from stale state.

A start whose idempotency key another process's run took after the
caller's lookup (`DuplicateKey` from the journal, which wrote nothing) is
refused as a whole: the state goes back to what the journal holds (no run)
and its callers get the `DuplicateKey`, whose holder the start answers.

A batch's record holds its events, the run's current-state row and, every
`SNAPSHOT_EVERY` events or at the end, a snapshot of the state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from time import perf_counter
from typing import Any, Protocol

from cadenza._errors import InvalidOperation, JournalCorrupted, NotFound
from cadenza._log import get_logger
from cadenza.actors import Reply
from cadenza.actors._clock import sleep_until
from cadenza.core._events import Event
from cadenza.core._state import WorkflowState
from cadenza.engine._messages import WaitRun
from cadenza.engine.run._effects import Effect
from cadenza.engine.run._services import RunServices
from cadenza.persistence import (
    Append,
    DuplicateKey,
    JournalWriteError,
    OwnershipLost,
    StreamInfo,
)
from cadenza.persistence._postgres_schema import partition_of

log = get_logger("cadenza.engine")

COMMIT_ATTEMPTS = 8  # failed commits before the callers of a batch get the error
COMMIT_BACKOFF_S = 0.01  # then 0.02, 0.04, ... (about 1.3 s in COMMIT_ATTEMPTS)
COMMIT_BACKOFF_MAX_S = 5.0  # the longest pause between two commits of a kept batch
SNAPSHOT_EVERY = 64  # events between snapshots of a long-running run


@dataclass(slots=True)
class Batch:
    """What handling one batch of messages produced."""

    events: list[Event] = field(default_factory=list)
    answers: list[tuple[Reply[Any], Any]] = field(default_factory=list)
    effects: list[Effect] = field(default_factory=list)
    recovering: bool = False
    inbox_seen: int | None = None  # the forwarded message it applied (`Append.inbox_seen`)


class BatchHandler(Protocol):
    """What `DurableBatches` needs from the run's actor that owns it."""

    def handle_all(self, messages: list[Any], now: float) -> Batch:
        """Handle the batch at `now`, changing only the actor's memory."""
        ...

    async def journal(self, batch: Batch) -> None:
        """Append the batch's events as one record (raises `JournalWriteError`)."""
        ...

    async def redo(self) -> None:
        """Put the actor back as the journal has it (a commit failed)."""
        ...


class DurableBatches:
    """Commits one run's batches, redoing a batch whose commit failed; see the module note."""

    def __init__(self, run_id: str, services: RunServices, handler: BatchHandler):
        self.run_id = run_id
        self.services = services
        self.handler = handler
        self.since_snapshot = 0
        self.held_timers: dict[str, int] = {}  # this run's share of the per-type timer counts
        self.epoch: int | None = None  # the lease epoch the state was read under (`Append.epoch`)

    def loaded(self, events_since_snapshot: int, timers: dict[str, int]) -> None:
        """The run was loaded with these many events after its snapshot, holding `timers`."""
        self.since_snapshot = events_since_snapshot
        self.held_timers = timers  # counted already, by the engine

    async def handle_durably(self, messages: list[Any]) -> Batch:
        """Handle `messages` and journal the batch; on a transient commit failure, redo it.

        Past `COMMIT_ATTEMPTS`, the messages a caller waits on are failed with
        the error and the rest is redone until it is durable (module note). A
        failure that is not transient is raised (the actor crashes).
        """
        try:
            return await self._handle_durably(messages)
        finally:
            self.services.retrying.discard(self.run_id)

    async def _handle_durably(self, messages: list[Any]) -> Batch:
        handler = self.handler
        attempt = 0
        while True:
            attempt += 1
            now = self.services.clock.now()
            batch = handler.handle_all(messages, now)
            if not batch.events:
                if self.epoch is not None and any(_refused(a) for _r, a in batch.answers):
                    await self._confirm_refusals(batch)
                return batch
            try:
                await handler.journal(batch)
                return batch
            except DuplicateKey as taken:  # another process's start of the key committed first
                await self._redo(attempt)
                return _refused_whole(batch, taken)
            except JournalWriteError as exc:
                if not exc.transient:
                    raise
                log.warning(
                    "run.commit_retried", run_id=self.run_id, attempt=attempt, error=str(exc)
                )
                if attempt >= COMMIT_ATTEMPTS:
                    messages = _kept(messages, exc)
                self.services.retrying.add(self.run_id)  # reads of it go to the journal
                await sleep_until(self.services.clock, now + self._backoff_s(attempt))
                await self._redo(attempt)
                if not messages:
                    return Batch()

    async def _confirm_refusals(self, batch: Batch) -> None:
        """Refusals decided on state read under lease `epoch` stand only if the lease is still
        ours at it: a refusal writes nothing, so no fence checks it, and an owner that lost
        its lease unawares (paused, cut off) holds stale state. Else each becomes the
        `OwnershipLost` (or the error the check met): the caller asks again, elsewhere."""
        ownership, epoch = self.services.ownership, self.epoch
        if ownership is None or epoch is None:
            return
        error: Exception
        try:
            if await ownership.confirm(self.run_id, epoch):
                return
            error = OwnershipLost(self.run_id, partition_of(self.run_id), epoch)
        except Exception as exc:  # the database away: the refusal cannot be vouched for
            error = exc
        batch.answers[:] = [(r, error if _refused(a) else a) for r, a in batch.answers]

    async def _redo(self, attempt: int) -> None:
        """`handler.redo()`, again after a back-off while the journal cannot be read either.

        A read that fails for a reason other than damage (the journal away: the
        same outage that failed the commit) must not crash the actor: the
        batch's messages (a local worker's result) would be lost with it.
        """
        while True:
            try:
                await self.handler.redo()
                return
            except JournalCorrupted:
                raise
            except Exception as exc:
                attempt += 1
                log.warning(
                    "run.reload_retried", run_id=self.run_id, attempt=attempt, error=repr(exc)
                )
                now = self.services.clock.now()
                await sleep_until(self.services.clock, now + self._backoff_s(attempt))

    def _backoff_s(self, attempt: int) -> float:
        base = min(COMMIT_BACKOFF_MAX_S, COMMIT_BACKOFF_S * 2.0 ** min(attempt - 1, 30))
        return base * (0.5 + self.services.jitter.random())

    def record(
        self,
        state: WorkflowState,
        events: list[Event],
        row: StreamInfo,
        *,
        inbox_seen: int | None = None,
    ) -> Append:
        """`events` with the run's `row` (and a snapshot when due) as one record to append."""
        self.since_snapshot += len(events)
        snapshot = None
        if state.status.terminal or self.since_snapshot >= SNAPSHOT_EVERY:
            snapshot = state.to_json()
            self.since_snapshot = 0
        return Append(
            info=row,
            events=[event.to_json() for event in events],
            snapshot=snapshot,
            epoch=self.epoch,
            inbox_seen=inbox_seen,
        )

    async def commit(self, state: WorkflowState, events: list[Event], append: Append) -> None:
        """Append the `record` made of `events` (raises what the journal raises)."""
        began = perf_counter()
        await self.services.journal.append(append)
        self.committed(state, events, append.info, perf_counter() - began)

    def committed(
        self, state: WorkflowState, events: list[Event], row: StreamInfo, took_s: float
    ) -> None:
        """The record of `events` with `row` is durable, its commit took `took_s`."""
        if (observer := self.services.observer) is not None:
            observer.committed(state, events, took_s)
        held = dict(row.timers or {})
        if held != self.held_timers:  # the per-type timer counts follow what is durable
            self.services.count_timers(self.run_id, self.held_timers, held)
            self.held_timers = held


def _refused(answer: Any) -> bool:
    return isinstance(answer, (InvalidOperation, NotFound))  # StaleTask is an InvalidOperation


def _refused_whole(batch: Batch, error: Exception) -> Batch:
    """The batch the journal refused as a whole: nothing of it happened; its callers get `error`."""
    return Batch(answers=[(reply, error) for reply, _answer in batch.answers])


def _kept(messages: list[Any], error: JournalWriteError) -> list[Any]:
    """Fail the messages a caller waits on with `error`; the others, to redo until durable."""
    kept = []
    for message in messages:
        reply = getattr(message, "reply", None)
        if isinstance(reply, Reply) and not isinstance(message, WaitRun):
            reply.fail(error)
        else:
            kept.append(message)
    return kept
