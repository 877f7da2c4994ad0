"""Bugs to inject into the runtime, to show the checker can fail.

Design note
-----------
Each entry monkeypatches one bug class into the live runtime through a
`pytest.MonkeyPatch`-like object (`setattr(target, name, value)`), and
names the invariant the harness must report and the budget of seeds within
which it must. The patches wrap the runtime's own methods, so they keep
working while its internals change, as long as the patched names exist.

A bug that leaves a journal the runtime cannot fold (events after the
terminal one) runs with `stop_at_first`: the checker's end-of-run
comparison replays the journal with the runtime's own `fold`, which
refuses such a journal, so the first violation must be taken as it is
found (`run_seed` raises it as an `AssertionError` reading "[inv] ...").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from cadenza._errors import NotFound
from cadenza.actors import _mailbox
from cadenza.core._events import TaskCompleted, TaskFailed
from cadenza.dispatch import _groups, _ledger, _timers
from cadenza.dispatch._messages import TaskResult
from cadenza.engine import _host, _run_actor


class Patcher(Protocol):
    def setattr(self, target: Any, name: str, value: Any) -> None: ...


@dataclass(frozen=True, slots=True)
class Bug:
    name: str
    invariant: str  # the first violation kind the harness must report
    seeds_max: int  # the budget: found within this many seeds
    inject: Callable[[Patcher], None]
    run: dict[str, Any]  # run_seed arguments that give the bug a chance


def _skip_fencing(mp: Patcher) -> None:
    """Accept a result for any known task: no stale-attempt or already-ended check."""

    def current_task(self: Any, state: Any, task_id: str, *, allow: Any = ()) -> Any:
        task = state.task(task_id)
        if task is None:
            raise NotFound("task", task_id)
        return task

    mp.setattr(_run_actor.RunActor, "_current_task", current_task)


class _EarlyClock:
    """A clock 1 ms ahead: the timer service fires and pops due entries 1 ms early."""

    def __init__(self, clock: Any) -> None:
        self.clock = clock

    def now(self) -> float:
        return float(self.clock.now()) + 0.001

    def call_at(self, when: float, callback: Callable[[], None]) -> Any:
        return self.clock.call_at(when - 0.001, callback)


def _early_timer(mp: Patcher) -> None:
    original = _timers.TimerService.__init__

    def init(self: Any, clock: Any, *args: Any, **kwargs: Any) -> None:
        original(self, _EarlyClock(clock), *args, **kwargs)

    mp.setattr(_timers.TimerService, "__init__", init)


def _lose_timer_on_recovery(mp: Patcher) -> None:
    """While recovering, drop every task that is not yet due (its timer is lost)."""
    enqueue = _host.Engine.enqueue
    recover = _host.Engine._recover

    def lossy_enqueue(self: Any, group: str, task: Any) -> None:
        if getattr(self, "_sim_recovering", False) and task.ready_at > self.clock.now():
            return
        enqueue(self, group, task)

    async def recovering(self: Any) -> None:
        self._sim_recovering = True
        try:
            await recover(self)
        finally:
            self._sim_recovering = False

    mp.setattr(_host.Engine, "enqueue", lossy_enqueue)
    mp.setattr(_host.Engine, "_recover", recovering)


def _ignore_priority(mp: Patcher) -> None:
    """One FIFO per type, as EasyScheduler's global queue: priority is dropped on push."""
    push = _groups.WorkerGroup._push

    def fifo_push(self: Any, task: Any) -> None:
        task.priority = 0
        push(self, task)

    mp.setattr(_groups.WorkerGroup, "_push", fifo_push)


def _record_late_results(mp: Patcher) -> None:
    """A result for a run that already ended is journaled "for the record", not refused.

    The run-ended check of the result path is gone. Dropping it alone changes
    nothing observable: every way a run ends cancels its open attempts, so the
    attempt-ended check refuses the same results, and `apply` refuses any event
    after the terminal one. The bug that gets through is the one that skips
    both, as a naive answer to conductor-oss#322 ("accept the worker's update
    after the task timed out") would: the late verdict is appended to the run's
    journal, after its terminal event, without touching the in-memory state.
    Unknown and superseded attempts are still refused.
    """
    handle = _run_actor.RunActor._handle

    def handle_recording_late(self: Any, message: Any, now: float, events: list[Any]) -> Any:
        state = self.state
        if isinstance(message, TaskResult) and state is not None and state.status.terminal:
            task = state.task(message.task_id)
            if task is not None and not task.retried:
                if message.failed:
                    events.append(
                        TaskFailed(
                            at=now, task_id=task.id, reason=message.reason, output=message.output
                        )
                    )
                else:
                    events.append(
                        TaskCompleted(at=now, task_id=task.id, output=message.output or {})
                    )
                return None  # accepted: the worker hears nothing wrong
        return handle(self, message, now, events)

    mp.setattr(_run_actor.RunActor, "_handle", handle_recording_late)


