"""External workers on a shared PostgreSQL journal: one queue per group for every process.

Design note
-----------
`SharedTasks` is the engine's `SharedDispatch` (`cadenza.engine.shared._ownership`)
for a `Runtime` on a PostgreSQL URL. Its table and claims are
`cadenza.persistence._postgres_queue`; this module wires them to the runtime:

- **Posting.** A task its run made durable reaches its worker group, which
  hands it here unless a local worker of that group serves its type
  in this process (`offer`). Posts and voids (a task withdrawn — cancelled, terminated
  — or ended) are written by one background loop in the order they were
  made, consecutive ones of a kind in one statement; `settle()` waits for
  them. The post is *not* in the journal record's transaction (the run's
  batch commits through the group committer, shared with other runs): if the
  process dies between the commit and the post, the run's new owner
  recovers it and queues its SCHEDULED tasks again (an IN_PROGRESS one
  whose worker still holds its row stays that worker's: `adopt`). A post is
  fenced with this process's lease on the run's partition at the epoch the
  task was offered under (`SharedQueue.push`): one written after the run
  moved away writes nothing, and a task offered once it moved is dropped
  here (its new owner recovers it).
- **Polling** (`poll`): any process claims the group's next task in global
  order (priority, then age) with the TaskDef's global limits
  (concurrentExecLimit, rateLimitPerFrequency / rateLimitFrequencyInSeconds)
  and a lease of its responseTimeoutSeconds (`DEFAULT_LEASE_S` without a
  TaskDef), then tells the run's owner the task started (through the inbox
  if another process owns it). A start its run refuses (the task ended
  meanwhile) voids the row and the next is claimed. Leases that ran out are
  reaped first (at most every `REAP_EVERY_S` per group and type): their
  owners time the attempts out (`engine.run._requeue`). A waiting poll looks
  again when any process posts tasks (one `NOTIFY cadenza_queue` per
  flush, heard on a LISTEN connection of this process: `kick`), else after
  5 ms doubling to `POLL_PAUSE_MAX_S`. `take` is the claim itself, shared
  with the local workers that pull from these queues (`_pullers`).
- **Results** (`report`): a completion or failure removes the task's row —
  in the same transaction that puts the result in the owner's inbox when
  another process owns the run — and a heartbeat extends its lease. A row
  whose lease ran out refuses both: `StaleTask`, whichever process the old
  worker calls. (A heartbeat stops there: the owner holds no lease of its
  own on a shared task.) The owner voids a row when its task ends any other
  way (a timeout, a cancel), for the tasks it posted or kept (`adopt`) —
  after a takeover, recovery posts every open task of a type no local
  worker serves again. A task with no row (served locally, or finished
  already) is checked against the journal when its run is owned elsewhere,
  then routed as on one process.
- **Takeovers** (`adopt`, issue 17's "double run"): a run recovered here (at
  open, or on taking its partition over) may have rows an earlier owner
  posted. Before recovery queues anything, `adopt` deletes, in one
  statement for all the recovered runs, their unclaimed rows of the
  (group, type) pairs a local worker serves here: those tasks then run
  locally, once. Every other row of theirs is *kept*: a claimed one stays
  its worker's (its result or its reaped lease reaches the owner as
  before), a lapsed one awaits its `lapsed` message, and so does a task
  whose result waits in the inbox (its row is gone); recovery leaves such a
  task in progress (`holds`). A kept task is neither queued locally nor
  posted again (`offer` takes it and does nothing) until it is voided —
  it ended, or went back to its queue after its lease lapsed — and is then
  routed afresh. A fresh task
  of a locally served type costs nothing more: one lookup in memory.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
import uuid
from collections.abc import Awaitable, Callable, Collection, Sequence
from contextlib import AbstractContextManager
from typing import Any

import anyio

from cadenza._errors import InvalidOperation, NotFound, StaleTask
from cadenza._log import get_logger
from cadenza.actors import Reply
from cadenza.core._status import TaskStatus
from cadenza.core._system_tasks import SYSTEM_GROUP
from cadenza.dispatch._messages import Poll, QueuedTask, TaskStartedMsg
from cadenza.engine._host import Engine
from cadenza.engine._messages import GetRun, Heartbeat
from cadenza.engine.shared._inbox_codec import encode
from cadenza.persistence._postgres_queue import Limits, QueuedRow, SharedQueue
from cadenza.runtime._shared_watch import SharedWatch

log = get_logger("cadenza.runtime")

DEFAULT_LEASE_S = 3600.0  # Conductor's default responseTimeoutSeconds, for a type with no TaskDef
REAP_EVERY_S = 1.0
POLL_PAUSE_MAX_S = 0.1  # a waiting poll looks again at least this often


class _Again:
    """A look's answer (`AGAIN`): nothing handed out, but look again at once."""


