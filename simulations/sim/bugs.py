"""Bugs to inject into the runtime, to show the checker can fail.

Design note
-----------
Each entry monkeypatches one bug class into the live runtime through a
`pytest.MonkeyPatch`-like object (`setattr(target, name, value)`), and
names the invariant the harness must report and the budget of seeds within
which it must. The patches wrap the runtime's own methods, so they keep
working while its internals change, as long as the patched names exist.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from cadenza.runtime import _groups, _run_actor, _runtime, _timers


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
            raise _run_actor.NotFound("task", task_id)
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
    enqueue = _runtime.Runtime.enqueue
    recover = _runtime.Runtime._recover

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

    mp.setattr(_runtime.Runtime, "enqueue", lossy_enqueue)
    mp.setattr(_runtime.Runtime, "_recover", recovering)


def _ignore_priority(mp: Patcher) -> None:
    """One FIFO per type, as EasyScheduler's global queue: priority is dropped on push."""
    push = _groups.WorkerGroup._push

    def fifo_push(self: Any, task: Any) -> None:
        task.priority = 0
        push(self, task)

    mp.setattr(_groups.WorkerGroup, "_push", fifo_push)


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
}
