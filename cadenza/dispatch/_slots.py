"""Local workers: a bounded pool of slot coroutines per (group, task type).

Design note — failures, crashes and the restart intensity
--------------------------------------------------------
A worker function that *raises* an `Exception` has failed its task: the
verdict (FAILED, or FAILED_WITH_TERMINAL_ERROR for `TerminalError` or an
output that is not a JSON object) goes to the run, which retries it per its
policy. That is not a crash, and the slot carries on.

A **crash** is the slot coroutine dying: the function raises a
`BaseException` that is not an `Exception` (other than cancellation,
`KeyboardInterrupt` and `SystemExit`, which still stop the process), or the
slot's own machinery fails. The task in hand fails ("worker crashed: …")
and is retried at its original queue place (`Ledger.keep_place`); the group
gets `WorkerCrashed`. Up to `WORKER_RESTARTS_MAX` crashes within
`WORKER_RESTART_PERIOD_S` on the runtime's clock (`RestartWindow`, OTP's
rule), the group starts a new slot; one more and it **pauses** dispatch of
that task type in that group (`group.worker_paused`): tasks stay queued,
pollers of that type get nothing, the runtime stays up. Registering the
worker again with `rt.worker(...)` resumes it (`group.worker_resumed`).

Each slot verdict releases the task in the `Ledger` at once (so a breaker
counts it before the slot takes its next task), then goes to the run.

Failures are visible: the exception a worker raised is logged
(`task.worker_failed`, WARNING, with its traceback) and kept on the
attempt — `TaskRun.reason` its one-line summary, `TaskRun.error` the
formatted traceback. A worker taking a second parameter is handed a
`TaskContext` (`_context.py`).

An attempt that ends without the slot's verdict — it timed out
(`timeoutSeconds`), its run was terminated, its start was refused — has its
execution cancelled through the ledger: a hung or overrunning function
gives its slot back (and lets `rt.settle()` return) instead of holding it
for ever; it sends no verdict, since one would be refused.

A verdict reached while the runtime closes has nobody left to take it
(`ActorSystemStopped`): the slot ends quietly, its task's result never
became durable, and the next start of the runtime puts the task back in
its queue (recovery) — shutdown raises nothing for it (issue 13).
"""

from __future__ import annotations

import asyncio
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio

from cadenza import _trace
from cadenza._errors import TerminalError
from cadenza._json import copy_json, copy_plain
from cadenza._log import get_logger
from cadenza.actors import ActorRef, ActorSystemStopped, RestartWindow
from cadenza.dispatch._context import TaskContext, takes_context
from cadenza.dispatch._ledger import Ledger
from cadenza.dispatch._messages import (
    QueuedTask,
    TaskResult,
    TaskStartedMsg,
    WorkerCrashed,
    WorkerDone,
)
from cadenza.dispatch._system_task import SystemTask

log = get_logger("cadenza.dispatch")

WORKER_RESTARTS_MAX = 3  # slot crashes tolerated within the period; one more pauses the type
WORKER_RESTART_PERIOD_S = 60.0

WorkerFn = Callable[[dict[str, Any]], Awaitable[dict[str, Any] | None]]


class SystemTaskFailed(Exception):
    """Raised by a system worker the engine owns: the attempt FAILED (retried per its
    policy) with this reason and output, as Conductor's system task words them."""

    def __init__(self, reason: str, output: dict[str, Any] | None = None):
        super().__init__(reason)
        self.reason = reason
        self.output = output