AGAIN = _Again()
POLL_NOTED_EVERY_S = 1.0  # how often a process records that it polls a group and type
RAN_OUT = "its lease on the shared queue ran out: no result or heartbeat within its lease"
_OPEN = (TaskStatus.SCHEDULED, TaskStatus.IN_PROGRESS)


class SharedTasks:
    """The shared worker-group queues of one process; see the module note."""

    def __init__(self, engine: Engine, url: str, *, connections: int = 4, owner: str | None = None):
        self.engine = engine
        self.owner = owner  # this process's lease owner name: posts are fenced with it
        self.queue = SharedQueue(url, connections=connections)
        self.reap_every_s = REAP_EVERY_S
        self.posted = 0  # tasks this process posted
        self.handed = 0  # tasks this process's polls handed out
        self._ops: list[tuple[str, Any]] = []  # ("push", QueuedRow) | ("void", task id), in order
        self._more = anyio.Event()
        self._added = 0  # ops made, and written, so far (a poll waits for this process's posts)
        self._written = 0
        self._wrote = anyio.Event()
        self._busy: AbstractContextManager[None] | None = None
        self._reaped: dict[tuple[str, str], float] = {}
        self._open: dict[str, tuple[str, QueuedTask]] = {}  # posted here, not voided since
        self._kept: dict[str, str] = {}  # task id -> run id: a row `adopt` left (see the note)
        self.watch = SharedWatch(self)  # their depth and the types nobody polls
        self._wake = anyio.Event()  # set (and replaced) by `kick`
        self._heard = 0  # kicks: posts heard, slots freed
        self._noted: dict[tuple[str, str], float] = {}
        self.listening = True

    async def open(self) -> None:
        await self.queue.open()
        self.listening = await self.queue.listen(self.kick)

    def serving(self) -> None:
        self.engine.system.start_soon(self._write, name="shared-queue")
        self.watch.serving()

    def posted_here(self) -> dict[str, tuple[str, QueuedTask]]:
        """The tasks this process posted and has not voided: task id -> (group, task)."""
        return self._open

    def waiting(self) -> list[tuple[str, str, float]]:
        """(task type, group, ready at) of each task this process posted that no worker held
        at the last look (`SharedWatch`): what `cadenza_queue_depth` adds to its groups'."""
        return self.watch.waiting

    # -- SharedDispatch: what this process's runs post and void ----------------------

    def offer(self, group: str, task: QueuedTask) -> bool:
        """Post `task` (True) unless a local worker of `group` serves its type here and no
        row an earlier owner posted for it is left (`adopt`)."""
        if task.task_id in self._kept:
            return True  # its row, or its result in the inbox, is where it stays
        if not self.engine.share_of(task.type, group):
            return False
        epoch = self.engine.epoch_of(task.run_id)
        if epoch is None and self.owner is not None:
            return True  # the run moved away: its new owner recovers the task
        row = QueuedRow(
            task.task_id, group, task.type, task.priority, task.run_id,
            dataclasses.asdict(task), epoch or 0,
        )  # fmt: skip
        self._open[task.task_id] = (group, task)
        self._add(("push", row))
        return True

    def void(self, task_id: str) -> None:
        kept = self._kept.pop(task_id, None)  # ended or back in its queue: routed afresh
        posted = self._open.pop(task_id, None)  # posted here (recovery offers open tasks again)
        if posted is not None or kept is not None:
            self._add(("void", task_id))

    async def adopt(self, run_ids: Sequence[str]) -> None:
        """Runs about to be recovered here: delete their unclaimed rows of the types local
        workers serve here, keep the others' tasks off the local groups (module note).
        Raises what the database raises (the recovery fails and is redone)."""
        served = [  # (not a limited type's: its tasks go through the queue wherever served)
            (g, t)
            for t, g in self.engine._worker_groups.items()
            if g != SYSTEM_GROUP and not self.engine.share_of(t, g)
        ]
        taken, kept = await self.queue.adopt(run_ids, served)
        runs = set(run_ids)
        for task_id in [t for t, r in self._kept.items() if r in runs]:
            del self._kept[task_id]  # as the rows are now
        self._kept.update(kept)
        if taken or kept:
            log.info("shared_queue.adopted", runs=len(runs), removed=len(taken), kept=len(kept))

    def holds(self, task_id: str) -> bool:
        """True while `task_id` is kept by the shared queue since `adopt` (module note)."""
        return task_id in self._kept

    def _add(self, op: tuple[str, Any]) -> None:
        self._ops.append(op)
        self._added += 1
        if self._busy is None:  # `settle()` waits until the loop wrote it
            self._busy = self.engine.system.busy()
            self._busy.__enter__()
        self._more.set()

    async def _write(self) -> None:
        try:
            while True:
                await self._more.wait()
                self._more = anyio.Event()
                await self._flush()
        finally:
            with anyio.CancelScope(shield=True), anyio.move_on_after(2.0):
                with contextlib.suppress(Exception):  # closing: what is left, the next owner redoes
                    await self._flush()
                await self.queue.close()

    async def _flush(self) -> None:
        """Write the ops in hand, in order, consecutive ones of a kind together; keep them
        on failure (the server away) and try again."""
        pause = 0.05
        while self._ops:
            kind = self._ops[0][0]
            run = 0
            while run < len(self._ops) and self._ops[run][0] == kind:
                run += 1
            items = [item for _kind, item in self._ops[:run]]
            try:
                if kind == "push":
                    await self.queue.push(items, self.owner)
                    self.posted += len(items)
                else:
                    await self.queue.withdraw(items)
            except Exception as exc:
                if self.engine.system.stopping:
                    raise
                log.warning("shared_queue.write_failed", kind=kind, rows=run, error=repr(exc))
                await anyio.sleep(pause)
                pause = min(1.0, pause * 2)
                continue
            del self._ops[:run]
            self._written += run
            self._wrote.set()
            self._wrote = anyio.Event()
        if self._busy is not None:
            busy, self._busy = self._busy, None
            busy.__exit__(None, None, None)

    # -- polls -------------------------------------------------------------------------

    async def poll(
        self, group: str, task_type: str, worker_id: str | None, wait_s: float
    ) -> QueuedTask | None:
        """The group's next task of `task_type` in global order, leased to the caller; None
        if none came within `wait_s` seconds (real time: the leases are the database's)."""
        await self._caught_up(group, task_type, worker_id)
        unread: set[str] = set()  # runs whose state could not be read for this poll

        async def look() -> QueuedTask | _Again | None:
            claimed = await self.take(group, task_type, worker_id, skip_runs=unread)
            for task in claimed:
                if await self.started(task, worker_id, unread):
                    self.handed += 1
                    return task
            return AGAIN if claimed else None  # each voided or skipped: the next, at once

        return await self.until_found(look, wait_s)

    async def until_found(
        self, look: Callable[[], Awaitable[QueuedTask | _Again | None]], wait_s: float
    ) -> QueuedTask | None:
        """`look()` until it finds a task, or None once `wait_s` seconds (real time) ran out:
        after a miss, until a post is heard (`kick`) or a pause passes, doubling from 5 ms to
        `POLL_PAUSE_MAX_S`; a look answering `AGAIN` is made again at once."""
        deadline = time.monotonic() + wait_s
        pause = 0.005
        while True:
            wake = self.waker()  # a post heard from now on ends the pause below
            found = await look()
            if isinstance(found, _Again):
                continue
            left = deadline - time.monotonic()
            if found is not None or left <= 0:
                return found
            await self.wait(min(pause, left), wake)
            pause = min(POLL_PAUSE_MAX_S, pause * 2)

    async def take(
        self,
        group: str,
        task_type: str,
        worker_id: str | None,
        limit: int = 1,
        *,
        skip_runs: Collection[str] = (),
    ) -> list[QueuedTask]:
        """Claim up to `limit` of the group's next tasks of `task_type` in global order,
        under the TaskDef's lease and global limits (leases that ran out reaped first), none
        of a run in `skip_runs` nor of one whose recovery keeps failing here (`unrecovered`);
        the caller tells each run its task started (`started`)."""
        await self.note_poll(group, task_type)
        lease_s, limits = self._terms(task_type)
        claimer = f"{worker_id or 'worker'}#{uuid.uuid4().hex[:12]}"
        await self._reap(group, task_type)
        skipped = [*skip_runs, *self.engine.recovery.unrecovered]
        claimed = await self.queue.claim(
            group, task_type, claimer, lease_s, limit=limit, limits=limits, skip_runs=skipped
        )
        return [QueuedTask(**row.body) for row in claimed]

    def kick(self) -> None:
        """Wake every waiting poll and puller: there may be work (a post heard, a slot freed)."""
        self._heard += 1
        wake, self._wake = self._wake, anyio.Event()
        wake.set()

    def waker(self) -> anyio.Event:
        """The event the next `kick` sets: take it before looking, wait on it after."""
        return self._wake

    async def wait(self, timeout_s: float, wake: anyio.Event | None = None) -> None:
        """Return once `wake` (taken with `waker()` before looking; default: now) is set by
        a `kick`, or after `timeout_s`; listen again if the listening connection dropped
        (polling covers for it meanwhile)."""
        wake = self._wake if wake is None else wake
        if not await self.queue.listen(self.kick):
            self.listening = False
        with anyio.move_on_after(timeout_s):
            await wake.wait()

    async def note_poll(self, group: str, task_type: str) -> None:
        """Record, at most every `POLL_NOTED_EVERY_S` per pair, that this process polled the
        group and type (the unserved-type warning reads it, for every process)."""
        now = time.monotonic()
        if now - self._noted.get((group, task_type), -POLL_NOTED_EVERY_S) < POLL_NOTED_EVERY_S:
            return
        self._noted[(group, task_type)] = now
        await self.queue.polled([(group, task_type)])

    async def _caught_up(self, group: str, task_type: str, worker_id: str | None) -> None:
        """Return once the tasks this process's runs made durable before the poll are
        written (read your own writes): the group passed them on, the loop wrote them."""
        await self.engine.group_ref(group).ask(lambda reply: Poll(task_type, worker_id, 0, reply))
        target = self._added
        while self._written < target:
            await self._wrote.wait()

    def _terms(self, task_type: str) -> tuple[float, Limits]:
        """The lease and global limits of `task_type`, from its TaskDef (read at each poll)."""
        task_def = self.engine.registry.task_defs.get(task_type)
        if task_def is None:
            return DEFAULT_LEASE_S, Limits()
        lease_s = (
            task_def.response_timeout_s if task_def.response_timeout_s > 0 else DEFAULT_LEASE_S
        )
        per = task_def.rate_limit_per_frequency
        rate = (per, task_def.rate_limit_frequency_s) if per > 0 else None
        return lease_s, Limits(task_def.concurrent_exec_limit or None, rate)

    async def _reap(self, group: str, task_type: str) -> None:
        now = time.monotonic()
        if now - self._reaped.get((group, task_type), -self.reap_every_s) < self.reap_every_s:
            return
        self._reaped[(group, task_type)] = now
        for task_id, run_id in await self.queue.reap(group, task_type):
            log.info("shared_queue.lease_lapsed", task_id=task_id, run_id=run_id)

    async def started(
        self, task: QueuedTask, worker_id: str | None, unread: set[str] | None = None
    ) -> bool:
        """Tell the run its task started; False if it refused (the row voided) or its state
        cannot be read now (the row given back for later, the run added to `unread`)."""
        at = self.engine.clock.now()
        try:
            await self.engine.run(task.run_id).ask(
                lambda reply: TaskStartedMsg(task.task_id, worker_id, reply, at=at)
            )
        except (InvalidOperation, NotFound) as exc:  # ended meanwhile: the row was stale
            log.info("shared_queue.start_refused", task_id=task.task_id, error=str(exc))
            await self.queue.withdraw([task.task_id])
            return False
        except Exception as exc:  # its run could not be read (a failing recovery, an outage)
            log.warning("shared_queue.start_failed", task_id=task.task_id, error=repr(exc))
            if unread is not None:
                unread.add(task.run_id)
            await self.queue.release([task.task_id])
            return False
        return True

    # -- results -----------------------------------------------------------------------

    async def report(
        self, task_id: str, run_id: str, make: Callable[[str, Reply[Any]], Any], *, ends: bool
    ) -> bool:
        """Settle `task_id`'s row for a worker's report (`ends`: a result, or a requeue, else
        a heartbeat or progress); True if nothing more is to be done: the report was put in
        the owner's inbox with the row's removal, or it was a heartbeat and extended the
        lease (the owner holds no lease of its own on a shared task).

        Raises:
            StaleTask: the row's lease ran out (the task was, or will be, handed again), or
                the journal says the attempt ended.
        """
        ownership = self.engine.ownership
        owned = ownership is None or ownership.owns(run_id)
        if not ends:
            verdict = await self.queue.touch(task_id)
            if verdict == "stale":
                raise StaleTask(task_id, RAN_OUT)
            return verdict == "held" and isinstance(make(task_id, Reply()), Heartbeat)
        post = None
        if not owned:
            encoded = encode(make(task_id, Reply()))
            if encoded is not None:
                post = (run_id, *encoded)
        verdict = await self.queue.finish(task_id, post)
        if verdict == "stale":
            raise StaleTask(task_id, RAN_OUT)
        if verdict == "held":
            return post is not None
        if not owned:  # no row: the journal as the owner last wrote it must show it open
            run = await self.engine.run(run_id).ask(GetRun)
            task = next((t for t in run.tasks if t.id == task_id), None)
            if task is not None and task.status not in _OPEN:
                raise StaleTask(task_id, f"it is {task.status.value}")
        return False
