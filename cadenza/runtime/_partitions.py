"""Several processes on one PostgreSQL journal: this process's partitions, kept and moved.

Design note
-----------
`Partitions` is the engine's `Ownership` (`cadenza.engine.shared._ownership`) for
a `Runtime` on a PostgreSQL URL (or on the simulation's shared in-memory
journal: any `SharedJournal` with an owner). The journal is fenced with this
process's owner name (`PostgresJournal(owner=...)`): runs hash to its
partitions and each write checks the partition's lease and epoch in its own
transaction.

- `joined()` (at open, before recovery): one balancing tick takes this
  process's even share of the free partitions, so recovery finds its runs.
- The heartbeat (`serving()`, every `lease_s / 3`, or just after the first
  lease another member holds runs out when that is sooner, `next_tick_in`;
  on the real clock: the leases live on the database's): one `balance` tick renews the leases,
  releases a surplus (a member joined) and takes free or expired partitions
  (a member left or died). A partition lost or released has its runs'
  actors dropped at once (a write of theirs in flight is refused by the
  fence); a partition taken has its stand-ins dropped, then its unfinished
  runs recovered — the same recovery as at open, restricted to it — which
  re-arms their timers here; then the engine's `takeover_hooks` run (the
  scheduler arms the partitions' schedules). A stale owner's timer fires
  into a stand-in (`_foreign`) and is dropped; one that raced the takeover
  is refused by the fence.
- The inbox (`_postgres_inbox`): a message for a run owned elsewhere is
  posted there (`forward`); this process applies its own partitions'
  messages in posting order, each once the run's actor has made it
  durable, then deletes them, writing the outcome of each message a caller
  waits for (`_forwarded`: the caller hears the owner's answer or refusal,
  as from a direct call). It is woken by LISTEN/NOTIFY, else polls. A
  message reaches its run's actor as `FromInbox`, whose id the actor
  journals with the message's effect (`Append.inbox_seen`): a message at or
  below its run's mark (`Inbox.applied_through`), applied by an owner that
  died before deleting it, is not applied again, and its poster hears what
  the first application answered. One no owner can read is set aside as a
  dead letter (`Unreadable`).
  Schedules' messages (`route`) go to the scheduler's actors.
- The shared worker-group queues (`_shared_tasks`, PostgreSQL only: the
  simulation's shared journal keeps each process's queues local): opened at `joined()`,
  written from `serving()` on, when local workers start pulling from them (`_pullers`).
"""

from __future__ import annotations

import contextlib
import os
import socket
import uuid
from collections import defaultdict
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import anyio

from cadenza._log import get_logger
from cadenza.actors import ActorRef, Reply
from cadenza.core._schedules import Schedule
from cadenza.engine._audit import rows_marked_ended
from cadenza.engine._host import Engine
from cadenza.engine._messages import FromInbox, GetRun
from cadenza.engine.schedules._actor import Control
from cadenza.engine.shared._inbox_codec import Unreadable, encode, readable
from cadenza.engine.shared._inbox_outcome import outcome_of_error, outcome_of_value, refusal_of
from cadenza.persistence import PostgresJournal
from cadenza.persistence._postgres_members import next_tick_in
from cadenza.persistence._postgres_schema import partition_of
from cadenza.persistence._shared import Posted, SharedJournal
from cadenza.runtime._forwarded import answered_when_applied
from cadenza.runtime._pullers import Pullers
from cadenza.runtime._shared_tasks import SharedTasks

log = get_logger("cadenza.runtime")

DROP_WAIT_S = 2.0  # how long a takeover waits for dropped actors to finish their batch


