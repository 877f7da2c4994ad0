"""The invariant checker: DESIGN.md's invariants, read from the journal and the live runtime.

Design note
-----------
`scan()` runs after every batch of the simulation loop. It reads the
records the in-memory journal gained since the last scan (the journal plays
the disk, so this is what a crash would leave) and checks, per record:

- inv 1: nothing is appended to a run after its terminal event, and
  nothing follows the terminal event inside its record;
- inv 2 (no effect twice): an attempt ends (completed, failed, cancelled)
  at most once;
- inv 3 (with `check_priority`): when an attempt starts at t, no other
  attempt of the same type and group was waiting since before t with a
  better key (higher run priority, or equal priority and an earlier place:
  `ready_at`, or the `place_at` a retry of a timed-out attempt inherits —
  the group's ordering rule). Off when messages are delayed,
  since a delayed `Enqueue` legitimately reaches the group late. A start
  carries its hand-out time, and its record may land late (a failed commit
  is redone), so a seeming overtaking is judged `JUDGE_AFTER_S` later; if
  a crash came before the overtaken task's start landed, that start may
  have been lost with the crash, and the verdict is counted `in_doubt`;
- inv 4: no attempt is started (`TaskStarted.at`) before its `ready_at`
  (from `TaskScheduled` or the latest `TaskRequeued`).

When the harness swaps journals (a crash), the scan restarts from the
durable copy, so records lost in the crash are forgotten.

`check_live()` runs at quiescent points (no driver running): for every run,
`rt.get` must equal the fold of the journal from scratch (inv 5, which also
covers "terminal never reported RUNNING"); every run the runtime announced
finished is terminal with that status; and every SCHEDULED task of an
unfinished run sits in its group's queue or the timer heap (inv 2, nothing
lost). `check_liveness()` says which runs are not terminal; once all are,
no local worker slot may still be busy (`leak`: a hung function whose
attempt ended must have been cancelled).

It reaches into private state (the journal's store, group queues, the timer
heap): it is a test harness, and those are what it must check.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cadenza.core._events import (
    TERMINAL_EVENTS,
    Event,
    TaskCanceled,
    TaskCompleted,
    TaskFailed,
    TaskRequeued,
    TaskScheduled,
    TaskStarted,
    WorkflowReopened,
    WorkflowStarted,
    event_from_json,
)
from cadenza.core._status import TaskStatus
from cadenza.engine.schedules._store import STREAM_PREFIX as SCHEDULE_STREAM
from cadenza.persistence import MemoryJournal
from cadenza.persistence._codec import decode_events
from cadenza.runtime import WorkflowRun, fold
from cadenza.testing._simulation.harness import SimRuntime

EARLY_EPS_S = 1e-6  # float noise; an injected early timer is 1 ms
# With Runtime(timer_resolution_s=r) the timer service rounds wake-ups up to r, so a
# task due at t reaches its group by t + r; inv 3 then counts it as waiting only after
# that. The default resolution is 0: strict priority order holds to the instant.
TIMER_SLACK_S = 0.0
# A start is journaled with its hand-out time, but its record may land later (a commit
# that failed is redone after a backoff of up to ~1.3 s): inv 3 waits this long for
# the starts of the tasks that seem to have been overtaken before it judges.
JUDGE_AFTER_S = 2.0


@dataclass(frozen=True, slots=True)
class Violation:
    invariant: str
    at: float
    run_id: str
    detail: str

    def __str__(self) -> str:
        return f"[{self.invariant}] t={self.at:.3f}s run={self.run_id}: {self.detail}"


class Checker:
    """See the module note; `violations` collects what was found."""

    def __init__(
        self,
        harness: SimRuntime,
        *,
        stop_at_first: bool = False,
        check_priority: bool = True,
        timer_slack_s: float = TIMER_SLACK_S,
    ) -> None:
        self.h = harness
        self.timer_slack_s = timer_slack_s
        self.check_priority = check_priority
        self.stop_at_first = stop_at_first
        self.violations: list[Violation] = []
        self._reported: set[tuple[str, str, str]] = set()
        self.scans = 0
        self.in_doubt = 0  # inv 3 verdicts a crash made undecidable
        self.signalled: set[str] = set()  # WAIT attempts an operator may complete early
        # more checks a workload adds: per journal record, and at the quiescent comparison
        self.on_record: list[Callable[[str, list[Event]], None]] = []
        self.on_live: list[Callable[[Any, list[WorkflowRun]], None]] = []
        self._reset(harness.journal)
        harness.sim.loop.on_batch.append(self.scan)

    def _reset(self, journal: MemoryJournal) -> None:
        self._journal = journal
        self._seen = 0
        self.events: dict[str, list[Event]] = {}
        self._terminal: set[str] = set()
        self._ended: set[str] = set()
        self._ready_at: dict[str, float] = {}
        self._wake_at: dict[str, float] = {}  # WAIT task -> deadline (signalled ones aside)
        self._priority: dict[str, int] = {}  # run id -> priority
        self._queue_of: dict[str, tuple[str, str]] = {}  # task id -> (group, type)
        self._waiting: dict[tuple[str, str], _Waiting] = {}  # (group, type) -> its waiting tasks
        self._waiting_of_run: dict[str, set[str]] = {}
        self._starts: dict[str, list[float]] = {}  # task id -> its starts, in journal order
        self._place_at: dict[str, float] = {}  # retries of timed-out attempts: inherited places
        self._deferred: list[tuple[float, str, str, tuple[str, str], list[tuple[str, int]]]] = []

    def report(self, invariant: str, run_id: str, detail: str) -> None:
        if (invariant, run_id, detail) in self._reported:
            return  # found again while rescanning after a crash
        self._reported.add((invariant, run_id, detail))
        self.violations.append(Violation(invariant, self.h.sim.time, run_id, detail))
        if self.stop_at_first:
            raise AssertionError(str(self.violations[-1]))

    # -- after every step ------------------------------------------------------

    def scan(self) -> None:
        journal = self.h.journal
        if journal is not self._journal:
            self._reset(journal)
        store = journal._store
        self.scans += 1
        while self._seen < store.last_seq:
            self._seen += 1
            row = store.records.get(self._seen)
            if row is None:
                continue
            sid, payload, crc = row
            if sid.startswith(SCHEDULE_STREAM):
                continue  # a schedule's own record: `schedules.ScheduleChecks` checks its runs
            data = decode_events(sid, self._seen, payload, crc)
            self._record(sid, [event_from_json(d, stream_id=sid) for d in data])
        if self._deferred:
            self._judge_deferred(self.h.sim.clock.now())

    def _record(self, run_id: str, events: list[Event]) -> None:
        if run_id in self._terminal and events and isinstance(events[0], WorkflowReopened):
            self._terminal.discard(run_id)  # retry, restart or rerun: RUNNING again
        if run_id in self._terminal:
            kinds = ", ".join(type(e).__name__ for e in events)
            self.report("inv1", run_id, f"record appended after the terminal event: {kinds}")
        self.events.setdefault(run_id, []).extend(events)
        for index, event in enumerate(events):
            if isinstance(event, TERMINAL_EVENTS):
                self._terminal.add(run_id)
                following = events[index + 1] if index + 1 < len(events) else None
                if following is not None and not isinstance(following, WorkflowReopened):
                    self.report("inv1", run_id, f"events follow {type(event).__name__}")
                self._forget_waiting(run_id)
            elif isinstance(event, WorkflowReopened):
                self._terminal.discard(run_id)
                for task_id in event.resumed or ():  # a JOIN or DO_WHILE back in progress
                    self._ended.discard(task_id)
            elif isinstance(event, WorkflowStarted):
                self._priority[run_id] = event.priority
            elif isinstance(event, TaskScheduled):
                self._ready_at[event.task_id] = event.ready_at
                if event.wake_at is not None:
                    self._wake_at[event.task_id] = event.wake_at
                self._queue_of[event.task_id] = (event.group, event.type)
                if event.place_at is not None:
                    self._place_at[event.task_id] = event.place_at
                self._wait(run_id, event.task_id, event.ready_at, event.place_at)
            elif isinstance(event, TaskRequeued):
                self._ready_at[event.task_id] = event.ready_at
                self._ended.discard(event.task_id)
                self._wait(run_id, event.task_id, event.ready_at, self._place_at.get(event.task_id))
            elif isinstance(event, TaskStarted):
                self._started(run_id, event)
                ready_at = self._ready_at.get(event.task_id)
                if ready_at is not None and event.at < ready_at - EARLY_EPS_S:
                    early_ms = (ready_at - event.at) * 1000
                    self.report(
                        "inv4", run_id, f"task {event.task_id} started {early_ms:.3f} ms early"
                    )
            elif isinstance(event, (TaskCompleted, TaskFailed, TaskCanceled)):
                wake_at = self._wake_at.pop(event.task_id, None)
                if (
                    isinstance(event, TaskCompleted)
                    and wake_at is not None
                    and event.at < wake_at - EARLY_EPS_S
                    and event.task_id not in self.signalled
                ):
                    early_ms = (wake_at - event.at) * 1000
                    self.report(
                        "inv4", run_id, f"WAIT {event.task_id} completed {early_ms:.3f} ms early"
                    )
                self._unwait(event.task_id)
                if event.task_id in self._ended:
                    self.report(
                        "inv2",
                        run_id,
                        f"attempt {event.task_id} ended twice ({type(event).__name__})",
                    )
                self._ended.add(event.task_id)
        for hook in self.on_record:
            hook(run_id, events)

    def _wait(
        self, run_id: str, task_id: str, ready_at: float, place_at: float | None = None
    ) -> None:
        """`task_id` waits from `ready_at`, ordered by its place (inherited, or its own)."""
        queue = self._queue_of.get(task_id)
        if queue is not None:
            place = ready_at if place_at is None else min(place_at, ready_at)
            key = (self._priority.get(run_id, 0), place, ready_at)
            waiting = self._waiting.get(queue)
            if waiting is None:
                waiting = self._waiting[queue] = _Waiting()
            waiting.put(task_id, key)
            self._waiting_of_run.setdefault(run_id, set()).add(task_id)

    def _unwait(self, task_id: str) -> tuple[int, float, float] | None:
        queue = self._queue_of.get(task_id)
        waiting = None if queue is None else self._waiting.get(queue)
        return None if waiting is None else waiting.pop(task_id)

    def _forget_waiting(self, run_id: str) -> None:
        for task_id in sorted(self._waiting_of_run.pop(run_id, ())):
            self._unwait(task_id)

    def _started(self, run_id: str, event: TaskStarted) -> None:
        self._starts.setdefault(event.task_id, []).append(event.at)
        queue = self._queue_of.get(event.task_id)
        if queue is None:
            return
        mine = self._unwait(event.task_id)
        if mine is None or not self.check_priority:
            return
        priority, place, _since = mine
        t = event.at - EARLY_EPS_S - self.timer_slack_s
        better = self._waiting[queue].better(priority, place - EARLY_EPS_S, t)
        # judged once the instant is over: starts in one instant are journaled in any order
        if better:  # with how many starts each had: only a start journaled later can clear it
            marks = [(other, len(self._starts.get(other, ()))) for other in better]
            self._deferred.append((event.at, run_id, event.task_id, queue, marks))

    def _judge_deferred(self, now: float) -> None:
        keep = []
        for at, run_id, task_id, queue, better in self._deferred:
            if now <= at + JUDGE_AFTER_S:
                keep.append((at, run_id, task_id, queue, better))
                continue
            for other, seen in better:
                later = self._starts.get(other, [])[seen:]
                if later and later[0] <= at + EARLY_EPS_S:
                    continue  # it started first; its record just landed later
                until = later[0] if later else now
                if any(at - EARLY_EPS_S <= c <= until for c in self.h.crash_times):
                    self.in_doubt += 1  # its start may have been lost in the crash
                    continue
                self.report(  # still waiting, or started after
                    "inv3",
                    run_id,
                    f"task {task_id} started at {at:.3f} while {other} had waited longer "
                    "with at least its priority",
                )
                break
        self._deferred = keep

    # -- at quiescent points -----------------------------------------------------

    def folded(self, run_id: str) -> WorkflowRun:
        return WorkflowRun.of(fold(run_id, list(self.events.get(run_id, []))))

    def check_live(self) -> None:
        """Compare the live runtime with the journal; see the module note."""
        self.h.sim.run_until_idle()
        self.scan()
        rt = self.h.runtime
        run_ids = sorted(self.events)

        async def snapshot() -> list[WorkflowRun]:
            return [await rt.get(run_id) for run_id in run_ids]

        lives = self.h.sim.run(snapshot())
        self.scan()
        self._judge_deferred(float("inf"))
        for run_id, live in zip(run_ids, lives, strict=True):
            replayed = self.folded(run_id)
            if live != replayed:
                self.report("inv5", run_id, _difference(live, replayed))
            elif run_id in self._terminal and not live.status.terminal:
                self.report("inv1", run_id, f"terminal in the journal, reported {live.status}")
        for run_id, status in self.h.finished.items():
            if run_id not in self._terminal:
                self.report("inv1", run_id, f"announced {status} but not terminal in the journal")
        self._check_nothing_lost(rt, lives)
        for hook in self.on_live:
            hook(rt, lives)

    def _check_nothing_lost(self, rt: Any, lives: list[WorkflowRun]) -> None:
        queued: set[str] = set()
        for state, _ref in rt._engine._groups.values():
            queued.update(state.tasks)
        for entry in rt._engine._timer_state.heap:
            for part in entry:
                task = getattr(part, "task", None)
                if task is not None:
                    queued.add(task.task_id)
        for live in lives:
            if live.status.terminal:
                continue
            for task in live.tasks:
                if (
                    task.status is TaskStatus.SCHEDULED
                    and not task.retried
                    and task.id not in queued
                ):
                    self.report(
                        "inv2", live.id, f"task {task.id} is SCHEDULED but in no queue or timer"
                    )

    def unfinished(self) -> list[str]:
        """Runs whose journal has no terminal event."""
        self.scan()
        return [run_id for run_id in sorted(self.events) if run_id not in self._terminal]

    def check_liveness(self, bound_s: float) -> None:
        unfinished = self.unfinished()
        for run_id in unfinished:
            self.report("liveness", run_id, f"not terminal {bound_s:.0f} s after faults stopped")
        if not unfinished:
            self._check_slots_free()

    def _check_slots_free(self) -> None:
        """Every run has ended, so no local worker may still hold an attempt (a leaked slot)."""
        rt = self.h.runtime
        for task_id in sorted(rt._engine.ledger.executions):
            self.report("leak", task_id, "a local worker still executes an ended attempt")
        for state, _ref in rt._engine._groups.values():
            for task_type, worker in sorted(state.workers.items()):
                if worker.running:
                    self.report(
                        "leak",
                        f"{state.name}/{task_type}",
                        f"{worker.running} local slot(s) busy after every run ended",
                    )


class _Waiting:
    """The tasks waiting in one queue, kept in the queue's order (priority, then place).

    `better` walks them from the head and stops at the first that does not
    come before the given key, so a start in a queue thousands deep costs
    what overtook it, not the depth (the 100,000-timer storm needs that).
    """

    def __init__(self) -> None:
        self.keys: dict[str, tuple[int, float, float]] = {}  # task id -> (priority, place, since)
        self.order: list[tuple[int, float, str]] = []  # (-priority, place, task id), sorted

    def put(self, task_id: str, key: tuple[int, float, float]) -> None:
        self.pop(task_id)
        self.keys[task_id] = key
        bisect.insort(self.order, (-key[0], key[1], task_id))

    def pop(self, task_id: str) -> tuple[int, float, float] | None:
        key = self.keys.pop(task_id, None)
        if key is not None:
            entry = (-key[0], key[1], task_id)
            del self.order[bisect.bisect_left(self.order, entry)]
        return key

    def better(self, priority: int, before: float, since_before: float) -> list[str]:
        """Tasks waiting since before `since_before` with a higher priority, or the same
        priority and a place before `before`."""
        found = []
        for negative, place, task_id in self.order:
            if -negative < priority or (-negative == priority and place >= before):
                break
            if self.keys[task_id][2] < since_before:
                found.append(task_id)
        return found


def _difference(live: WorkflowRun, replayed: WorkflowRun) -> str:
    for name in WorkflowRun.__dataclass_fields__:
        a, b = getattr(live, name), getattr(replayed, name)
        if a != b:
            return f"live {name}={a!r} but the journal replays to {b!r}"[:400]
    return "live state differs from the replayed journal"
