"""Checks of Conductor's semantics and of copies, for the random-definitions workload.

Design note
-----------
`ConductorChecks` hooks into a `Checker` (its `on_record` and `on_live`
lists) and reports, beside the DESIGN invariants the checker holds:

- `inv8` (copies): a task output the journal holds is exactly what the worker
  returned (`returned`, by the token the output carries), whatever the worker
  did to it after returning; a run's journaled input is what the caller
  passed to `start` (`inputs`), whatever the caller did to it afterwards;
- `conductor` (the status a run ends with follows from its tasks, as
  Conductor's DeciderService decides it), at the quiescent comparison:
  a COMPLETED run ended by no TERMINATE has no current task that failed,
  timed out or was cancelled, and none still open (an optional task that
  failed is COMPLETED_WITH_ERRORS); a FAILED run names a failed current task
  (`Task <id> failed with status: <S> ...`) or its TERMINATE task, and never
  an internal error (the core raised); a TERMINATED run was terminated by
  the operator, by its TERMINATE task, by its parent, or has a cancelled
  task; a run whose TERMINATE task completed has that task's
  `terminationStatus` (unless an operator reopened it);
- `stuck`: a read that shows a RUNNING run whose every task is terminal
  (`read`), since `decide` runs to a fixpoint in the batch that ends the
  last task;
- `inv2` (nothing handed out twice, nothing stale queued): a worker group
  gets an attempt's Enqueue after its Cancel (both are the run's, and each
  sender's messages arrive in order, delays or not); an attempt
  handed to a poller after its end was durable and the instant of the end
  passed (`handed`; off with message delays, where a Cancel may lag), and,
  at the quiescent point, no worker group queues an attempt that ended;
- `timers`: the timer service never holds two wake-ups of one run for the
  same instant (`check_timers`): a read of a parked run must arm nothing.
"""

from __future__ import annotations

from typing import Any

from cadenza.core._events import (
    Event,
    TaskCanceled,
    TaskCompleted,
    TaskFailed,
    TaskRequeued,
    WorkflowReopened,
    WorkflowStarted,
)
from cadenza.core._ids import run_id_of
from cadenza.core._status import TaskStatus, WorkflowStatus
from cadenza.dispatch._messages import Cancel, Enqueue
from cadenza.engine._messages import Wake
from cadenza.runtime import WorkflowRun
from cadenza.testing._simulation.checker import EARLY_EPS_S, Checker

WAKES_MAX = 8  # wake-ups of one run for one instant: a sweep of the fixed code saw 3 at most
TOKEN = "_token"  # the key of the token a workload's worker puts in each output
UNSUCCESSFUL = (
    TaskStatus.FAILED,
    TaskStatus.FAILED_WITH_TERMINAL_ERROR,
    TaskStatus.TIMED_OUT,
    TaskStatus.CANCELED,
)


