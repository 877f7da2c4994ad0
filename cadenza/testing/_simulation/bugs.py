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

The last entries re-inject the five bugs of issue 12, section 4, each by
turning its fix off, into the `random_definitions` workload (whose checks,
`conductor_checks.py`, were written for them): a read of a parked run that
arms its wake-up again (17437b1), payloads that alias the caller's objects
(3653391), an EXPONENTIAL_BACKOFF delay computed before its cap, alone or
with a core error that crashes the run's actor instead of failing the run
(6531b24), a timer service whose heap is lost on a supervised restart
(7f67207), and a send under back-pressure that loses its sender's place
(eddc472).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from cadenza import _json
from cadenza._errors import NotFound
from cadenza.actors import ActorStopped, ActorSystemStopped, MailboxFull, _mailbox
from cadenza.core._events import TaskCompleted, TaskFailed
from cadenza.dispatch import _groups, _ledger, _slots, _timers
from cadenza.dispatch._messages import PollExpired, TaskResult, Tick
from cadenza.engine import _host
from cadenza.engine.run import _actor as _run_actor
from cadenza.engine.run import _timing as _run_timing
from cadenza.language._taskdef import RetryLogic, TaskDef
from cadenza.runtime import _arguments, _operator, _workers


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

    def current_task(state: Any, task_id: str, *, allow: Any = ()) -> Any:
        task = state.task(task_id)
        if task is None:
            raise NotFound("task", task_id)
        return task

    mp.setattr(_run_actor, "current_task", current_task)


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
    recover = _host.Engine.recover

    def lossy_enqueue(self: Any, group: str, task: Any) -> None:
        if getattr(self, "_sim_recovering", False) and task.ready_at > self.clock.now():
            return
        enqueue(self, group, task)

    async def recovering(self: Any, rows: Any = None) -> None:
        self._sim_recovering = True
        try:
            await recover(self, rows)
        finally:
            self._sim_recovering = False

    mp.setattr(_host.Engine, "enqueue", lossy_enqueue)
    mp.setattr(_host.Engine, "recover", recovering)


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


# -- issue 12, section 4: each fix turned off ---------------------------------------------


def _parked_reads_arm_again(mp: Patcher) -> None:
    """1 (17437b1 undone): a run loaded from a parked row forgets the wake-up the row
    promised, so each read of a parked run arms it once more."""

    def loaded(self: Any, row: Any) -> None:
        self.armed = None

    mp.setattr(_run_timing.RunDeadlines, "loaded", loaded)


def _alias_payloads(mp: Patcher) -> None:
    """2 (3653391 undone): `check_payload` hands back the caller's own object, and a local
    worker's output is kept as returned: what either changes later changes the run."""
    check = _json.check_payload
    copied = _slots._copied

    def aliasing_check(what: str, value: Any) -> dict[str, Any]:
        check(what, value)  # the same refusals
        return value if isinstance(value, Mapping) else {}  # type: ignore[return-value]

    def aliasing_copy(output: Any) -> tuple[dict[str, Any], str | None]:
        kept, why = copied(output)
        return (output, None) if why is None else (kept, why)

    for module in (_arguments, _workers, _operator):  # rt.start checks in _arguments
        mp.setattr(module, "check_payload", aliasing_check)
    mp.setattr(_slots, "_copied", aliasing_copy)


def _uncapped_delay(self: TaskDef, retry_count: int) -> float:
    """`retry_delay_for` before 6531b24: `2**n` first, the cap after (OverflowError at 1,024)."""
    if self.retry_logic is RetryLogic.FIXED:
        delay = self.retry_delay_s
    elif self.retry_logic is RetryLogic.LINEAR_BACKOFF:
        delay = self.retry_delay_s * self.backoff_scale_factor * (retry_count + 1)
    else:
        delay = self.retry_delay_s * (2**retry_count)
    if self.max_retry_delay_s is not None:
        delay = min(delay, self.max_retry_delay_s)
    return max(0.0, delay)


def _overflowing_backoff(mp: Patcher) -> None:
    """3a (6531b24's cap undone): EXPONENTIAL_BACKOFF's delay overflows past the 1,024th
    retry, inside `decide`; the run actor still fails the run, naming an internal error."""
    mp.setattr(TaskDef, "retry_delay_for", _uncapped_delay)


