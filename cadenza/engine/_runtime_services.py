"""What the `Runtime` provides to its actors: groups, timers, loading, starting other runs.

Design note
-----------
`RuntimeServices` is the half of the `Runtime` that its actors call (the
`RunServices` protocol and the worker groups' needs); the other half is the
public face. Everything here is called from inside actors, so nothing here
blocks: messages go out with `_tell_soon`, which never waits.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import anyio
import structlog

from cadenza._errors import NotFound
from cadenza.actors import (
    ActorRef,
    ActorSystem,
    ActorSystemStopped,
    Clock,
    EntityPool,
    Reply,
    Supervisor,
)
from cadenza.core._operations import Operation
from cadenza.core._schedule import Environment
from cadenza.core._state import WorkflowState
from cadenza.dispatch._groups import GroupState, WorkerGroup, _tell_soon
from cadenza.dispatch._ledger import Ledger
from cadenza.dispatch._messages import Cancel, Enqueue, QueuedTask
from cadenza.dispatch._timers import Arm
from cadenza.engine._loader import RunLoader
from cadenza.engine._messages import AuditTimer, ChildEnded, Operate, StartRun, Wake
from cadenza.engine._registry import Registry
from cadenza.language._definition import WorkflowDef
from cadenza.persistence import Loaded, StreamInfo

log = structlog.get_logger()

GROUP_MAILBOX = 1 << 16  # the groups' and the timer service's mailboxes
AUDIT_CONCURRENCY = 512  # runs the recovery audit holds in memory at once


class RuntimeServices:
    """The services half of `Runtime`; see the module note."""

    clock: Clock
    system: ActorSystem
    registry: Registry
    ledger: Ledger
    default_group: str
    max_timers_per_run: int
    max_timers_per_type: int
    timer_counts: dict[str, int]
    dispatch_warning_s: float | None
    timers_audited: int
    timers_repaired: int
    finished: int
    _runs: EntityPool[Any]
    _timers: ActorRef[Any]
    _group_supervisor: Supervisor
    _groups: dict[str, tuple[GroupState, ActorRef[Any]]]
    _worker_groups: dict[str, str]
    _env: Environment | None
    _fresh: set[str]
    _loader: RunLoader
    _listeners: list[Callable[[str, str, float], None]]

    def claim_fresh(self, run_id: str) -> bool:
        if run_id in self._fresh:
            self._fresh.discard(run_id)
            return True
        return False

    async def load_run(self, run_id: str) -> Loaded | None:
        return await self._loader.load(run_id)

    async def load_definition(self, digest: str) -> WorkflowDef:
        return await self.registry.by_digest(digest)

    def environment(self) -> Environment:
        if self._env is None or self._env.live is not self.ledger.live:
            self._env = Environment(
                live=self.ledger.live,  # routing's fallback list skips groups nobody serves
                task_defs=dict(self.registry.task_defs),
                groups=dict(self._worker_groups),
                default_group=self.default_group,
                max_timers_per_run=self.max_timers_per_run,
                timers_by_type=self.timer_counts,  # live: read when a WAIT is scheduled
                max_timers_per_type=self.max_timers_per_type,
            )
        return self._env

    def count_timers(self, before: dict[str, int], after: dict[str, int]) -> None:
        for name in before.keys() | after.keys():
            count = self.timer_counts.get(name, 0) + after.get(name, 0) - before.get(name, 0)
            if count > 0:
                self.timer_counts[name] = count
            else:
                self.timer_counts.pop(name, None)

    def group_ref(self, name: str) -> ActorRef[Any]:
        found = self._groups.get(name)
        if found is None:
            state = GroupState(name)
            ref = self._group_supervisor.spawn(
                lambda: WorkerGroup(
                    state,
                    system=self.system,
                    clock=self.clock,
                    runs=lambda run_id: self._runs.ref(run_id),
                    ledger=self.ledger,
                    dispatch_warning_s=self.dispatch_warning_s,
                    retire=self._retire_group,
                ),
                name=f"group:{name}",
                mailbox_size=GROUP_MAILBOX,
            )
            found = (state, ref)
            self._groups[name] = found
            log.info("group.created", group=name)
        return found[1]

    def _retire_group(self, name: str, ref: ActorRef[Any]) -> None:
        """A group idle and empty for a while: forget it; the next use creates it afresh."""
        found = self._groups.get(name)
        if found is not None and found[1] == ref:
            del self._groups[name]
            self._group_supervisor.stop_child(ref)
            log.info("group.retired", group=name)

    def enqueue(self, group: str, task: QueuedTask) -> None:
        ref = self.group_ref(group)
        if task.ready_at > self.clock.now():
            self.ledger.delay(group)  # the group must not retire while the timer holds this
            message = Enqueue(task, delayed=True)
            _tell_soon(self.system, self._timers, Arm(task.ready_at, ref, message))
        else:
            _tell_soon(self.system, ref, Enqueue(task))

    def arm(self, when: float, run_id: str) -> None:
        _tell_soon(self.system, self._timers, Arm(when, self._runs.ref(run_id), Wake(when)))

    def timer_repaired(self, run_id: str, expected: float | None, actual: float | None) -> None:
        self.timers_repaired += 1
        log.warning("timer.repaired", run_id=run_id, journal_said=expected, state_says=actual)

    async def _audit_parked(self, rows: list[StreamInfo]) -> None:
        """Load each parked run (in batches) and check the timer recovery armed for it.

        A bounded pool of auditors asks one run at a time each, so a million
        parked runs are never all in memory at once.
        """
        pending = iter(rows)

        async def auditor() -> None:
            for row in pending:
                await self._runs.ref(row.stream_id).ask(partial(AuditTimer, row.wake_at))
                self.timers_audited += 1

        try:
            with self.system.busy():  # settle() waits for the audit
                async with anyio.create_task_group() as tg:
                    for _ in range(AUDIT_CONCURRENCY):
                        tg.start_soon(auditor)
        except* ActorSystemStopped:
            log.info("timer.audit_interrupted", audited=self.timers_audited, parked=len(rows))

    def cancel(self, group: str, task_id: str, *, delayed: bool = False) -> None:
        """Withdraw a task from its group; `delayed`: the timer service still holds its enqueue."""
        if delayed:
            self.ledger.cancelled_delayed.add(task_id)
        _tell_soon(self.system, self.group_ref(group), Cancel(task_id))

    def start_run(
        self,
        run_id: str,
        name: str,
        version: int | None,
        input: dict[str, Any],
        *,
        parent: WorkflowState | None = None,
    ) -> Reply[str] | None:
        """Start a child or failure-workflow run with a derived id (a repeat finds it started).

        Returns the start's reply (set once the start is durable), or None if
        the workflow is not registered.
        """
        try:
            definition, digest = self.registry.get(name, version)
        except NotFound as exc:
            log.warning("run.start_failed", run_id=run_id, workflow=name, error=str(exc))
            if parent is not None:
                ended = ChildEnded(run_id, "FAILED", {}, f"cannot start {name!r}: {exc}")
                _tell_soon(self.system, self._runs.ref(parent.id), ended)
            return None
        reply: Reply[str] = Reply()
        start = StartRun(
            definition,
            digest,
            input,
            parent.priority if parent is not None else 0,
            None,
            parent.correlation_id if parent is not None else None,
            dict(parent.task_to_group) or None if parent is not None else None,
            parent.id if parent is not None else None,
            reply,
        )
        _tell_soon(self.system, self._runs.ref(run_id), start)
        return reply

    def child_ended(self, state: WorkflowState) -> None:
        if state.parent_id:
            ended = ChildEnded(state.id, state.status.value, dict(state.output), state.reason)
            _tell_soon(self.system, self._runs.ref(state.parent_id), ended)

    def terminate_child(self, run_id: str, reason: str) -> None:
        _tell_soon(
            self.system, self._runs.ref(run_id), Operate(Operation("terminate", reason), Reply())
        )

    def run_finished(self, state: WorkflowState) -> None:
        self.finished += 1
        for listener in self._listeners:
            listener(state.id, state.status.value, state.updated_at)

    def add_listener(self, listener: Callable[[str, str, float], None]) -> None:
        """Call `listener(run_id, status, at)` whenever a run ends (from the run's actor: keep it quick)."""
        self._listeners.append(listener)