def owner_name() -> str:
    """A name no other process sharing the journal has: host, pid and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Partitions:
    """This process's share of a PostgreSQL journal's runs; see the module note."""

    def __init__(self, engine: Engine, journal: SharedJournal, lease_s: float):
        if journal.leases is None:
            raise ValueError("a journal shared by several processes needs an owner name")
        self.engine = engine
        self.journal = journal
        self.leases = journal.leases
        self.lease_s = lease_s
        engine.registry.shared = True  # others register too: read through, refresh each tick
        self.inbox = journal.open_inbox(poll_s=max(0.05, lease_s / 10))
        self.shared: SharedTasks | None = None  # the simulation's shared journal: local queues
        self.pullers: Pullers | None = None  # local workers taking from the shared queues
        if isinstance(journal, PostgresJournal):  # its worker-group queues, in the database
            self.shared = engine.shared = SharedTasks(engine, journal.url, owner=self.leases.owner)
            self.pullers = Pullers(engine, self.shared)
        self.applied = 0  # inbox messages applied here
        self.next_tick_s = lease_s / 3  # the heartbeat's pause (`next_tick_in`)
        self.dead_letters = 0  # inbox messages set aside here as unreadable (`Unreadable`)
        self.taken_over = 0  # partitions taken after open
        self.leases.on_lost = self._lost_in_round
        self.routes: dict[str, Callable[[str], ActorRef[Any]]] = {}  # see `route`

    # -- Ownership -------------------------------------------------------------

    def owns(self, run_id: str) -> bool:
        return partition_of(run_id) in self.leases.held

    def epoch_of(self, run_id: str) -> int | None:
        return self.leases.held.get(partition_of(run_id))

    def can_mint(self) -> bool:
        return bool(self.leases.held)

    async def joined(self) -> None:
        await self.inbox.open()
        if self.shared is not None:
            await self.shared.open()
        tick = await self.journal.balance(self.lease_s)
        self.next_tick_s = next_tick_in(self.lease_s, tick)  # sooner to take a dead one's
        log.info("partitions.joined", owner=self.leases.owner, members=len(tick.members),
                 held=len(self.leases.held))  # fmt: skip

    def serving(self) -> None:
        system = self.engine.system
        system.start_soon(self._heartbeat, name="partitions-heartbeat")
        system.start_soon(self._drain, name="partitions-inbox")
        if self.shared is not None and self.pullers is not None:
            self.shared.serving()
            self.pullers.serving()

    async def forward(self, run_id: str, message: Any) -> bool:
        encoded = encode(message)
        if encoded is None:
            return False
        awaited = isinstance(getattr(message, "reply", None), Reply)
        posted = await self.inbox.post(run_id, *encoded, awaited=awaited)
        if awaited:  # answered once the owner applied it, outside the stand-in's mailbox
            self.engine.system.start_soon(
                answered_when_applied, self.inbox, self.journal, posted, message, name="forwarded"
            )
        return True

    async def confirm(self, run_id: str, epoch: int) -> bool:
        await self.journal.renew(self.lease_s)  # a lease taken over: dropped (`on_lost`)
        return self.epoch_of(run_id) == epoch

    def route(self, prefix: str, target: Callable[[str], ActorRef[Any]]) -> None:
        """Inbox messages for streams whose id starts with `prefix` go to `target(stream_id)`
        (the scheduler's schedules), not to a run's actor."""
        self.routes[prefix] = target

    # -- the heartbeat ---------------------------------------------------------------

    def _lost_in_round(self, partition: int) -> None:
        self.engine.drop_runs(partition_of, {partition})

    async def _heartbeat(self) -> None:
        while True:
            await anyio.sleep(self.next_tick_s)
            try:
                await self.tick()
            except Exception as exc:  # the server away: the leases run out, others take over
                if self.engine.system.stopping:
                    return  # closing: the journal's close leaves gracefully
                log.warning("partitions.tick_failed", owner=self.leases.owner, error=repr(exc))

    async def tick(self) -> None:
        """One balancing tick: drop what moved away, take over what moved here."""
        tick = await self.journal.balance(self.lease_s)
        await self.engine.registry.refresh()  # new versions, changed task definitions
        gone = tick.lost | set(tick.released)
        if gone:
            self.engine.drop_runs(partition_of, gone)
        if tick.acquired:  # in the background: the heartbeat must not wait for recovery
            busy = self.engine.system.busy()  # `settle()` waits for the takeover from now on
            busy.__enter__()
            self.engine.system.start_soon(
                self._take_over, set(tick.acquired), busy, name="takeover"
            )

    async def _take_over(self, partitions: set[int], busy: AbstractContextManager[None]) -> None:
        """Recover the unfinished runs of `partitions`, just taken; then let `busy` go."""
        engine = self.engine
        try:
            engine.drop_runs(partition_of, partitions)  # stand-ins, or actors of an old epoch
            with anyio.move_on_after(DROP_WAIT_S):
                while engine.drop_runs(partition_of, partitions):  # noqa: ASYNC110 (no event)
                    await anyio.sleep(0.005)
            rows = await self.journal.unfinished_rows(partitions)
            rows += [
                row
                for row in await rows_marked_ended(self.journal)
                if partition_of(row.stream_id) in partitions
            ]
            self.taken_over += len(partitions)
            log.info("partitions.taken_over", owner=self.leases.owner,
                     partitions=sorted(partitions), runs=len(rows))  # fmt: skip
            await engine.recover(rows)
            for hook in engine.takeover_hooks:  # the schedules of `partitions`: armed here now
                await hook(lambda stream_id: partition_of(stream_id) in partitions)
            self.inbox.kick()  # the partitions' messages posted while nobody held them
        except Exception as exc:  # the journal away: give them back, for the next tick to retake
            # (not one run's failed recovery: that run is retried alone, `_recovery_retry`)
            log.error("partitions.takeover_failed", owner=self.leases.owner, error=repr(exc))
            with contextlib.suppress(Exception):
                await self.journal.release(partitions)
        finally:
            busy.__exit__(None, None, None)

    # -- the inbox -----------------------------------------------------------------

    async def _drain(self) -> None:
        try:
            while True:
                try:
                    await self.drain()
                    await self.inbox.wait()
                except Exception as exc:  # kept in the table: the next drain (or owner) applies
                    log.warning("partitions.inbox_failed", owner=self.leases.owner, error=repr(exc))
                    await anyio.sleep(self.inbox.poll_s)
        finally:
            await self.inbox.close()  # shielded: the runtime is closing

    async def drain(self) -> int:
        """Apply this process's partitions' inbox messages, each run's in order; how many."""
        posted = await self.inbox.take(self.leases.held)
        by_run: dict[str, list[Posted]] = defaultdict(list)
        for item in posted:
            by_run[item.run_id].append(item)
        through = await self.inbox.applied_through(by_run) if posted else {}
        applied: list[int] = []
        outcomes: dict[int, dict[str, Any]] = {}
        dead: dict[int, str] = {}

        async def apply(items: list[Posted]) -> None:
            for item in items:
                if not self.owns(item.run_id):
                    return  # moved on meanwhile: its new owner applies it
                outcome: dict[str, Any] | None
                try:
                    if item.id <= through.get(item.run_id, 0):  # its effect is in the journal
                        log.info("inbox.applied_before", run_id=item.run_id, id=item.id)
                        outcome = await self._answered_before(item)
                    else:
                        outcome = await self._apply(item)
                except Unreadable as exc:  # no owner ever can: set aside, the run goes on
                    log.error("inbox.dead_letter", run_id=item.run_id, id=item.id,
                              kind=item.kind, reason=exc.reason)  # fmt: skip
                    dead[item.id] = exc.reason
                    outcome = outcome_of_error(exc.error(item))
                except Exception as exc:  # its actor dropped, the journal away: kept, redone
                    log.warning("inbox.not_applied", run_id=item.run_id, error=repr(exc))
                    return
                applied.append(item.id)
                if item.awaited:
                    outcomes[item.id] = outcome or outcome_of_value(None)

        async with anyio.create_task_group() as tg:
            for items in by_run.values():
                tg.start_soon(apply, items)
        await self.inbox.done(applied, outcomes, dead)
        self.applied += len(applied) - len(dead)
        self.dead_letters += len(dead)
        return len(applied)

    def _target(self, item: Posted) -> ActorRef[Any]:
        """The actor that applies `item` (its run's or its schedule's; each journals the
        inbox id with the message's effect: `FromInbox`)."""
        for prefix, target in self.routes.items():
            if item.run_id.startswith(prefix):
                return target(item.run_id)
        if item.kind.startswith("schedule_"):  # kept for the next drain: the scheduler opens
            raise LookupError(f"no scheduler open here yet for {item.run_id!r}")
        return self.engine.run(item.run_id)

    async def _answered_before(self, item: Posted) -> dict[str, Any]:
        """The outcome of `item`, applied (its effect journaled) by an owner that died before
        deleting it: what that application answered, as the journal tells it. A start: its
        run; a schedule's trigger or backfill: the runs its ticks made (the schedule's recent
        ticks); anything else answered None."""
        wants = {"schedule_control": "triggered", "schedule_backfill": "backfilled"}
        result = wants.get(item.kind)
        if item.kind == "start":
            return outcome_of_value(item.run_id)
        if result is None or (result == "triggered" and item.body.get("what") != "trigger"):
            return outcome_of_value(None)
        view: Schedule | None = await self._target(item).ask(lambda r: Control("get", r))
        ticks = [t for t in (view.recent if view is not None else ()) if t["result"] == result]
        if result == "triggered":
            return outcome_of_value(ticks[-1]["run_id"] if ticks else None)
        start, end = item.body["start"], item.body["end"]
        return outcome_of_value([t["run_id"] for t in ticks if start <= t["at"] <= end])

    async def _apply(self, item: Posted) -> dict[str, Any] | None:
        """Apply `item` as a direct call on its run (or schedule) would be; its outcome (None
        for a message nobody answers). Raises what is no answer (`refusal_of`): kept, redone."""
        ref = self._target(item)
        reply: Reply[Any] = Reply()
        message = await readable(item, reply, self.engine.registry.by_digest)
        await ref.tell(FromInbox(message, item.id))
        if getattr(message, "reply", None) is None:
            await ref.ask(GetRun)  # a barrier: answered once the message's batch is durable
            return None
        try:
            return outcome_of_value(await reply)
        except Exception as exc:
            refused = refusal_of(exc)
            if refused is None:
                raise
            log.info("inbox.refused", run_id=item.run_id, kind=item.kind, error=str(exc))
            return outcome_of_error(refused)
