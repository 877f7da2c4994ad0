"""Local workers pulling tasks from the shared worker-group queues (issue 17).

Design note
-----------
On a shared PostgreSQL journal a task goes to the shared queue when no
local worker of its group serves its type in the process owning its run
(`SharedTasks.offer`). Without more, a fleet where only some processes
register a worker for a type stalls: those processes never see the tasks
of runs the others own. `Pullers` closes that gap: while a local worker of
group G for type X has free slots in this process, it claims X tasks of G
from the shared queue and runs them on those slots.

- **The same claim as a poll.** A pull is `SharedTasks.take`: global order
  (priority, then age), the TaskDef's global concurrentExecLimit and rate
  limit (advisory lock + NOWAIT), a lease of its responseTimeoutSeconds,
  lapsed leases reaped first, and the group is the domain (a worker pulls
  only its own group's tasks, as `rt.poll(group=...)` does). The start is
  told to the run as a poll's is (`SharedTasks.started`, through the inbox
  if another process owns it); a start refused voids the row.
- **Results take a remote worker's path.** The verdict of the worker's
  function (`_slots.execute`: a failure, a TerminalError, a bad output
  are worded as for a local slot) is reported through
  `ExternalWorkers.report`, as `rt.complete` / `rt.fail` would: the row
  goes and the result lands in the owner's inbox in one transaction; a
  lease that ran out meanwhile makes it stale (logged, dropped: the task was
  retried). A process killed mid-task leaves the row leased; the lease runs
  out, a poll or pull anywhere reaps it, and the owner retries the attempt
  per its TaskDef.
- **Leases as a poll's.** A pulled task's lease is its responseTimeoutSeconds,
  as for an external worker: a function running longer calls
  `ctx.heartbeat()` (`TaskContext`), which here is `rt.heartbeat` (the
  row's lease extended; `StaleTask` once it ran out). A function that
  crashes (a `BaseException` that is not an `Exception`) fails the attempt,
  retried per its policy, and counts towards pausing the worker as a local
  slot's crash does (`WorkerCrashed` to the group: past the restart
  intensity the type is paused there, locally and for pulls alike).
- **A function whose attempt ended is cancelled**, as a local slot's is:
  at once if this process owns the run, else within a check interval of
  its row going or its lease running out (`_pulled_watch`).
- **Capacity is the local pool's.** A pull reserves the free slots it asks
  for (`LocalWorker.running`) before its round trip and gives back what it
  did not get, so local and pulled tasks together never exceed the pool's
  size; a pulled task's end frees its slot as a local one's does
  (`WorkerDone` to the group). An autoscaled pool grows for pulled work
  as for local work (`_autoscale`): a pull that finds the pool saturated
  below its maximum asks for one task more, and on getting it grows the
  pool by one slot; the group's slots follow (`Tick`), and the pool
  shrinks as before, counting pulled tasks in the busy slots it keeps. (A
  saturated pool below its maximum costs a claim per pull round; one at
  its maximum, or a fixed one, costs none.)
- **Ordering of local and shared tasks.** Local first: the group hands a
  freed slot to its own queue of that type at once, and a pull happens only
  while that queue is empty. So a process's own tasks are never passed over
  for a shared one; a local task arriving while every slot runs a pulled
  one waits for at most one pulled task per slot (pulls claim one task per
  free slot, never ahead). Among shared tasks the order is global. A
  process whose own backlog never empties does not pull; processes with
  idle slots do.
- **Wake-ups.** A flush that posted tasks sends one `NOTIFY cadenza_queue`
  (from the shared-queue writer, never on the journal's write path; one per
  flush, however many tasks). Each process LISTENs on a connection of its
  own and a notification wakes every waiting poll and puller (`kick`), as
  does registering a local worker, and a local slot freeing while the last
  claim got all it asked for (more may wait; otherwise a freed slot wakes
  nothing, so busy local work costs no queries). A slot that ran a pulled
  task claims the next one itself while it may pull (as a poller loops),
  so claims run as concurrently as the slots. Polling is the fallback:
  after a pull that found nothing the puller looks again after 5 ms
  doubling to `PULL_PAUSE_MAX_S` (`PULL_PAUSE_LISTENING_S` while
  notifications are heard; a global limit freeing room sends none).
- A claimed task of a run this process owns runs as any other if this
  process posted it (a type no local worker serves, or one whose TaskDef
  limits it: those limits are global, so every process posts such tasks,
  its own included, `Engine.share_of`, and its worker runs them as pulls,
  each claim under the limits), or kept its row at the takeover (no local
  worker served its type then: the local groups never had it). Any other
  row of an owned run would be one an earlier owner posted that the
  takeover's `SharedTasks.adopt` did not see, its task queued locally by
  recovery: the row is voided, not run twice. (Fenced posts and adoption
  leave no such row; the check stays as a safeguard.)
"""

