"""The dispatch ledger: what is handed out, leases, and the per-task-type limits.

Design note
-----------
One `Ledger` per runtime, shared by every worker group and every run actor,
owned by the runtime (not by an actor) so that restarting or passivating an
actor loses nothing. It is only touched from actor handlers on the event
loop, one at a time, so it needs no lock.

- **Hand-outs.** A group records each task it hands out (`handed`) with its
  queue key `(ready_at, seq)`. The entry is dropped when the attempt ends:
  a result reaches its run (`release`), the task is cancelled or requeued
  (the group releases it), or its lease expires.
- **Leases.** A hand-off to an external poller becomes a lease when the run
  accepts the start (`grant`): one clock callback at `now +
  responseTimeoutSeconds` telling the run `LeaseExpired(task_id, token)`.
  A heartbeat or update re-arms it (`extend`) under a new token, cancelling
  the old callback; the run acts on an expiry only if the token is still
  current (`expire`), so a stale expiry changes nothing.
- **Local executions.** A local slot registers the attempt it executes
  (`executing`); when the attempt ends any other way (a timeout, a cancel,
  a refused start), `release` cancels the execution, so a hung function
  cannot hold its slot for ever. A task pulled from the shared queues is
  registered the same way (`watch`): its run, if owned here, cancels it so.
- **Original place.** When a lease expires, its queue key is kept under
  (run id, task reference); the retry of that task, once due, is queued at
  that key (`place_for`), not behind the work that arrived since.
- **Limits.** `concurrentExecLimit` counts a type's hand-outs still held,
  across groups and across local and external workers. The rate limit is a
  sliding window: at most `rateLimitPerFrequency` hand-outs in any
  `rateLimitFrequencyInSeconds`; the next one is allowed at exactly
  `oldest + window`, when a wake-up is armed for the group (no polling). A
  group held back by the concurrency limit is woken when a slot frees. Both
  are read from the registered TaskDef at every check, so re-registering a
  TaskDef changes them at once (`limits_changed` wakes every group).
- **Circuit breakers** (`_breaker.py`): one per (group, task name) whose
  TaskDef has a `circuitBreaker`, created on first use. `admit` asks it
  first; `hand_out` stamps the entry with the breaker's generation; the
  outcome reaches it through `release(task_id, failed=...)`, which the run's
  actor calls with its verdict (completion or failure, from a local worker
  or an external one), and through `expire` (a lease timeout is a failure).
  An entry released without a verdict (cancelled, requeued) only frees a
  half-open probe.
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cadenza.actors import Clock, TimerHandle
from cadenza.dispatch._breaker import Breaker
from cadenza.dispatch._messages import LeaseExpired, QueuedTask
from cadenza.language._taskdef import TaskDef

PLACES_MAX = 65_536  # kept keys of expired leases awaiting their retry; oldest dropped first


@dataclass(slots=True)
class Handed:
    """One task handed out and not yet ended."""

    run_id: str
    ref: str
    name: str
    group: str
    place: tuple[float, int]
    token: int = 0
    timeout_s: float = 0.0
    deadline: float | None = None
    timer: TimerHandle | None = None
    breaker: int | None = None  # the generation of the group's breaker at hand-out


class Ledger:
    """See the module note. `send_run(run_id, message)` tells a run's actor;
    `wake_group(group)` tells a group to look at its queue again."""

    def __init__(
        self,
        clock: Clock,
        *,
        task_def: Callable[[str], TaskDef | None],
        send_run: Callable[[str, Any], None],
        wake_group: Callable[[str], None],
    ) -> None:
        self.clock = clock
        self.task_def = task_def
        self.send_run = send_run
        self.wake_group = wake_group
        self.handed: dict[str, Handed] = {}
        self.in_flight: dict[str, int] = {}  # task name -> hand-outs held
        self.windows: dict[str, deque[float]] = {}  # task name -> recent hand-out times
        self.blocked: dict[str, set[str]] = {}  # task name -> groups held back by the limit
        self.places: dict[tuple[str, str], tuple[float, int]] = {}
        self.tokens = itertools.count(1)
        self.expired = 0
        self.breakers: dict[tuple[str, str], Breaker] = {}  # (group, task name) -> breaker
        self.live: frozenset[str] = frozenset()  # groups with a live local worker or parked poll
        self.polled_at: dict[tuple[str, str], float] = {}  # (task type, group) -> last poll
        # the last `active_polls` answer: (its window, its oldest poll, the answer)
        self._active: tuple[float, float, dict[str, frozenset[str]]] | None = None
        self.delayed: dict[str, int] = {}  # group -> enqueues held by the timer service
        # (task id, ready_at) of delayed enqueues cancelled while the timer held them
        self.cancelled_delayed: set[tuple[str, float]] = set()
        self.executions: dict[str, Callable[[], None]] = {}  # task id -> cancels its local run

    # -- groups -------------------------------------------------------------------

    def set_live(self, group: str, live: bool) -> None:
        """A group gained or lost its last live worker (routing reads `live`)."""
        if (group in self.live) != live:
            self.live = self.live | {group} if live else self.live - {group}

    def polled(self, task_type: str, group: str, now: float) -> None:
        """A worker polled `group` for `task_type` (even finding nothing): routing's poll data."""
        key = (task_type, group)
        if key not in self.polled_at:
            self._active = None  # a pair the last answer lacks
        self.polled_at[key] = now

    def active_polls(self, now: float, within_s: float) -> dict[str, frozenset[str]]:
        """Task type -> the groups polled for it within the last `within_s` seconds (read-only).

        The last answer is given again until a new pair is polled or its oldest
        poll may have gone stale (a poll since only makes its pair more recent):
        runs ask at every decision.
        """
        cached = self._active
        if cached is not None and cached[0] == within_s and now - cached[1] <= within_s:
            return cached[2]
        active: dict[str, set[str]] = {}
        oldest = math.inf
        for (task_type, group), at in list(self.polled_at.items()):
            if now - at <= within_s:
                active.setdefault(task_type, set()).add(group)
                oldest = min(oldest, at)
            else:
                del self.polled_at[(task_type, group)]  # stale: forgotten
        answer = {task_type: frozenset(groups) for task_type, groups in active.items()}
        self._active = (within_s, oldest, answer)
        return answer

    def delay(self, group: str) -> None:
        """An enqueue for `group` waits in the timer service: the group must not retire."""
        self.delayed[group] = self.delayed.get(group, 0) + 1

    def undelay(self, group: str) -> None:
        count = self.delayed.get(group, 0) - 1
        if count > 0:
            self.delayed[group] = count
        else:
            self.delayed.pop(group, None)

    # -- limits -------------------------------------------------------------------

    def admit(self, name: str, group: str, now: float) -> float | None:
        """None if a task `name` may be handed out now, else when to look again (inf: on release)."""
        task_def = self.task_def(name)
        if task_def is None:
            return None
        if task_def.circuit_breaker is not None:
            breaker = self.breakers.get((group, name))
            if breaker is None:
                breaker = Breaker(group, name, task_def.circuit_breaker)
                self.breakers[(group, name)] = breaker
            again = breaker.allows(now)
            if again is not None:
                if again == float("inf"):  # half-open, every probe out: woken by a verdict
                    self.blocked.setdefault(name, set()).add(group)
                return again
        limit = task_def.concurrent_exec_limit
        if limit and self.in_flight.get(name, 0) >= limit:
            self.blocked.setdefault(name, set()).add(group)
            return float("inf")
        per = task_def.rate_limit_per_frequency
        if per > 0:
            window_s = task_def.rate_limit_frequency_s
            times = self.windows.get(name)
            if times is not None:
                while times and times[0] + window_s <= now:
                    times.popleft()
                if len(times) >= per:
                    return times[-per] + window_s
        return None

    def limits_changed(self, groups: list[str]) -> None:
        """A TaskDef was registered again: every group re-checks what it holds back."""
        self.blocked.clear()
        for key, breaker in list(self.breakers.items()):
            task_def = self.task_def(key[1])
            if task_def is None or task_def.circuit_breaker is None:
                del self.breakers[key]  # no breaker any more: its type flows again
            else:
                breaker.reconfigure(task_def.circuit_breaker)
        for group in groups:
            self.wake_group(group)

    # -- hand-outs ----------------------------------------------------------------

    def hand_out(self, task: QueuedTask, group: str, now: float) -> None:
        entry = self.handed[task.task_id] = Handed(
            task.run_id, task.ref, task.name, group, (task.ready_at, task.seq)
        )
        breaker = self.breakers.get((group, task.name))
        if breaker is not None:
            entry.breaker = breaker.handed()
        self.in_flight[task.name] = self.in_flight.get(task.name, 0) + 1
        task_def = self.task_def(task.name)
        if task_def is not None and task_def.rate_limit_per_frequency > 0:
            times = self.windows.setdefault(task.name, deque())
            times.append(now)
            while len(times) > task_def.rate_limit_per_frequency:
                times.popleft()

    def hold(self, task: QueuedTask, group: str) -> None:
        """Count again a hand-out made before a restart and still held (a system task awaiting
        its completion from outside): in the limits until `release`, once however often told."""
        if task.task_id in self.handed:
            return
        self.handed[task.task_id] = Handed(
            task.run_id, task.ref, task.name, group, (task.ready_at, task.seq)
        )
        self.in_flight[task.name] = self.in_flight.get(task.name, 0) + 1

    def drop_runs(self, dropped: Callable[[str], bool]) -> int:
        """Release what the runs `dropped(run_id)` names held (they moved to another process,
        which counts them), except attempts a local slot still executes: those release
        themselves when they end. How many were released."""
        gone = [
            task_id
            for task_id, entry in self.handed.items()
            if dropped(entry.run_id) and task_id not in self.executions
        ]
        for task_id in gone:
            self.release(task_id)
        return len(gone)

    def release(self, task_id: str, *, failed: bool | None = None) -> None:
        """The attempt ended (result, cancel, requeue): free its slot, drop its lease.

        `failed` is the verdict (None: none, e.g. cancelled); its breaker learns it.
        A local worker still executing the attempt is cancelled: its verdict
        would be refused, and its slot is wanted.
        """
        cancel = self.executions.pop(task_id, None)
        if cancel is not None:
            cancel()
        entry = self.handed.pop(task_id, None)
        if entry is None:
            return
        if entry.breaker is not None:
            breaker = self.breakers.get((entry.group, entry.name))
            if breaker is not None:
                breaker.record(entry.breaker, failed, self.clock.now())
        if entry.timer is not None:
            entry.timer.cancel()
        count = self.in_flight.get(entry.name, 0) - 1
        if count > 0:
            self.in_flight[entry.name] = count
        else:
            self.in_flight.pop(entry.name, None)
        for group in self.blocked.pop(entry.name, ()):
            self.wake_group(group)

    def executing(self, task_id: str, cancel: Callable[[], None]) -> bool:
        """A local slot begins executing `task_id`; False if the attempt has already ended.

        `cancel` is called if the attempt ends before the slot reports `executed`.
        """
        if task_id not in self.handed:
            return False
        self.executions[task_id] = cancel
        return True

    def watch(self, task_id: str, cancel: Callable[[], None]) -> None:
        """A task pulled from the shared queues runs here: `cancel` is called if this
        process's run ends the attempt (`release`) before `executed`."""
        self.executions[task_id] = cancel

    def executed(self, task_id: str) -> None:
        self.executions.pop(task_id, None)

    def place_for(self, task: QueuedTask) -> tuple[float, int] | None:
        """The queue key a retry inherits from an attempt whose lease expired."""
        return self.places.pop((task.run_id, task.ref), None)

    def keep_place(self, task_id: str) -> None:
        """Keep the queue key of a handed-out task for its retry (a lease expired, a worker crashed)."""
        entry = self.handed.get(task_id)
        if entry is None:
            return
        if len(self.places) >= PLACES_MAX:
            self.places.pop(next(iter(self.places)))
        self.places[(entry.run_id, entry.ref)] = entry.place

    def forget_place(self, run_id: str, ref: str) -> None:
        self.places.pop((run_id, ref), None)

    # -- leases -------------------------------------------------------------------

    def grant(self, task: QueuedTask) -> None:
        """The run accepted a poll's hand-off: arm its lease (responseTimeoutSeconds)."""
        entry = self.handed.get(task.task_id)
        task_def = self.task_def(task.name)
        if entry is None or task_def is None or task_def.response_timeout_s <= 0:
            return
        entry.timeout_s = task_def.response_timeout_s
        self._arm(task.task_id, entry)

    def extend(self, task_id: str) -> None:
        """A heartbeat or update: the lease runs `timeout_s` from now, under a new token."""
        entry = self.handed.get(task_id)
        if entry is not None and entry.timeout_s > 0:
            self._arm(task_id, entry)

    def lapsed(self, task_id: str, now: float) -> int | None:
        """The token of `task_id`'s lease if its deadline has passed (its expiry may be in flight)."""
        entry = self.handed.get(task_id)
        if entry is None or entry.deadline is None or now < entry.deadline:
            return None
        return entry.token

    def current(self, task_id: str, token: int) -> bool:
        """Whether `token` is the lease `task_id` still holds (asks; changes nothing)."""
        entry = self.handed.get(task_id)
        return entry is not None and entry.token == token

    def expire(self, task_id: str, token: int) -> bool:
        """True (and the lease ends, its place kept) if `token` is the lease still current."""
        entry = self.handed.get(task_id)
        if entry is None or entry.token != token:
            return False
        self.keep_place(task_id)
        self.release(task_id, failed=True)  # a timeout counts against the breaker
        self.expired += 1
        return True

    def _arm(self, task_id: str, entry: Handed) -> None:
        if entry.timer is not None:
            entry.timer.cancel()
        token = entry.token = next(self.tokens)
        deadline = entry.deadline = self.clock.now() + entry.timeout_s
        run_id = entry.run_id
        entry.timer = self.clock.call_at(
            deadline, lambda: self.send_run(run_id, LeaseExpired(task_id, token))
        )
