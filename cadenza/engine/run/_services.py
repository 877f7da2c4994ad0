"""What a run's actor needs from the runtime around it (the `Runtime` provides it)."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any, Protocol

from cadenza.actors import Clock, Reply
from cadenza.core._schedule import Environment
from cadenza.core._start_workflow import StartRequest
from cadenza.core._state import TaskState, WorkflowState
from cadenza.dispatch._fairness import fairness_key_of
from cadenza.dispatch._ledger import Ledger
from cadenza.dispatch._messages import QueuedTask
from cadenza.engine._observer import Observer
from cadenza.engine._registry import Registry
from cadenza.language._definition import WorkflowDef
from cadenza.persistence import Journal, Loaded

if TYPE_CHECKING:
    from cadenza.engine.shared._ownership import Ownership, SharedDispatch


class RunServices(Protocol):
    """What a run's actor needs from the runtime around it."""

    journal: Journal
    clock: Clock
    ledger: Ledger  # hand-outs, leases and limits, shared with the worker groups
    jitter: random.Random  # spreads retries (seeded from the runtime's seed)
    observer: Observer | None  # metrics: told of each durable batch
    retrying: set[str]  # runs whose actor waits out a failed commit's back-off (`_batches`)
    registry: Registry  # definitions; `unregistered` journals one given inline to start
    ownership: Ownership | None  # several processes on one journal: which runs are ours
    shared: SharedDispatch | None  # and their shared worker-group queues (PostgreSQL)

    async def load_definition(self, digest: str) -> WorkflowDef: ...

    async def load_run(self, run_id: str) -> Loaded | None: ...

    def epoch_of(self, run_id: str) -> int | None:
        """The lease epoch the run's partition is held at here (None: one process, or not held)."""
        ...

    def claim_fresh(self, run_id: str) -> bool:
        """True once for a run id the runtime just minted: there is nothing to load."""
        ...

    def environment(self) -> Environment: ...

    def enqueue(self, group: str, task: QueuedTask) -> None: ...

    def arm(self, when: float, run_id: str) -> None: ...

    def count_timers(self, run_id: str, before: dict[str, int], after: dict[str, int]) -> None:
        """Run `run_id`'s pending timers by task type went from `before` to `after`."""
        ...

    def timer_repaired(self, run_id: str, expected: float | None, actual: float | None) -> None: ...

    def cancel(self, group: str, task_id: str, *, delayed_until: float | None = None) -> None: ...

    def released(self, task_id: str, failed: bool | None) -> None:
        """An attempt ended (`failed`: its verdict) or went back (None): free what it held."""
        ...

    def run_finished(self, state: WorkflowState) -> None: ...

    def run_parked(self, run_id: str) -> None:
        """The run only waits on timers or signals now: it leaves memory (and the start gate)."""
        ...

    def start_run(
        self,
        run_id: str,
        name: str,
        version: int | None,
        input: dict[str, Any],
        *,
        parent: WorkflowState | None = None,
        failed: WorkflowState | None = None,
        request: StartRequest | None = None,
        starter: tuple[str, str] | None = None,
    ) -> Reply[str] | None:
        """Start run `run_id` (idempotent); called once the caller's record is durable.

        `failed`: the run a failure workflow starts for (its correlation id and taskToDomain).
        `request` and `starter`: a START_WORKFLOW task's request (correlation id,
        taskToDomain, priority) and its (run id, task id), told once the run started
        (or, if `name` is unknown, why not).

        Returns the start's reply (set once durable), or None if `name` is unknown.
        """
        ...

    def tell_run(self, run_id: str, message: Any) -> None:
        """Send `message` to run `run_id`'s actor (it keeps each sender's order)."""
        ...

    def child_ended(self, state: WorkflowState) -> None:
        """Tell the parent of `state` (a SUB_WORKFLOW's child) that it ended."""
        ...

    def terminate_child(self, run_id: str, reason: str) -> None:
        """Terminate a child run whose SUB_WORKFLOW task was cancelled (if it is still running)."""
        ...


def queued(state: WorkflowState, task: TaskState, *, async_complete: bool = False) -> QueuedTask:
    return QueuedTask(
        run_id=state.id,
        task_id=task.id,
        type=task.type,
        input=task.input,
        priority=state.priority,
        ready_at=task.ready_at,
        attempt=task.attempt,
        ref=task.ref,
        name=task.name,
        scheduled_at=task.scheduled_at,
        fairness_key=fairness_key_of(task.input, state.correlation_id),
        place_at=task.place_at,
        iteration=task.iteration,
        workflow=state.name,
        correlation_id=state.correlation_id,
        trace=state.trace,
        async_complete=async_complete,
    )