def _core_error_crashes_the_actor(mp: Patcher) -> None:
    """3b (6531b24 undone): the overflow, and a core error raised out of the run's actor:
    it crashes, its restart replays the journal, and the run stays RUNNING."""
    _overflowing_backoff(mp)

    def reraise(run_id: str, state: Any, exc: Exception, now: float, events: Any) -> Any:
        raise exc

    mp.setattr(_run_actor, "failed_inside", reraise)


def _fresh_timer_heap(mp: Patcher) -> None:
    """4 (7f67207 undone): every incarnation of the timer service after the first starts
    with an empty heap, as when the heap lived on the actor instance."""
    original = _timers.TimerService.__init__
    used: set[int] = set()

    def init(self: Any, clock: Any, *args: Any, state: Any = None, **kwargs: Any) -> None:
        if state is not None and id(state) in used:
            state.heap.clear()  # the restart lost what the last incarnation held
        elif state is not None:
            used.add(id(state))
        original(self, clock, *args, state=state, **kwargs)

    mp.setattr(_timers.TimerService, "__init__", init)


def _anonymous_tell_soon(system: Any, ref: Any, message: Any) -> None:
    """`_tell_soon` before eddc472: a full mailbox hands the message to a task of its own."""
    try:
        ref.tell_nowait(message)
    except MailboxFull:
        system.start_soon(_tell_later, ref, message)  # sent as nobody, a loop step later
    except (ActorStopped, ActorSystemStopped):
        if not isinstance(message, (Tick, PollExpired)):
            raise


async def _tell_later(ref: Any, message: Any) -> None:
    with contextlib.suppress(ActorStopped, ActorSystemStopped):  # the runtime closed meanwhile
        await ref.tell(message)


def _reorder_under_back_pressure(mp: Patcher) -> None:
    """5 (eddc472 undone): a message that meets a full group mailbox loses its sender's
    place; a run's Cancel can overtake its Enqueue, and the ended attempt stays queued."""
    mp.setattr(_groups, "_tell_soon", _anonymous_tell_soon)
    mp.setattr(_host, "_tell_soon", _anonymous_tell_soon)


_RANDOM: dict[str, Any] = {"workload": "random_definitions"}
_DEEP_FAILURES: dict[str, Any] = {  # every run's flaky task fails past the 1,024th retry
    **_RANDOM,
    "duration_s": 0.5,
    "rate_per_s": 4.0,
    "crashes_max": 0,
    "journal_faults": False,
    "liveness_bound_s": 45.0,
    "load_options": {"deep_fail_p": 1.0, "flaky_weight": 40, "chaos": False, "ops_per_s": 0.0},
}

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
    # issue 12, section 4 (the random_definitions workload):
    "parked_reads_arm_again": Bug(
        "parked_reads_arm_again",
        "timers",
        2,
        _parked_reads_arm_again,
        {
            **_RANDOM,
            "duration_s": 0.5,
            "liveness_bound_s": 20.0,
            "load_options": {"sweep_window": 3, "sweeps_per_s": 40.0},
        },
    ),
    "alias_payloads": Bug(
        "alias_payloads", "inv8", 2, _alias_payloads, {**_RANDOM, "duration_s": 0.5}
    ),
    "overflowing_backoff": Bug(
        "overflowing_backoff", "conductor", 1, _overflowing_backoff, _DEEP_FAILURES
    ),
    "core_error_crashes_the_actor": Bug(
        "core_error_crashes_the_actor",
        "liveness",
        1,
        _core_error_crashes_the_actor,
        _DEEP_FAILURES,
    ),
    "fresh_timer_heap": Bug(
        "fresh_timer_heap",
        "liveness",
        2,
        _fresh_timer_heap,
        {  # timer restarts only, as often as the restart intensity allows; nothing repairs
            **_RANDOM,
            "duration_s": 2.5,
            "crashes_max": 0,
            "load_options": {
                "chaos_gap_s": (1.7, 2.0),
                "timer_restart_p": 1.0,
                "sweeps_per_s": 0.0,
            },
        },
    ),
    "reorder_under_back_pressure": Bug(
        "reorder_under_back_pressure",
        "inv2",
        4,
        _reorder_under_back_pressure,
        {  # groups' mailboxes of 2, delays across senders, runs terminated as they start
            **_RANDOM,
            "duration_s": 1.0,
            "rate_per_s": 120.0,  # starts share passes (`_fresh`): more of them fill the group
            "group_mailbox": 2,
            "delay_max_s": 0.01,
            "liveness_bound_s": 20.0,
            "load_options": {"terminate_fresh_p": 0.6},
        },
    ),
}