class ConductorChecks:
    """See the module note; the workload fills `returned`, `inputs`, `terminated`, `reopened`."""

    def __init__(self, checker: Checker) -> None:
        self.checker = checker
        self.returned: dict[str, dict[str, Any]] = {}  # output token -> the output as returned
        self.inputs: dict[str, dict[str, Any]] = {}  # run id -> the input as passed to start
        self.terminated: set[str] = set()  # runs an operator asked to terminate
        self.reopened: set[str] = set()  # runs an operator asked to retry, restart or rerun
        self._journal: object = None
        self._ended: dict[str, float] = {}  # attempt -> when its end was first seen durable
        self._cancelled: set[tuple[str, str]] = set()  # (group, attempt) told a Cancel
        checker.on_record.append(self._record)
        checker.on_live.append(self._live)
        checker.h.delivery.on_deliver.append(self._delivered)
        checker.h.on_open.append(lambda _h: self._cancelled.clear())

    def _report(self, kind: str, run_id: str, detail: str) -> None:
        self.checker.report(kind, run_id, detail)

    # -- per journal record -----------------------------------------------------------

    def _record(self, run_id: str, events: list[Event]) -> None:
        if self.checker._journal is not self._journal:  # a crash: what was lost is forgotten
            self._journal = self.checker._journal
            self._ended.clear()
        now = self.checker.h.sim.clock.now()
        for event in events:
            if isinstance(event, TaskCompleted):
                token = event.output.get(TOKEN)
                returned = self.returned.get(token) if isinstance(token, str) else None
                if returned is not None and event.output != returned:
                    self._report(
                        "inv8",
                        run_id,
                        f"task {event.task_id}'s journaled output {event.output!r} is not what "
                        f"its worker returned, {returned!r}"[:400],
                    )
            if isinstance(event, (TaskCompleted, TaskFailed, TaskCanceled)):
                self._ended.setdefault(event.task_id, now)
            elif isinstance(event, TaskRequeued):
                self._ended.pop(event.task_id, None)
            elif isinstance(event, WorkflowReopened):
                for task_id in event.resumed or ():
                    self._ended.pop(task_id, None)

    def _delivered(self, target: str, message: object) -> None:
        """A group gets an attempt's Enqueue before its Cancel, never after (a ghost)."""
        if isinstance(message, Cancel):
            self._cancelled.add((target, message.task_id))
        elif (
            isinstance(message, Enqueue)
            and not message.delayed  # a delayed one the group drops if it was cancelled
            and (target, message.task.task_id) in self._cancelled
        ):
            task_id = message.task.task_id
            self._report("inv2", run_id_of(task_id), f"{target} got {task_id} after its Cancel")

    def handed(self, task_id: str, at: float) -> None:
        """A poller was handed attempt `task_id` at `at` (the runtime's clock)."""
        if not self.checker.check_priority:
            return  # messages are delayed: a Cancel may legitimately lag its end
        self.checker.scan()
        ended = self._ended.get(task_id)
        if ended is not None and at > ended + EARLY_EPS_S:
            self._report(
                "inv2",
                run_id_of(task_id),
                f"attempt {task_id} handed out at {at:.3f}, after its end was durable at "
                f"{ended:.3f}",
            )

    def read(self, run: WorkflowRun) -> None:
        """What a read showed: a RUNNING run has an open task (or none yet)."""
        if (
            run.status is WorkflowStatus.RUNNING
            and run.tasks
            and all(task.status.terminal for task in run.tasks)
        ):
            states = [task.status.value for task in run.tasks][-6:]
            self._report("stuck", run.id, f"RUNNING with every task terminal: ...{states}")

    def check_timers(self, rt: Any) -> None:
        """At most `WAKES_MAX` wake-ups of one run for one instant (a parked read arms none)."""
        counts: dict[tuple[str, float], int] = {}
        for when, _seq, target, message in rt._engine._timer_state.heap:
            if isinstance(message, Wake):
                key = (str(getattr(target, "name", target)), when)
                counts[key] = counts.get(key, 0) + 1
        for (target, when), count in counts.items():
            if count > WAKES_MAX:
                self._report("timers", target, f"{count} wake-ups armed for {when:.3f}")

    # -- at the quiescent comparison ----------------------------------------------------

    def _live(self, rt: Any, lives: list[WorkflowRun]) -> None:
        ended = {run.id: run for run in lives}
        for run in lives:
            self._started_with(run)
            if run.status.terminal:
                self._ended_as_conductor(run, ended)
            else:
                self.read(run)
        for state, _ref in rt._engine._groups.values():
            for task_id in sorted(state.tasks):
                owner = ended.get(run_id_of(task_id))
                task = (
                    None
                    if owner is None
                    else next((t for t in owner.tasks if t.id == task_id), None)
                )
                if task is not None and task.status.terminal:
                    self._report(
                        "inv2", run_id_of(task_id), f"ended attempt {task_id} still queued"
                    )

    def _started_with(self, run: WorkflowRun) -> None:
        passed = self.inputs.get(run.id)
        if passed is None:
            return
        started = next(
            (e for e in self.checker.events.get(run.id, []) if isinstance(e, WorkflowStarted)),
            None,
        )
        if started is not None and started.input != passed:
            self._report(
                "inv8",
                run.id,
                f"journaled input {started.input!r} is not what start got, {passed!r}"[:400],
            )

    def _ended_as_conductor(self, run: WorkflowRun, runs: dict[str, WorkflowRun]) -> None:
        current = [task for task in run.tasks if not task.retried]
        terminate = [
            task
            for task in current
            if task.type == "TERMINATE" and task.status is TaskStatus.COMPLETED
        ]
        reason = run.reason or ""
        status = run.status
        if "internal error" in reason:
            self._report("conductor", run.id, f"{status.value} by a core error: {reason}"[:400])
            return
        if terminate and run.id not in self.reopened:
            wanted = terminate[-1].input.get("terminationStatus")
            if wanted != status.value:
                self._report(
                    "conductor",
                    run.id,
                    f"TERMINATE {terminate[-1].id} asked {wanted}, the run is {status.value}",
                )
            return
        if terminate:
            return
        if status is WorkflowStatus.COMPLETED:
            wrong = [t for t in current if t.status in UNSUCCESSFUL or not t.status.terminal]
            if wrong:
                shown = ", ".join(f"{t.id} {t.status.value}" for t in wrong[:4])
                self._report("conductor", run.id, f"COMPLETED with {shown}")
        elif status is WorkflowStatus.FAILED:
            # a CANCELED task fails the run only as an exhausted permissive one, whose own
            # status the reason names (DeciderService.decide); by retry() it TERMINATES it
            failed = {
                t.id
                for t in current
                if t.status in UNSUCCESSFUL[:3]
                or (
                    t.status is TaskStatus.CANCELED
                    and f"Task {t.id} failed with status: CANCELED" in reason
                )
            }
            named = next((task_id for task_id in failed if f"Task {task_id} " in reason), None)
            if named is None:
                self._report("conductor", run.id, f"FAILED naming no failed task: {reason!r}")
        elif status is WorkflowStatus.TERMINATED:
            parent = runs.get(run.parent_id) if run.parent_id else None
            why = (
                run.id in self.terminated
                or (
                    run.parent_id is not None
                    and (parent is None or parent.status.terminal or parent.id in self.reopened)
                )
                or any(t.status is TaskStatus.CANCELED for t in current)
            )
            if not why:
                self._report("conductor", run.id, f"TERMINATED by nobody: {reason!r}")
