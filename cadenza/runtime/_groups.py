"""Worker groups: a priority queue per task type, local workers, and pollers.

Design note — the ordering rule
-------------------------------
Within a group, each task type has one heap keyed by
`(-priority, ready_at, seq)`: higher priority first, then the task that
became ready first, then the order it was enqueued in. A task handed back
(a poll whose caller went away) keeps its key, so it returns to its
original place, never to the back. Tasks not yet due never enter a group:
the timer service holds them until `ready_at`.

Work is handed out by `_dispatch` after every batch of messages: parked
pollers first (they have waited longest), then free local-worker slots. A
local worker's function runs in its own task with a busy token held, so
`Runtime.settle()` waits for it; its verdict goes to the run's actor, and a
`WorkerDone` back to the group frees the slot.

The queue lives in a `GroupState` owned by the runtime rather than in the
actor instance, so a restart of the group's actor loses nothing queued.

Requeue at the original place: a task popped for a poller whose caller has
gone away (its reply already done) is pushed back with its key unchanged;
a task whose lease expired is retried at the key the `Ledger` kept for it.

Limits (see `_ledger.py`): before the head of a type's heap is handed out
the ledger admits it (concurrentExecLimit, rate limit) or says when to look
again; the group then arms one clock wake-up (`Tick`) for that time, or
waits for the ledger to wake it when a slot frees. A type held back never
holds back another type or another group. A task handed out after waiting
longer than `dispatch_warning_s` since it became ready logs `dispatch.slow`.
"""

from __future__ import annotations

import asyncio
import copy
import heapq
import itertools
import json
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import structlog

from cadenza._errors import TerminalError
from cadenza.actors import Actor, ActorRef, ActorSystem, Clock, MailboxFull, Reply, TimerHandle
from cadenza.runtime._ledger import Ledger
from cadenza.runtime._messages import (
    Cancel,
    Enqueue,
    Poll,
    PollExpired,
    QueuedTask,
    RegisterWorker,
    TaskResult,
    TaskStartedMsg,
    Tick,
    WorkerDone,
)

log = structlog.get_logger()
_STRICT_JSON = json.JSONEncoder(allow_nan=False)  # built once; json.dumps builds one per call

WorkerFn = Callable[[dict[str, Any]], Awaitable[dict[str, Any] | None]]