@dataclass(slots=True)
class LocalWorker:
    """A bounded pool of long-lived slots running `fn`; `running` counts busy slots.

    The group hands a slot a task only while `running < concurrency` and the
    worker is not `paused`, so the inbox never holds more than `concurrency`
    tasks. `concurrency` is the pool's size: fixed, or between `min_size` and
    `max_size` when autoscaled (`_autoscale.py`). A slot told to leave takes a
    `None` from the inbox (`leaving` counts those not yet taken).
    """

    fn: WorkerFn
    concurrency: int
    running: int = 0
    slots: int = 0  # slot coroutines alive
    inbox: asyncio.Queue[tuple[QueuedTask, Any] | None] = field(default_factory=asyncio.Queue)
    min_size: int = 1
    max_size: int = 1
    leaving: int = 0  # slots told to leave that have not left yet
    peak: int = 0  # the most running at once since the pool's size was last looked at
    scaled_at: float = 0.0  # when it was
    next_index: int = 0  # slot names: local:<group>:<index>
    crashes: RestartWindow = field(
        default_factory=lambda: RestartWindow(WORKER_RESTARTS_MAX, WORKER_RESTART_PERIOD_S)
    )
    paused: bool = False
    with_context: bool | None = None  # fn takes a TaskContext (read from its signature)
    freed: Callable[[], None] | None = None  # told when a busy slot frees (shared-queue pullers)

    def done(self) -> None:
        """A busy slot freed (its task ended, or the slot crashed)."""
        self.running -= 1
        if self.freed is not None:
            self.freed()

    def crashed(self, now: float) -> bool:
        """Count a crash at `now`; True if that is past the restart intensity."""
        return self.crashes.record(now)


async def slot(
    worker: LocalWorker,
    index: int,
    group: str,
    runs: Callable[[str], ActorRef[Any]],
    group_ref: ActorRef[Any],
    ledger: Ledger,
) -> None:
    """One slot of a local worker pool: run tasks one at a time, report each verdict."""
    worker_id = f"local:{group}:{index}"
    task: QueuedTask | None = None
    try:
        while True:
            item = await worker.inbox.get()
            if item is None:  # the pool shrank: this slot leaves
                worker.leaving -= 1
                return
            task, token = item
            try:
                run = runs(task.run_id)
                await run.tell(TaskStartedMsg(task.task_id, worker_id, at=ledger.clock.now()))
                context = _context(worker, task, group, run)
                result = await _execute_unless_ended(task, worker.fn, ledger, context, group)
                if result is not None:
                    if not result.awaiting:  # an awaiting one holds on until it ends
                        ledger.release(task.task_id, failed=result.failed)
                    await run.tell(result)
                await group_ref.tell(WorkerDone(task.type))
                task = None
            finally:
                token.__exit__(None, None, None)
    except (anyio.get_cancelled_exc_class(), KeyboardInterrupt, SystemExit):
        raise
    except ActorSystemStopped:  # the runtime is closing: see the module note
        if task is not None:
            log.info("worker.result_unsent", task_id=task.task_id, task_type=task.type)
    except BaseException as exc:  # a crash, not a task failure: see the module note
        if task is None:
            raise  # nothing in hand: the slot's own machinery broke — let it surface
        await _crashed(task, exc, runs, group_ref, ledger)
    finally:
        worker.slots -= 1


async def execute(
    worker: LocalWorker, task: QueuedTask, group: str, run: ActorRef[Any]
) -> TaskResult:
    """Run `worker`'s function on `task` once, outside a slot (a task pulled from the shared
    queues: `cadenza.runtime._pullers`), and turn what happened into a verdict."""
    return await _execute(task, worker.fn, _context(worker, task, group, run), group)


def _context(
    worker: LocalWorker, task: QueuedTask, group: str, run: ActorRef[Any]
) -> TaskContext | None:
    """The `TaskContext` for `task` if the worker's function takes one."""
    if worker.with_context is None:
        worker.with_context = takes_context(worker.fn)
    if not worker.with_context:
        return None
    return TaskContext(
        task.run_id, task.task_id, task.ref, task.type, task.attempt, task.workflow, group,
        task.correlation_id, run,
    )  # fmt: skip


def _summary(exc: BaseException) -> str:
    """`Type: message` on one line (a message's line breaks become spaces)."""
    message = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def _logged(task: QueuedTask, exc: BaseException, event: str = "task.worker_failed") -> str:
    """Log a worker's exception with its traceback (WARNING); returns the traceback."""
    log.warning(
        event,
        task_type=task.type,
        task_id=task.task_id,
        run_id=task.run_id,
        attempt=task.attempt,
        error=_summary(exc),
        exc_info=exc,
    )
    return "".join(traceback.format_exception(exc)).rstrip()