def _requeue_at_the_back(mp: Patcher) -> None:
    """A task that goes back to its queue gets a fresh place behind the work since.

    EasyScheduler's inversion for retries (DESIGN problem 3): a task handed back
    (its poller went away), a retry inheriting an expired lease's place, or an
    attempt recovery requeues at its original `ready_at` (TaskRequeued) is pushed
    as if it had just arrived — `ready_at = now`, a new sequence number — instead
    of at its original `(ready_at, seq)`.
    """
    push = _groups.WorkerGroup._push

    def push_at_the_back(self: Any, task: Any) -> None:
        self.ledger.place_for(task)  # the kept place of an expired lease is thrown away
        task.seq = 0  # not recognised as handed back: the group gives it the next seq
        task.ready_at = max(task.ready_at, self.clock.now())
        push(self, task)

    mp.setattr(_groups.WorkerGroup, "_push", push_at_the_back)


LOSSY_MAILBOX = 4  # the bound the lossy mailbox drops at (the real ones hold 1024 or 65536)


def _drop_on_full_mailbox(mp: Patcher) -> None:
    """A full mailbox drops the message silently instead of making the sender wait.

    The `put_nowait` whose `QueueFull` is swallowed: `tell`, `ask` and
    `tell_nowait` all report success, and the message is gone — a lost `Poll`
    leaves its worker waiting forever, a lost `Enqueue` leaves a SCHEDULED task
    in no queue. The bound is lowered to `LOSSY_MAILBOX` so the workload fills
    it (a group's mailbox gets the burst of polls at every start).
    """
    try_send = _mailbox._Cell._try_send

    def lossy_try_send(self: Any, message: object) -> bool:
        if (
            self.system._accepting
            and not self._closing
            and self._occupied >= min(self._size, LOSSY_MAILBOX)
        ):
            return True  # "sent"
        return bool(try_send(self, message))

    mp.setattr(_mailbox._Cell, "_try_send", lossy_try_send)


def _keep_hung_workers(mp: Patcher) -> None:
    """A local worker's execution is never cancelled when its attempt ends another way.

    The slot registers nothing with the ledger, so a timeout (or a terminate)
    ends the attempt but leaves the function running: a hung function holds
    its slot, and the runtime's busy count, for ever.
    """

    def executing(self: Any, task_id: str, cancel: Any) -> bool:
        return task_id in self.handed

    mp.setattr(_ledger.Ledger, "executing", executing)


BUGS: dict[str, Bug] = {
    "skip_fencing": Bug("skip_fencing", "inv2", 3, _skip_fencing, {"duration_s": 3.0}),
    "early_timer": Bug("early_timer", "inv4", 3, _early_timer, {"duration_s": 3.0}),
    "ignore_priority": Bug("ignore_priority", "inv3", 3, _ignore_priority, {"duration_s": 3.0}),
    "lose_timer_on_recovery": Bug(
        "lose_timer_on_recovery",
        "liveness",
        20,
        _lose_timer_on_recovery,
        {"duration_s": 3.0, "crashes_max": 3},
    ),
    "record_late_results": Bug(
        "record_late_results",
        "inv1",
        3,
        _record_late_results,
        {"duration_s": 3.0, "stop_at_first": True},
    ),
    "requeue_at_the_back": Bug(
        "requeue_at_the_back",
        "inv3",
        3,
        _requeue_at_the_back,
        {"duration_s": 3.0, "crashes_max": 3},  # recovery requeues what the crash held
    ),
    "drop_on_full_mailbox": Bug(
        "drop_on_full_mailbox", "liveness", 3, _drop_on_full_mailbox, {"duration_s": 3.0}
    ),
    "keep_hung_workers": Bug(
        "keep_hung_workers",
        "leak",
        3,
        _keep_hung_workers,
        {"duration_s": 3.0, "workload": "local_workers"},
    ),
}