@dataclass(slots=True)
class LocalWorker:
    """A bounded pool of long-lived slots running `fn`; `running` counts busy slots.

    The group hands a slot a task only while `running < concurrency`, so the
    inbox never holds more than `concurrency` tasks.
    """

    fn: WorkerFn
    concurrency: int
    running: int = 0
    slots: int = 0  # slot coroutines alive
    inbox: asyncio.Queue[tuple[QueuedTask, Any]] = field(default_factory=asyncio.Queue)


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
    queues: dict[str, list[tuple[int, float, int, str]]] = field(default_factory=dict)
    tasks: dict[str, QueuedTask] = field(default_factory=dict)
    workers: dict[str, LocalWorker] = field(default_factory=dict)
    pollers: dict[str, deque[ParkedPoll]] = field(default_factory=dict)
    seq: itertools.count[int] = field(default_factory=itertools.count)
    tokens: itertools.count[int] = field(default_factory=itertools.count)
    wakes: dict[str, tuple[float, TimerHandle]] = field(default_factory=dict)
    dispatched: int = 0

    def depth(self) -> int:
        return len(self.tasks)


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
    ):
        self.group = state
        self.system = system
        self.clock = clock
        self.runs = runs
        self.ledger = ledger
        self.dispatch_warning_s = dispatch_warning_s

    async def receive_batch(self, messages: list[Any]) -> None:
        group = self.group
        for message in messages:
            match message:
                case Enqueue(task=task):
                    self._push(task)
                case Cancel(task_id=task_id):
                    group.tasks.pop(task_id, None)
                    self.ledger.release(task_id)
                case RegisterWorker():
                    self._register(message)
                case WorkerDone(task_type=task_type):
                    worker = group.workers.get(task_type)
                    if worker is not None:
                        worker.running -= 1
                case Poll():
                    self._park(message)
                case PollExpired(token=token):
                    self._expire(token)
                case Tick():
                    pass  # a limit may allow more now: `_dispatch` looks
                case _:
                    log.error("group.unknown_message", group=group.name, message=repr(message))
        await self._dispatch()

    def _register(self, message: RegisterWorker) -> None:
        worker = self.group.workers.get(message.task_type)
        if worker is None:
            worker = self.group.workers[message.task_type] = LocalWorker(
                message.fn, message.concurrency
            )
        worker.fn = message.fn
        worker.concurrency = message.concurrency
        while worker.slots < worker.concurrency:
            worker.slots += 1
            self.system.start_soon(
                _slot, worker, worker.slots - 1, self.group.name, self.runs, self.context.self_ref
            )

    def _push(self, task: QueuedTask) -> None:
        group = self.group
        self.ledger.release(task.task_id)  # requeued by `update`: no longer handed out
        if task.seq == 0:
            place = self.ledger.place_for(task)
            if place is not None:  # a retry after a lease expired: the original place
                task.ready_at, task.seq = place
            else:
                task.seq = next(group.seq) + 1
        group.tasks[task.task_id] = task
        heap = group.queues.setdefault(task.type, [])
        heapq.heappush(heap, (-task.priority, task.ready_at, task.seq, task.task_id))

    def _pop(self, task_type: str) -> QueuedTask | None:
        heap = self.group.queues.get(task_type)
        while heap:
            _p, _r, _s, task_id = heapq.heappop(heap)
            task = self.group.tasks.pop(task_id, None)
            if task is not None:
                return task
        return None

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
        parked = ParkedPoll(token, poll.worker_id, poll.reply, timer)
        self.group.pollers.setdefault(poll.task_type, deque()).append(parked)

    def _expire(self, token: int) -> None:
        for waiting in self.group.pollers.values():
            for parked in waiting:
                if parked.token == token:
                    waiting.remove(parked)
                    parked.reply.set(None)
                    return

    def _head(self, task_type: str) -> QueuedTask | None:
        """The next task of `task_type` without taking it (drops cancelled entries)."""
        heap = self.group.queues.get(task_type)
        while heap:
            task = self.group.tasks.get(heap[0][3])
            if task is not None:
                return task
            heapq.heappop(heap)
        return None

    def _wake_at(self, task_type: str, when: float) -> None:
        """Arm one wake-up per task type for when a limit allows the next hand-out."""
        armed = self.group.wakes.get(task_type)
        if armed is not None:
            if armed[0] == when:
                return
            armed[1].cancel()
        me = self.context.self_ref
        handle = self.clock.call_at(when, lambda: _tell_soon(self.system, me, Tick()))
        self.group.wakes[task_type] = (when, handle)

    async def _dispatch(self) -> None:
        group = self.group
        now = self.clock.now()
        for task_type, heap in group.queues.items():
            waiting = group.pollers.get(task_type)
            worker = group.workers.get(task_type)
            while heap:
                if not waiting and (worker is None or worker.running >= worker.concurrency):
                    break
                head = self._head(task_type)
                if head is None:
                    break
                again = self.ledger.admit(head.name, group.name, now)
                if again is not None:
                    if again != float("inf"):
                        self._wake_at(task_type, again)
                    break
                task = self._pop(task_type)
                if task is None:
                    break
                if waiting:
                    await self._to_poller(waiting.popleft(), task, now)
                elif worker is not None:
                    self._to_worker(worker, task, now)
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
            TaskStartedMsg(task.task_id, parked.worker_id, leased=task)
        )

    def _to_worker(self, worker: LocalWorker, task: QueuedTask, now: float) -> None:
        self._handed(task, now)
        worker.running += 1
        token = self.system.busy()
        token.__enter__()
        worker.inbox.put_nowait((task, token))

    def _handed(self, task: QueuedTask, now: float) -> None:
        group = self.group
        group.dispatched += 1
        self.ledger.hand_out(task, group.name, now)
        waited_s = now - task.ready_at
        if self.dispatch_warning_s is not None and waited_s > self.dispatch_warning_s:
            log.warning(
                "dispatch.slow",
                group=group.name,
                task_type=task.type,
                task_id=task.task_id,
                run_id=task.run_id,
                waited_s=waited_s,
            )


async def _slot(
    worker: LocalWorker,
    index: int,
    group: str,
    runs: Callable[[str], ActorRef[Any]],
    group_ref: ActorRef[Any],
) -> None:
    """One slot of a local worker pool: run tasks one at a time, report each verdict."""
    worker_id = f"local:{group}:{index}"
    while index < worker.concurrency:
        task, token = await worker.inbox.get()
        try:
            run = runs(task.run_id)
            await run.tell(TaskStartedMsg(task.task_id, worker_id))
            await run.tell(await _execute(task, worker.fn))
            await group_ref.tell(WorkerDone(task.type))
        finally:
            token.__exit__(None, None, None)
    worker.slots -= 1


async def _execute(task: QueuedTask, fn: WorkerFn) -> TaskResult:
    """Run a local worker function and turn what happened into a verdict."""
    try:
        output = await fn(copy.deepcopy(task.input))
    except TerminalError as exc:
        return TaskResult(
            task.task_id, exc.output, failed=True, reason=exc.reason or repr(exc), terminal=True
        )
    except Exception as exc:
        return TaskResult(task.task_id, None, failed=True, reason=f"{type(exc).__name__}: {exc}")
    if output is None:
        output = {}
    if not isinstance(output, dict):
        reason = (
            f"worker for {task.type!r} returned {type(output).__name__}; expected a dict or None"
        )
        return TaskResult(task.task_id, None, failed=True, reason=reason, terminal=True)
    try:
        _STRICT_JSON.encode(output)
    except (TypeError, ValueError) as exc:
        reason = f"worker for {task.type!r} returned output that is not JSON-serialisable: {exc}"
        return TaskResult(task.task_id, None, failed=True, reason=reason, terminal=True)
    return TaskResult(task.task_id, output)


def _tell_soon(system: ActorSystem, ref: ActorRef[Any], message: Any) -> None:
    """Tell from a clock callback: without waiting if there is room, else in a task."""
    try:
        ref.tell_nowait(message)
    except MailboxFull:
        system.start_soon(ref.tell, message)
