"""Worker groups: a fair priority queue per task type, local workers, and pollers.

Design note — the ordering rule
-------------------------------
Within a group, each task type has one `FairQueue` (`_fairness.py`): higher
priority first; among equal priorities, round-robin across fairness keys;
within a key, the task that became ready first, then the order it was
enqueued in (`seq`). A task handed back (a poll whose caller went away) or
retried after its lease expired or its local worker crashed keeps its key
`(ready_at, seq)`, so it returns to its original place, never to the back.
Tasks not yet due never enter a group: the timer service holds them until
`ready_at`.

Work is handed out by `_dispatch` after every batch of messages: parked
pollers first (they have waited longest), then free local-worker slots
(`_slots.py`: their failures, crashes and restart intensity). A worker
paused by crashing in a loop stops the dispatch of its task type until it is
registered again.

The queue lives in a `GroupState` owned by the runtime rather than in the
actor instance, so a restart of the group's actor loses nothing queued.

Limits and breakers (see `_ledger.py`, `_breaker.py`): before the head of a
type's queue is handed out the ledger admits it (circuit breaker,
concurrentExecLimit, rate limit) or says when to look again; the group then
arms one clock wake-up (`Tick`) for that time, or waits for the ledger to
wake it when a slot frees or a verdict lands. A type held back never holds
back another type or another group.

Slow dispatch: with `dispatch_warning_s`, a task waiting longer than that
since it became ready logs `dispatch.slow` once — when it is handed out, or,
if it is still queued (say, no worker serves the group), at one wake-up the
group arms for the earliest such deadline.

Retirement: a group with nothing queued, no local worker, no parked poll and
no enqueue waiting in the timer service for `idle_s` asks the runtime to
retire it (`retire`); the next use creates it afresh. Liveness (a live local
worker or a parked poll) is published in `Ledger.live` for routing.
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cadenza._log import get_logger
from cadenza.actors import (
    Actor,
    ActorRef,
    ActorStopped,
    ActorSystem,
    ActorSystemStopped,
    Clock,
    Reply,
    TimerHandle,
)
from cadenza.dispatch._autoscale import Pool, grow, resize, shrink
from cadenza.dispatch._fairness import FairQueue
from cadenza.dispatch._ledger import Ledger
from cadenza.dispatch._messages import (
    Cancel,
    Enqueue,
    LeaseExpired,
    Poll,
    PollExpired,
    QueuedTask,
    RegisterWorker,
    TaskStartedMsg,
    Tick,
    WorkerCrashed,
    WorkerDone,
)
from cadenza.dispatch._slots import WORKER_RESTART_PERIOD_S, LocalWorker, WorkerFn, slot
from cadenza.dispatch._slow import watch_slow
from cadenza.dispatch._unserved import Unserved, watch_unserved

__all__ = ["GroupState", "LocalWorker", "Pool", "WorkerFn", "WorkerGroup", "_tell_soon"]

log = get_logger("cadenza.dispatch")

GROUP_IDLE_S = 60.0  # an idle, empty group is retired after this long
POLLERS_KEPT = 256  # (task type, worker id) pairs whose last poll a group remembers
_STUCK = "\x00stuck"  # wake-up keys beside the task types'
_IDLE = "\x00idle"
_UNSERVED = "\x00unserved"
_SCALE = "\x00scale:"


@dataclass(slots=True)
class ParkedPoll:
    token: int
    worker_id: str | None
    reply: Reply[Any]
    timer: TimerHandle | None


@dataclass(slots=True)
class GroupState:
    """Everything a group holds; outlives restarts of its actor."""

    name: str
    queues: dict[str, FairQueue] = field(default_factory=dict)
    tasks: dict[str, QueuedTask] = field(default_factory=dict)
    workers: dict[str, LocalWorker] = field(default_factory=dict)
    pollers: dict[str, deque[ParkedPoll]] = field(default_factory=dict)
    polled: dict[tuple[str, str], float] = field(
        default_factory=dict
    )  # (type, worker id) -> last poll
    seq: itertools.count[int] = field(default_factory=itertools.count)
    tokens: itertools.count[int] = field(default_factory=itertools.count)
    wakes: dict[str, tuple[float, TimerHandle]] = field(default_factory=dict)
    watch: list[tuple[float, int, str]] = field(default_factory=list)  # dispatch.slow due
    warned: set[str] = field(default_factory=set)
    queued_since: dict[str, float] = field(default_factory=dict)  # by task type (`_unserved.py`)
    polled_at: dict[str, float] = field(default_factory=dict)  # the last poll, by task type
    unserved: set[str] = field(default_factory=set)  # task types warned of as unserved
    idle_since: float | None = None
    retired: bool = False
    dispatched: int = 0

    def depth(self) -> int:
        return len(self.tasks)

    def live(self) -> bool:
        """A local worker that can take work, or a parked poll."""
        return any(w.slots > 0 and not w.paused for w in self.workers.values()) or any(
            self.pollers.values()
        )


class WorkerGroup(Actor[Any]):
    """The actor of one worker group; see the module note."""

    def __init__(
        self,
        state: GroupState,
        *,
        system: ActorSystem,
        clock: Clock,
        runs: Callable[[str], ActorRef[Any]],
        ledger: Ledger,
        dispatch_warning_s: float | None = None,
        retire: Callable[[str, ActorRef[Any]], None] | None = None,
        idle_s: float = GROUP_IDLE_S,
        unserved: Unserved | None = None,
        share: Callable[[str, QueuedTask], bool] | None = None,
    ):
        self.group = state
        self.system = system
        self.clock = clock
        self.runs = runs
        self.ledger = ledger
        self.dispatch_warning_s = dispatch_warning_s
        self.retire = retire
        self.idle_s = idle_s
        self.unserved = unserved if unserved is not None else Unserved(None)
        self.share = share  # several processes: True if it posted the task to the shared queues

    async def receive_batch(self, messages: list[Any]) -> None:
        group = self.group
        for message in messages:
            match message:
                case Enqueue(task=task, delayed=delayed):
                    if delayed:
                        self.ledger.undelay(group.name)
                        if (task.task_id, task.ready_at) in self.ledger.cancelled_delayed:
                            self.ledger.cancelled_delayed.discard((task.task_id, task.ready_at))
                            continue  # cancelled while it waited for its delay: never queue it
                    if self.share is not None and self.share(group.name, task):
                        continue  # any process's poller takes it from the shared queue
                    self._push(task)
                case Cancel(task_id=task_id):
                    group.tasks.pop(task_id, None)
                    group.warned.discard(task_id)
                    self.ledger.release(task_id)
                case RegisterWorker():
                    self._register(message)
                case WorkerDone(task_type=task_type):
                    if (worker := group.workers.get(task_type)) is not None:
                        worker.done()
                case WorkerCrashed():
                    self._crashed(message)
                case Poll():
                    self._note_poll(message)
                    self.ledger.polled(message.task_type, group.name, self.clock.now())
                    self._park(message)
                case PollExpired(token=token):
                    self._expire(token)
                case Tick():
                    pass  # a limit may allow more now, or a deadline passed: look
                case _:
                    log.error("group.unknown_message", group=group.name, message=repr(message))
        if group.retired:
            return
        await self._dispatch()
        now = self.clock.now()
        self._warn_stuck(now)
        self._warn_unserved(now)
        self._autoscale(now)
        self.ledger.set_live(group.name, group.live())
        self._maybe_retire(now)

    async def stopped(self) -> None:
        """At shutdown, answer every parked poll: the runtime closed (no poll waits for ever)."""
        if not self.system.stopping:
            return  # a restart: the parked polls live on in the group's state
        for waiting in self.group.pollers.values():
            while waiting:
                parked = waiting.popleft()
                if parked.timer is not None:
                    parked.timer.cancel()
                parked.reply.fail(ActorSystemStopped(self.system.name, "closed before a task came"))

    # -- local workers --------------------------------------------------------------

    def _register(self, message: RegisterWorker) -> None:
        group = self.group
        worker = group.workers.get(message.task_type)
        if worker is None:
            worker = group.workers[message.task_type] = LocalWorker(message.fn, 0)
        worker.fn = message.fn
        worker.with_context = None  # read again from the new function's signature
        resize(worker, message.concurrency, self.clock.now())
        if worker.paused:
            worker.paused = False
            worker.crashes.clear()
            log.info("group.worker_resumed", group=group.name, task_type=message.task_type)
        self._spawn_slots(worker)

    def _spawn_slots(self, worker: LocalWorker) -> None:
        """Start, or tell to leave, slots until `concurrency` of them stay."""
        while worker.slots - worker.leaving > worker.concurrency:
            worker.leaving += 1
            worker.inbox.put_nowait(None)
        while worker.slots - worker.leaving < worker.concurrency:
            worker.slots += 1
            worker.next_index += 1
            self.system.start_soon(
                slot,
                worker,
                worker.next_index - 1,
                self.group.name,
                self.runs,
                self.context.self_ref,
                self.ledger,
            )

    def _crashed(self, message: WorkerCrashed) -> None:
        group = self.group
        worker = group.workers.get(message.task_type)
        if worker is None:
            return
        worker.done()
        if worker.crashed(self.clock.now()):
            if not worker.paused:
                worker.paused = True
                log.error(
                    "group.worker_paused",
                    group=group.name,
                    task_type=message.task_type,
                    crashes=len(worker.crashes),
                    period_s=WORKER_RESTART_PERIOD_S,
                    error=message.error,
                    remedy="fix the worker and register it again with rt.worker(...)",
                )
            return
        log.warning(
            "group.worker_restarted",
            group=group.name,
            task_type=message.task_type,
            crashes=len(worker.crashes),
            error=message.error,
        )
        self._spawn_slots(worker)

    # -- the queue ------------------------------------------------------------------

    def _push(self, task: QueuedTask) -> None:
        group = self.group
        self.ledger.release(task.task_id)  # requeued by `update`: no longer handed out
        handed_back = task.seq != 0
        if not handed_back:
            place = self.ledger.place_for(task)
            if place is not None:  # a retry after a lease expired: the original place
                task.ready_at, task.seq = place
                handed_back = True
            else:
                task.seq = next(group.seq) + 1
                if task.place_at is not None:  # the same, from the journal (after a crash)
                    task.ready_at = min(task.ready_at, task.place_at)
        group.tasks[task.task_id] = task
        queue = group.queues.get(task.type)
        if queue is None:
            queue = group.queues[task.type] = FairQueue()
        if task.type not in group.queued_since:
            group.queued_since[task.type] = self.clock.now()
        queue.push(
            task.task_id,
            task.priority,
            task.ready_at,
            task.seq,
            task.fairness_key,
            handed_back=handed_back,
        )
        if self.dispatch_warning_s is not None and task.task_id not in group.warned:
            due = task.ready_at + self.dispatch_warning_s
            heapq.heappush(group.watch, (due, task.seq, task.task_id))

    def _note_poll(self, poll: Poll) -> None:
        """When each worker last polled (the dashboard shows it); the oldest beyond
        `POLLERS_KEPT` are forgotten, so many short-lived worker ids cannot grow it."""
        polled = self.group.polled
        polled[(poll.task_type, poll.worker_id or "")] = self.clock.now()
        if len(polled) > POLLERS_KEPT:
            del polled[min(polled, key=polled.__getitem__)]

    def _park(self, poll: Poll) -> None:
        """Queue a poll; `_dispatch` answers it (a poll with no wait, at once)."""
        token = next(self.group.tokens)
        timer = None
        if poll.wait_s > 0:
            me = self.context.self_ref
            when = self.clock.now() + poll.wait_s
            timer = self.clock.call_at(
                when, lambda: _tell_soon(self.system, me, PollExpired(token))
            )
        self.group.polled_at[poll.task_type] = self.clock.now()
        parked = ParkedPoll(token, poll.worker_id, poll.reply, timer)
        self.group.pollers.setdefault(poll.task_type, deque()).append(parked)

    def _expire(self, token: int) -> None:
        for waiting in self.group.pollers.values():
            for parked in waiting:
                if parked.token == token:
                    waiting.remove(parked)
                    parked.reply.set(None)
                    return

    def _wake_at(self, key: str, when: float) -> None:
        """Arm one wake-up per key (a task type, or a group deadline) for `when`."""
        armed = self.group.wakes.get(key)
        if armed is not None:
            if armed[0] == when:
                return
            armed[1].cancel()
        me = self.context.self_ref
        handle = self.clock.call_at(when, lambda: _tell_soon(self.system, me, Tick()))
        self.group.wakes[key] = (when, handle)

    # -- dispatch ---------------------------------------------------------------------

    async def _dispatch(self) -> None:
        group = self.group
        tasks = group.tasks
        now = self.clock.now()
        for task_type, queue in list(group.queues.items()):
            waiting = group.pollers.get(task_type)
            worker = group.workers.get(task_type)
            if worker is not None and worker.paused:
                continue  # crashed in a loop: nothing of this type until registered again
            while True:
                if not waiting and (worker is None or worker.running >= worker.concurrency):
                    if worker is None or worker.concurrency >= worker.max_size:
                        break  # a fixed pool (or one at its max) is full
                    if queue.head(tasks) is None or not grow(worker, now):
                        break
                    self._spawn_slots(worker)  # autoscaled: saturated while tasks wait
                head_id = queue.head(tasks)
                if head_id is None:
                    break
                head = tasks[head_id]
                again = self.ledger.admit(head.name, group.name, now)
                if again is not None:
                    if again != float("inf"):
                        self._wake_at(task_type, again)
                    break
                queue.pop(tasks)
                task = tasks.pop(head_id)
                if waiting:
                    await self._to_poller(waiting.popleft(), task, now)
                elif worker is not None:
                    self._to_worker(worker, task, now)
            if not queue:
                del group.queues[task_type]
        for waiting in group.pollers.values():
            for parked in [p for p in waiting if p.timer is None]:
                waiting.remove(parked)  # a poll that would not wait: nothing for it now
                parked.reply.set(None)

    async def _to_poller(self, parked: ParkedPoll, task: QueuedTask, now: float) -> None:
        if parked.timer is not None:
            parked.timer.cancel()
        if parked.reply.done():  # the hand-over failed: back to its own place
            self._push(task)
            return
        self._handed(task, now)
        parked.reply.set(task)
        await self.runs(task.run_id).tell(
            TaskStartedMsg(task.task_id, parked.worker_id, leased=task, at=now)
        )

    def _to_worker(self, worker: LocalWorker, task: QueuedTask, now: float) -> None:
        self._handed(task, now)
        worker.running += 1
        worker.peak = max(worker.peak, worker.running)
        token = self.system.busy()
        token.__enter__()
        worker.inbox.put_nowait((task, token))

    def _handed(self, task: QueuedTask, now: float) -> None:
        group = self.group
        group.dispatched += 1
        self.ledger.hand_out(task, group.name, now)
        if task.task_id in group.warned:
            group.warned.discard(task.task_id)  # already reported while it waited
            return
        waited_s = now - task.ready_at
        if self.dispatch_warning_s is not None and waited_s > self.dispatch_warning_s:
            log.warning(
                "dispatch.slow",
                group=group.name,
                task_type=task.type,
                task_id=task.task_id,
                run_id=task.run_id,
                waited_s=waited_s,
                still_queued=False,
            )

    # -- deadlines: slow dispatch, retirement -----------------------------------------

    def _warn_stuck(self, now: float) -> None:
        """Report each task still queued past `dispatch_warning_s`, once; arm for the next."""
        due = watch_slow(self.group, now)  # `_slow.py`
        if due is not None:
            self._wake_at(_STUCK, due)
        elif _STUCK in self.group.wakes:
            self.group.wakes.pop(_STUCK)[1].cancel()

    def _warn_unserved(self, now: float) -> None:
        """Warn once of each task type queued with no worker or poller past the limit."""
        earliest = watch_unserved(self.group, self.unserved, now)
        if earliest is not None:
            self._wake_at(_UNSERVED, earliest)

    def _autoscale(self, now: float) -> None:
        """Shrink autoscaled pools that were not all busy for a while (`_autoscale.py`)."""
        for task_type, worker in self.group.workers.items():
            if worker.max_size > worker.min_size:
                again = shrink(worker, now)
                self._spawn_slots(worker)
                if again is not None:
                    self._wake_at(_SCALE + task_type, again)

    def _maybe_retire(self, now: float) -> None:
        group = self.group
        idle = (
            not group.tasks
            and not group.workers
            and not any(group.pollers.values())
            and group.name not in self.ledger.delayed
        )
        if not idle:
            group.idle_since = None
            return
        if group.idle_since is None:
            group.idle_since = now
        if self.retire is None:
            return
        if now < group.idle_since + self.idle_s:
            self._wake_at(_IDLE, group.idle_since + self.idle_s)
            return
        group.retired = True
        for _when, handle in group.wakes.values():
            handle.cancel()
        group.wakes.clear()
        self.ledger.set_live(group.name, False)
        self.retire(group.name, self.context.self_ref)


def _tell_soon(system: ActorSystem, ref: ActorRef[Any], message: Any) -> None:
    """Tell from an actor or a clock callback, never waiting: `ActorRef.tell_soon`.

    A full mailbox queues the message in its sender's turn (never a task of
    its own, which would send it as nobody and let later ones overtake it).
    A wake-up for an actor (or a system) that has stopped has nobody to wake:
    it is dropped, so a clock shared beyond the runtime's life never raises
    (a lease running out after the close included: the next runtime leases
    the attempt again, `engine/run/_requeue`).
    `system` is kept for the callers' sake.
    """
    del system
    try:
        ref.tell_soon(message)
    except (ActorStopped, ActorSystemStopped):
        if not isinstance(message, (Tick, PollExpired, LeaseExpired)):
            raise