async def _crashed(
    task: QueuedTask,
    exc: BaseException,
    runs: Callable[[str], ActorRef[Any]],
    group_ref: ActorRef[Any],
    ledger: Ledger,
) -> None:
    error = _summary(exc)
    ledger.keep_place(task.task_id)
    ledger.release(task.task_id, failed=True)
    failed = crash_verdict(task, exc)
    try:
        await runs(task.run_id).tell(failed)
        await group_ref.tell(WorkerCrashed(task.type, error))
    except ActorSystemStopped:  # closing: recovery re-queues the task at its place
        log.info("worker.crash_unsent", task_id=task.task_id, error=error)


def crash_verdict(task: QueuedTask, exc: BaseException) -> TaskResult:
    """The failed verdict of a worker that crashed with `exc` holding `task` (logged as
    `task.worker_crashed`, with its traceback kept on the attempt); see the module note."""
    return TaskResult(
        task.task_id, None, failed=True, reason=f"worker crashed: {_summary(exc)}", lost=True,
        error=_logged(task, exc, "task.worker_crashed"),
    )  # fmt: skip


async def _execute_unless_ended(
    task: QueuedTask, fn: WorkerFn, ledger: Ledger, context: TaskContext | None, group: str
) -> TaskResult | None:
    """The verdict of running `fn` on `task`; None if the attempt ended without it.

    An attempt ends without its worker's verdict when it times out, its run
    is terminated, or its hand-out was refused: the ledger then cancels the
    execution, so a hung or overrunning function gives its slot back.
    """
    slot_task = asyncio.current_task()
    assert slot_task is not None
    abandoned = False

    def abandon() -> None:
        nonlocal abandoned
        if not abandoned:
            abandoned = True
            slot_task.cancel()

    if not ledger.executing(task.task_id, abandon):
        return None  # it ended between the hand-out and now
    try:
        result = await _execute(task, fn, context, group)
    except asyncio.CancelledError:
        # ours alone (`uncancel` leaves no other request): the attempt ended; else shutdown
        if not abandoned or slot_task.uncancel() > 0:
            raise
        return None
    finally:
        ledger.executed(task.task_id)
    if abandoned:  # the function swallowed the cancellation: withdraw it, drop the verdict
        slot_task.uncancel()
        return None
    return result


async def _execute(
    task: QueuedTask, fn: WorkerFn, context: TaskContext | None, group: str
) -> TaskResult:
    """Run a local worker function (in its `RunTask` span) and turn what happened into a verdict."""
    try:
        data = copy_plain(task.input)
        with _trace.task_span(
            task.trace, run_id=task.run_id, workflow=task.workflow, task_id=task.task_id,
            task_type=task.type, attempt=task.attempt, group=group,
        ):  # fmt: skip
            output = await (fn(data) if context is None else fn(data, context))  # type: ignore[call-arg]
    except TerminalError as exc:
        reason, kept = exc.reason or repr(exc), None
        if exc.output is not None:
            kept, why = _copied(exc.output)
            if why is not None:
                kept, reason = None, f"{reason} (its output was dropped: {why})"
        error = _logged(task, exc)
        return TaskResult(
            task.task_id, kept, failed=True, reason=reason, terminal=True, error=error
        )
    except SystemTaskFailed as exc:  # a system task's failure, worded as Conductor's
        return TaskResult(task.task_id, exc.output, failed=True, reason=exc.reason)
    except Exception as exc:
        reason, error = _summary(exc), _logged(task, exc)
        return TaskResult(task.task_id, None, failed=True, reason=reason, error=error)
    awaits = isinstance(fn, SystemTask) and fn.awaits(task)  # async complete: see its module
    if output is None:
        return TaskResult(task.task_id, {}, awaiting=awaits)
    copied, why = _copied(output)
    if why is not None:
        reason = f"worker for {task.type!r} returned {why}"
        return TaskResult(task.task_id, None, failed=True, reason=reason, terminal=True)
    return TaskResult(task.task_id, copied, awaiting=awaits)


def _copied(output: Any) -> tuple[dict[str, Any], str | None]:
    """A copy of a worker's `output` (the function may keep and change its own), or why not."""
    if not isinstance(output, dict):
        return {}, f"{type(output).__name__}; expected a dict or None"
    try:
        return copy_json(output), None
    except (TypeError, ValueError) as exc:
        return {}, f"output that is not JSON-serialisable: {exc}"