from __future__ import annotations

from typing import Any, cast

import anyio

from cadenza._errors import StaleTask
from cadenza._log import get_logger
from cadenza.core._system_tasks import SYSTEM_GROUP
from cadenza.dispatch._autoscale import grow
from cadenza.dispatch._groups import _tell_soon
from cadenza.dispatch._messages import QueuedTask, TaskResult, Tick, WorkerCrashed, WorkerDone
from cadenza.dispatch._slots import LocalWorker, crash_verdict, execute
from cadenza.engine._host import Engine
from cadenza.runtime._pulled_watch import PulledWatch
from cadenza.runtime._shared_tasks import SharedTasks
from cadenza.runtime._workers import ExternalWorkers

log = get_logger("cadenza.runtime")

PULL_PAUSE_MIN_S = 0.005
PULL_PAUSE_MAX_S = 0.1  # with nothing to pull, look again at least this often
PULL_PAUSE_LISTENING_S = 1.0  # the same while notifications are heard


class Pullers:
    """This process's local workers pulling from the shared queues; see the module note."""

    def __init__(self, engine: Engine, shared: SharedTasks):
        self.engine = engine
        self.shared = shared
        self.workers = ExternalWorkers(engine)
        self.watch = PulledWatch(engine, shared)  # cancels functions whose attempt ended
        self.pulled = 0  # tasks pulled and started here
        self.finished = 0  # of those, verdicts reported (accepted or stale)
        self.chained = 0  # pulled by a slot that had just finished a pulled task
        self.more = False  # the last claim got all it asked for: more may wait

    def serving(self) -> None:
        self.engine.system.start_soon(self._loop, name="shared-pullers")
        self.watch.serving()

    async def _loop(self) -> None:
        pause = PULL_PAUSE_MIN_S
        while True:
            wake = self.shared.waker()  # a kick during the pull is not lost
            try:
                took = await self.pull()
            except Exception as exc:  # the server away: polling again later
                if self.engine.system.stopping:
                    return
                log.warning("shared_queue.pull_failed", error=repr(exc))
                took = 0
            if took:
                pause = PULL_PAUSE_MIN_S
                continue
            await self.shared.wait(pause, wake)
            ceiling = PULL_PAUSE_LISTENING_S if self.shared.listening else PULL_PAUSE_MAX_S
            pause = PULL_PAUSE_MIN_S if wake.is_set() else min(ceiling, pause * 2)

    def _freed(self) -> None:
        """A local slot freed: look again at once only if more may wait (see the note)."""
        if self.more:
            self.shared.kick()

    def _served(self) -> list[tuple[str, str, LocalWorker, Any]]:
        """(group, task type, worker, group state) of each local worker that could pull."""
        found = []
        engine = self.engine
        for task_type, group in list(engine._worker_groups.items()):
            held = engine._groups.get(group)
            if group == SYSTEM_GROUP or held is None:
                continue
            state = held[0]
            worker = state.workers.get(task_type)
            if worker is None:
                continue
            worker.freed = self._freed
            if worker.paused or worker.slots == 0:
                continue
            found.append((group, task_type, worker, state))
        return found

    async def pull(self) -> int:
        """One round: for each local worker with free slots and no local task of its type
        waiting, claim tasks from the shared queue and start them; how many were started."""
        took = 0
        for group, task_type, worker, state in self._served():
            await self.shared.note_poll(group, task_type)  # served, busy or not
            queue = state.queues.get(task_type)
            if queue is not None and queue.head(state.tasks) is not None:
                continue  # local first: see the module note
            free = worker.concurrency - worker.running
            growing = free <= 0  # saturated: one slot more if a task waits (autoscaled)
            if growing:
                if worker.concurrency >= worker.max_size:
                    continue
                free = 1
            worker.running += free  # reserved across the round trip
            tasks: list[QueuedTask] = []
            reserved = self.engine.system.busy()  # `settle()` waits for local work held back
            reserved.__enter__()
            try:
                tasks = await self.shared.take(group, task_type, f"pull:{group}", limit=free)
            finally:
                worker.running -= free
                if len(tasks) < free and not growing:  # slots given back: local work may use them
                    _tell_soon(self.engine.system, self.engine.group_ref(group), Tick("pull"))
                reserved.__exit__(None, None, None)
            self.more = len(tasks) == free
            if growing and tasks and grow(worker, self.engine.clock.now()):
                _tell_soon(self.engine.system, self.engine.group_ref(group), Tick("grew"))
            for task in tasks:
                worker.running += 1
                worker.peak = max(worker.peak, worker.running)  # shrinks only below what ran
                took += 1
                busy = self.engine.system.busy()  # `settle()` waits for it
                busy.__enter__()
                self.engine.system.start_soon(
                    self._run, group, worker, task, busy, name=f"pulled:{task.task_id}"
                )
        return took

    async def _run(self, group: str, worker: LocalWorker, task: QueuedTask, busy: Any) -> None:
        """Run `task` on the slot reserved for it, then, while the slot may pull (see the
        module note), the next shared task on the same slot; then free the slot."""
        worker_id = f"pull:{group}"
        next_task: QueuedTask | None = task
        crash: str | None = None
        try:
            while next_task is not None and crash is None:
                crash = await self._one(worker_id, group, worker, next_task)
                if crash is None:
                    next_task = await self._next(group, worker, worker_id)
        except Exception as exc:  # its lease runs out; the owner retries it
            if not self.engine.system.stopping:
                log.warning("shared_queue.pulled_task_lost", task_id=task.task_id, error=repr(exc))
        finally:
            busy.__exit__(None, None, None)
            ended = WorkerDone(task.type) if crash is None else WorkerCrashed(task.type, crash)
            try:  # a crash counts towards pausing the worker, as a local slot's does
                await self.engine.group_ref(group).tell(ended)
            except Exception:  # closing: nothing left to free
                worker.running -= 1

    async def _one(
        self, worker_id: str, group: str, worker: LocalWorker, task: QueuedTask
    ) -> str | None:
        """Run `task` and report its verdict; the crash's summary if the function crashed
        (the slot then stops pulling: the group counts the crash, see `_slots`)."""
        ownership = self.engine.ownership
        if (
            ownership is not None
            and ownership.owns(task.run_id)
            and task.task_id not in self.shared.posted_here()
            and not self.shared.holds(task.task_id)
        ):  # see the module note
            await self.shared.queue.withdraw([task.task_id])
            return None
        if not await self.shared.started(task, worker_id):
            return None
        self.pulled += 1
        beats = cast(Any, _Heartbeats(self.workers, task.task_id))
        verdict: TaskResult | None = None
        crash = None
        with self.watch.watch(task.task_id, group, task.type) as scope:  # `_pulled_watch`
            try:
                verdict = await execute(worker, task, group, beats)
            except (anyio.get_cancelled_exc_class(), KeyboardInterrupt, SystemExit):
                raise
            except BaseException as exc:  # a crash (not a failure): the attempt fails, retried
                verdict = crash_verdict(task, exc)
                crash = (verdict.reason or "").removeprefix("worker crashed: ")  # as a slot's
            finally:
                self.watch.unwatch(task.task_id)
        if verdict is None or scope.cancel_called:  # (a verdict: it swallowed the cancel)
            return None  # cancelled: its attempt ended (it timed out, its run ended)
        await self._report(task, verdict)
        return crash

    async def _next(self, group: str, worker: LocalWorker, worker_id: str) -> QueuedTask | None:
        """The next shared task for the slot just freed, if it may pull: the worker live, the
        pool not shrunk below its busy slots, no local task of the type waiting."""
        held = self.engine._groups.get(group)
        task_type = next(
            (t for t, w in (held[0].workers.items() if held else ()) if w is worker), None
        )
        if (
            held is None
            or task_type is None
            or worker.paused
            or worker.running > worker.concurrency
        ):
            return None
        queue = held[0].queues.get(task_type)
        if queue is not None and queue.head(held[0].tasks) is not None:
            return None  # local first
        tasks = await self.shared.take(group, task_type, worker_id)
        self.more = bool(tasks)
        if tasks:
            self.chained += 1
        return tasks[0] if tasks else None

    async def _report(self, task: QueuedTask, verdict: TaskResult) -> None:
        """Report `verdict` as an external worker's `complete` or `fail` would."""

        def make(task_id: str, reply: Any) -> TaskResult:
            return TaskResult(
                task_id, verdict.output, failed=verdict.failed, reason=verdict.reason,
                terminal=verdict.terminal, error=verdict.error, reply=reply,
            )  # fmt: skip

        try:
            await self.workers.report(task.task_id, make, "pulled task's result")
        except StaleTask as exc:  # its lease ran out, or it ended: the retry is another's
            log.info("shared_queue.pulled_result_stale", task_id=task.task_id, error=str(exc))
        self.finished += 1


class _Heartbeats:
    """Stands for the run in a pulled task's `TaskContext`: `ctx.heartbeat()` is
    `rt.heartbeat`'s (the row's lease extended; StaleTask once it ran out)."""

    def __init__(self, workers: ExternalWorkers, task_id: str):
        self.workers = workers
        self.task_id = task_id

    async def ask(self, make: Any, *, timeout_s: float | None = None) -> None:
        del make, timeout_s
        await self.workers.heartbeat(self.task_id)
