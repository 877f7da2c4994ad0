"""One actor per workflow run: the only code that changes a run.

Design note
-----------
A run's actor handles its mailbox a batch at a time. For each message it
checks the message against the state (fencing: a result for an attempt that
is not current, or for a run that ended, is answered `StaleTask` and changes
nothing), turns it into input events, applies them, and asks `decide` until
it has nothing more to say. The batch's events go to the journal as ONE
record; only once that record is durable does the actor act: hand tasks to
their worker groups (or the timer service, if not yet due), cancel queued
tasks, answer the callers and release waiters.

If the journal append fails, the actor crashes: its callers get an error,
the kernel restarts it, and the fresh incarnation reloads the state from
the journal, which never saw the lost record. Memory and disk cannot
diverge. A finished run passivates: it costs nothing until asked about.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, Protocol

import structlog

from cadenza._errors import InternalError, InvalidOperation, JournalCorrupted, NotFound, StaleTask
from cadenza.actors import Actor, Clock, Reply
from cadenza.persistence import Append, Journal, Loaded, StreamInfo
from cadenza.runtime._deadlines import expire, next_wake
from cadenza.runtime._decide import Environment, decide
from cadenza.runtime._definition import WorkflowDef
from cadenza.runtime._events import (
    TERMINAL_EVENTS,
    Event,
    TaskCanceled,
    TaskCompleted,
    TaskFailed,
    TaskRequeued,
    TaskScheduled,
    TaskStarted,
    TaskUpdated,
    WorkflowPaused,
    WorkflowResumed,
    WorkflowStarted,
    WorkflowTerminated,
    event_from_json,
)
from cadenza.runtime._fairness import fairness_key_of
from cadenza.runtime._ledger import Ledger
from cadenza.runtime._messages import (
    AuditTimer,
    ChildEnded,
    GetRun,
    Heartbeat,
    LeaseExpired,
    Operate,
    QueuedTask,
    Recover,
    Signal,
    StartRun,
    TaskProgress,
    TaskResult,
    TaskStartedMsg,
    WaitRun,
    Wake,
)
from cadenza.runtime._operations import REOPENING_OPS, operation_events
from cadenza.runtime._state import (
    IN_PROGRESS_AT_ONCE,
    SIGNALLABLE,
    TaskState,
    WorkflowState,
    apply,
)
from cadenza.runtime._status import TaskStatus, WorkflowStatus
from cadenza.runtime._views import WorkflowRun

log = structlog.get_logger()

SNAPSHOT_EVERY = 64  # events between snapshots of a long-running run
DECIDE_ROUNDS_MAX = 10_000  # a decide loop longer than this is a bug, not a workflow


class RunServices(Protocol):
    """What a run's actor needs from the runtime around it."""

    journal: Journal
    clock: Clock
    ledger: Ledger  # hand-outs, leases and limits, shared with the worker groups

    async def load_definition(self, digest: str) -> WorkflowDef: ...

    async def load_run(self, run_id: str) -> Loaded | None: ...

    def claim_fresh(self, run_id: str) -> bool:
        """True once for a run id the runtime just minted: there is nothing to load."""
        ...

    def environment(self) -> Environment: ...

    def enqueue(self, group: str, task: QueuedTask) -> None: ...

    def arm(self, when: float, run_id: str) -> None: ...

    def timer_repaired(self, run_id: str, expected: float | None, actual: float | None) -> None: ...

    def cancel(self, group: str, task_id: str, *, delayed: bool = False) -> None: ...

    def run_finished(self, state: WorkflowState) -> None: ...

    def start_run(
        self,
        run_id: str,
        name: str,
        version: int | None,
        input: dict[str, Any],
        *,
        parent: WorkflowState | None = None,
    ) -> Reply[str] | None:
        """Start run `run_id` (idempotent); called once the caller's record is durable.

        Returns the start's reply (set once durable), or None if `name` is unknown.
        """
        ...

    def child_ended(self, state: WorkflowState) -> None:
        """Tell the parent of `state` (a SUB_WORKFLOW's child) that it ended."""
        ...

    def terminate_child(self, run_id: str, reason: str) -> None:
        """Terminate a child run whose SUB_WORKFLOW task was cancelled (if it is still running)."""
        ...


def queued(state: WorkflowState, task: TaskState) -> QueuedTask:
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
    )


class RunActor(Actor[Any]):
    """The actor of run `run_id`; see the module note."""

    def __init__(self, run_id: str, services: RunServices):
        self.run_id = run_id
        self.services = services
        self.state: WorkflowState | None = None
        self.definition: WorkflowDef | None = None
        self.waiters: list[Reply[Any]] = []
        self.since_snapshot = 0
        self.damaged: JournalCorrupted | None = None
        self.armed: float | None = None  # the wake-up this incarnation asked for
        self._wake_memo: tuple[int, float | None] | None = None  # (events applied, next wake)
        self.alerted_until: float = 0.0  # alert-only deadlines up to here were reported
        self._failure_start: Reply[str] | None = None  # a failure run's start, owed by this run
        self._unsettled = False  # the row says "not terminal" until what the end owes is done

    async def started(self) -> None:
        if self.services.claim_fresh(self.run_id):
            return
        try:
            await self._load()
        except JournalCorrupted as exc:
            self.damaged = exc
            log.error("run.damaged", run_id=self.run_id, error=str(exc))

    async def _load(self) -> None:
        loaded = await self.services.load_run(self.run_id)
        if loaded is None:
            return
        if loaded.snapshot is not None:
            state = WorkflowState.from_json(dict(loaded.snapshot))
        else:
            state = WorkflowState(id=self.run_id)
        for data in loaded.events:
            apply(state, event_from_json(dict(data), stream_id=self.run_id))
        self.state = state
        self.since_snapshot = len(loaded.events)
        if state.digest:
            self.definition = await self.services.load_definition(state.digest)

    # -- the batch ------------------------------------------------------------

    async def receive_batch(self, messages: list[Any]) -> None:
        if self.damaged is not None:
            for message in messages:
                reply = getattr(message, "reply", None)
                if reply is not None:
                    reply.fail(self.damaged)
            self.context.passivate()
            return
        if self.state is not None and any(isinstance(m, (Recover, AuditTimer)) for m in messages):
            messages = [*await self._children_that_ended(self.state), *messages]
        now = self.services.clock.now()
        self._wake_memo = None
        events: list[Event] = []
        answers: list[tuple[Reply[Any], Any]] = []
        recovering = False
        for message in messages:
            try:
                answer = self._handle(message, now, events)
            except (StaleTask, InvalidOperation, NotFound) as refusal:
                answer = refusal
            if isinstance(message, Recover):
                recovering = True
            reply = getattr(message, "reply", None)
            if reply is not None and not isinstance(message, WaitRun):
                answers.append((reply, answer))
        if events:
            await self._journal(events)
        state = self.state
        if state is not None:
            self._act(state, events, recover=recovering)
            if recovering and state.status.terminal and self._owes_failure_run(state):
                self._after_end(state)  # a crash came between the end and its failure run
            await self._settle(state)
            if state.started:
                self._arm(state)
        for reply, answer in answers:
            if isinstance(answer, BaseException):
                reply.fail(answer)
            elif answer is _SNAPSHOT:
                reply.set(WorkflowRun.of(state) if state is not None else None)
            else:
                reply.set(answer)
        if (
            state is not None
            and not state.status.terminal
            and not self.waiters
            and self._parked(state)
        ):
            self.context.passivate()  # waiting on a timer or a signal costs no memory
        if state is None or state.status.terminal:
            if state is not None and self.waiters:
                run = WorkflowRun.of(state)
                for waiter in self.waiters:
                    waiter.set(run)
                self.waiters.clear()
            self.context.passivate()

    def _handle(self, message: Any, now: float, events: list[Event]) -> Any:
        state = self.state
        if isinstance(message, StartRun):
            return self._start(message, now, events)
        if state is None or not state.started:
            raise NotFound("run", self.run_id)
        match message:
            case GetRun():
                return _SNAPSHOT
            case WaitRun():
                if state.status.terminal:
                    message.reply.set(WorkflowRun.of(state))
                else:
                    self.waiters.append(message.reply)
                return None
            case Recover():
                return self._recover(state, now, events)
            case Wake(when=when):
                if self.armed is not None and when >= self.armed:
                    self.armed = None
                self._expire(state, now, events)
            case Signal():
                self._signal(state, message, now, events)
            case AuditTimer(expected=expected):
                self._audit(state, expected)
            case TaskStartedMsg():
                task = self._current_task(state, message.task_id, allow=(TaskStatus.SCHEDULED,))
                self._emit(
                    events, TaskStarted(at=now, task_id=task.id, worker_id=message.worker_id)
                )
                if message.leased is not None:
                    self.services.ledger.grant(message.leased)
            case LeaseExpired():
                leased = state.task(message.task_id)
                if leased is not None and not state.status.terminal:
                    self._lease_expired(leased, message.token, now, events)
            case TaskResult():
                task = self._held(self._current_task(state, message.task_id), now, events)
                self.services.ledger.release(task.id, failed=message.failed)
                if not message.failed:
                    self._emit(
                        events, TaskCompleted(at=now, task_id=task.id, output=message.output or {})
                    )
                else:
                    status = "FAILED_WITH_TERMINAL_ERROR" if message.terminal else "FAILED"
                    failed = TaskFailed(
                        at=now,
                        task_id=task.id,
                        reason=message.reason,
                        status=status,
                        output=message.output,
                    )
                    self._emit(events, failed)
            case TaskProgress():
                task = self._current_task(state, message.task_id, allow=(TaskStatus.IN_PROGRESS,))
                self.services.ledger.extend(self._held(task, now, events).id)
                if message.output:
                    self._emit(events, TaskUpdated(at=now, task_id=task.id, output=message.output))
                if message.callback_after_s is not None:
                    ready_at = now + max(0.0, message.callback_after_s)
                    self._emit(events, TaskRequeued(at=now, task_id=task.id, ready_at=ready_at))
            case Heartbeat():
                task = self._current_task(state, message.task_id, allow=(TaskStatus.IN_PROGRESS,))
                self.services.ledger.extend(self._held(task, now, events).id)
            case ChildEnded():
                self._child_ended(state, message, now, events)
            case Operate():
                self._operate(state, message, now, events)
            case _:
                raise InternalError(f"run actor got an unknown message {message!r}")
        return None

    # -- the handlers ---------------------------------------------------------

    def _lease_expired(self, task: TaskState, token: int, now: float, events: list[Event]) -> bool:
        """End an attempt whose lease `token` ran out: TIMED_OUT, retried per its policy."""
        if task.retried or task.status is not TaskStatus.IN_PROGRESS:
            return False  # a stale expiry: the attempt ended or was re-leased
        if not self.services.ledger.expire(task.id, token):
            return False
        reason = "lease expired: no result or heartbeat within responseTimeoutSeconds"
        self._emit(events, TaskFailed(at=now, task_id=task.id, reason=reason, status="TIMED_OUT"))
        if self.state is not None and self.state.tasks[-1].retried_from != task.id:
            self.services.ledger.forget_place(self.run_id, task.ref)  # no retry to inherit it
        return True

    def _held(self, task: TaskState, now: float, events: list[Event]) -> TaskState:
        """`task`, unless its lease lapsed (its expiry may still be in flight): then StaleTask."""
        token = self.services.ledger.lapsed(task.id, now)
        if token is not None and self._lease_expired(task, token, now, events):
            raise StaleTask(
                task.id, "its lease expired: no heartbeat within responseTimeoutSeconds"
            )
        return task

    def _start(self, message: StartRun, now: float, events: list[Event]) -> str:
        if self.state is not None and self.state.started:
            if self.state.status.terminal and self.state.parent_id:
                self.services.child_ended(self.state)  # the parent may have missed the news
            return self.run_id  # already started (a retried start after a crash)
        self.state = WorkflowState(id=self.run_id)
        self.definition = definition = message.definition
        started = WorkflowStarted(
            at=now,
            run_id=self.run_id,
            name=definition.name,
            version=definition.version,
            digest=message.digest,
            input={**definition.input_template, **message.input},  # Conductor: template under input
            priority=message.priority,
            correlation_id=message.correlation_id,
            key=message.key,
            parent_id=message.parent_id,
            task_to_group=message.task_to_group,
            variables=dict(definition.variables) or None,
        )
        self._emit(events, started)
        return self.run_id

    def _recover(self, state: WorkflowState, now: float, events: list[Event]) -> None:
        """Put back in the queue what a crash took out of it; then repair by deciding."""
        if state.status.terminal:
            return
        for task in state.tasks:
            if (
                task.status is TaskStatus.IN_PROGRESS
                and not task.retried
                and task.type not in IN_PROGRESS_AT_ONCE
            ):
                back = TaskRequeued(at=now, task_id=task.id, ready_at=min(task.ready_at, now))
                self._emit(events, back)  # at its original place: it keeps its ready_at
        self._expire(state, now, events)  # deadlines that passed during the outage fire now
        if not events:
            self._decide(events)  # a repair: decisions a crash might have cut short

    def _expire(self, state: WorkflowState, now: float, events: list[Event]) -> None:
        if self.definition is None or state.status.terminal:
            return
        env = self.services.environment()
        expired, alerts = expire(self.definition, state, env, now, since=self.alerted_until)
        for event in expired:
            self._emit(events, event, decide=False)
        if expired:
            self._decide(events)
        for alert in alerts:
            log.warning(
                "run.deadline_passed",
                run_id=state.id,
                kind=alert.kind,
                task_id=alert.task_id,
                due=alert.when,
            )
        self.alerted_until = now

    def _audit(self, state: WorkflowState, expected: float | None) -> None:
        """Compare the deadline recovery armed with the one the state implies; repair a difference."""
        actual = self._next_wake(state)
        if actual == expected:
            self.armed = expected  # recovery armed exactly this one
            return
        self.armed = None  # `_arm` after the batch arms the right one
        self.services.timer_repaired(state.id, expected, actual)

    def _signal(
        self, state: WorkflowState, message: Signal, now: float, events: list[Event]
    ) -> None:
        for task in reversed(state.tasks):
            if task.ref == message.ref and task.type in SIGNALLABLE and not task.retried:
                if task.status is TaskStatus.IN_PROGRESS and not state.status.terminal:
                    self._emit(
                        events, TaskCompleted(at=now, task_id=task.id, output=message.output)
                    )
                    return
                break
        raise InvalidOperation(
            f"run {state.id} has no WAIT or HUMAN task {message.ref!r} waiting for a signal",
            run_id=state.id,
            state=state.status.value,
        )

    def _operate(
        self, state: WorkflowState, message: Operate, now: float, events: list[Event]
    ) -> None:
        status = state.status
        if message.op in REOPENING_OPS or message.op == "skip":
            if self.definition is None:
                raise InternalError(f"run {state.id}: an operation before its definition loaded")
            for event in operation_events(self.definition, state, message, now):
                self._emit(events, event, decide=False)
            if message.op == "restart" and message.definition is not None and message.digest:
                self.definition = message.definition
            self._decide(events)
            return
        if status.terminal:
            raise InvalidOperation(
                f"cannot {message.op} run {state.id}: it is {status.value}",
                run_id=state.id,
                state=status.value,
            )
        if message.op == "pause":
            if status is WorkflowStatus.PAUSED:
                raise InvalidOperation(
                    f"run {state.id} is already paused", run_id=state.id, state=status.value
                )
            self._emit(events, WorkflowPaused(at=now))
        elif message.op == "resume":
            if status is not WorkflowStatus.PAUSED:
                raise InvalidOperation(
                    f"run {state.id} is not paused", run_id=state.id, state=status.value
                )
            self._emit(events, WorkflowResumed(at=now))
        elif message.op == "terminate":
            reason = message.reason or "terminated by an operator"
            for task in state.tasks:
                if not task.status.terminal:
                    self._emit(
                        events, TaskCanceled(at=now, task_id=task.id, reason=reason), decide=False
                    )
            self._emit(events, WorkflowTerminated(at=now, reason=reason))
        else:
            raise InternalError(f"unknown operation {message.op!r}")

    def _child_ended(
        self, state: WorkflowState, message: ChildEnded, now: float, events: list[Event]
    ) -> None:
        """A SUB_WORKFLOW's child ended: its task mirrors the outcome (terminated: CANCELED)."""
        if state.status.terminal:
            return
        for task in state.tasks:
            if task.output.get("subWorkflowId") != message.child_id or task.retried:
                continue
            if task.status.terminal:
                return
            output = {**message.output, "subWorkflowId": message.child_id}
            reason = f"sub workflow {message.child_id} ended {message.status}"
            if message.reason:
                reason = f"{reason}: {message.reason}"
            if message.status == WorkflowStatus.COMPLETED:
                self._emit(events, TaskCompleted(at=now, task_id=task.id, output=output))
            elif message.status == WorkflowStatus.TERMINATED:
                self._emit(events, TaskCanceled(at=now, task_id=task.id, reason=reason))
            else:
                status = "TIMED_OUT" if message.status == WorkflowStatus.TIMED_OUT else "FAILED"
                failed = TaskFailed(
                    at=now, task_id=task.id, reason=reason, status=status, output=output
                )
                self._emit(events, failed)
            return

    def _start_children(self, state: WorkflowState, task_ids: set[str]) -> None:
        """Start the child run of each SUB_WORKFLOW task named (idempotent: ids are derived)."""
        definition = self.definition
        if definition is None:
            return
        from cadenza.runtime._validate import (
            sub_workflow_name,
            sub_workflow_version,
        )

        for task_id in sorted(task_ids, key=lambda tid: state.index[tid]):
            task = state.tasks[state.index[task_id]]
            child = task.output.get("subWorkflowId")
            if task.type != "SUB_WORKFLOW" or task.status.terminal or not child:
                continue
            from cadenza.runtime._dynamic import spec_for  # a forked task is not in the definition

            spec = spec_for(definition, state, task.ref)
            name = sub_workflow_name(spec) or ""
            self.services.start_run(
                child, name, sub_workflow_version(spec), dict(task.input), parent=state
            )

    def _after_end(self, state: WorkflowState) -> None:
        """A run just ended: tell its parent; start its failureWorkflow if it failed."""
        if state.parent_id:
            self.services.child_ended(state)
        for task in state.tasks:  # a parent's end ends its children (as Conductor does)
            child = task.output.get("subWorkflowId")
            if task.type == "SUB_WORKFLOW" and child and task.status is TaskStatus.CANCELED:
                self.services.terminate_child(child, task.reason or "the parent run ended")
        definition = self.definition
        failure = definition.failure_workflow if definition is not None else None
        if not failure or state.status not in (WorkflowStatus.FAILED, WorkflowStatus.TIMED_OUT):
            return
        if failure.startswith("$"):  # `$workflow.input.x` or `${workflow.input.x}`
            from cadenza.runtime._decide import roots_for
            from cadenza.runtime._expressions import lookup

            failure = str(lookup(failure.strip("${}"), roots_for(state)) or "")
        if not failure:
            return
        failed = state.task(state.failed_task_id or "")
        run_input = {
            **state.input,
            "workflowId": state.id,
            "reason": state.reason,
            "failureStatus": state.status.value,
            "failureTaskId": failed.id if failed is not None else None,
        }
        run_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"cadenza:failure:{state.id}:{state.events}"))
        self._failure_start = self.services.start_run(run_id, failure, None, run_input)
        if self._failure_start is None:
            self._unsettled = True  # nothing to wait for: settle the row now

    async def _children_that_ended(self, state: WorkflowState) -> list[ChildEnded]:
        """After a crash: children that ended while their news to this run was lost."""
        if state.status.terminal:
            return []
        ended: list[ChildEnded] = []
        for task in state.tasks:
            child_id = task.output.get("subWorkflowId") or getattr(task, "sub_workflow_id", None)
            if task.type != "SUB_WORKFLOW" or task.status.terminal or not child_id:
                continue
            loaded = await self.services.load_run(str(child_id))
            if loaded is None or not loaded.info.terminal:
                continue
            child = (
                WorkflowState.from_json(dict(loaded.snapshot))
                if loaded.snapshot
                else WorkflowState(id=str(child_id))
            )
            for data in loaded.events:
                apply(child, event_from_json(dict(data), stream_id=child.id))
            ended.append(ChildEnded(child.id, child.status.value, dict(child.output), child.reason))
        return ended

    def _owes_failure_run(self, state: WorkflowState) -> bool:
        """A FAILED or TIMED_OUT run whose definition names a failureWorkflow."""
        return (
            state.status in (WorkflowStatus.FAILED, WorkflowStatus.TIMED_OUT)
            and self.definition is not None
            and bool(self.definition.failure_workflow)
        )

    async def _settle(self, state: WorkflowState) -> None:
        """Once the failure run's start is durable, mark the row terminal (an event-less record).

        Until then the row stays unfinished, so a crash in between makes
        recovery start the failure run again (same derived id: at most once).
        """
        start, self._failure_start = self._failure_start, None
        if start is not None:
            try:
                await start
            except Exception as exc:  # left unsettled: the next recovery tries again
                log.error("run.failure_workflow_not_started", run_id=state.id, error=repr(exc))
                return
        elif not self._unsettled:
            return
        self._unsettled = False
        info = self._row(state, terminal=True)
        await self.services.journal.append(Append(info=info, events=[]))

    def _current_task(
        self, state: WorkflowState, task_id: str, *, allow: Sequence[TaskStatus] = ()
    ) -> TaskState:
        task = state.task(task_id)
        if task is None:
            raise NotFound("task", task_id)
        if state.status.terminal:
            raise StaleTask(task_id, f"run {state.id} is {state.status.value}")
        if task.retried:
            raise StaleTask(task_id, f"attempt {task.attempt} was superseded by a retry")
        if task.status.terminal:
            raise StaleTask(task_id, f"the attempt already ended {task.status.value}")
        if allow and task.status not in allow:
            raise StaleTask(task_id, f"the attempt is {task.status.value}")
        return task

    # -- events, decisions, journal, effects ---------------------------------

    def _emit(self, events: list[Event], event: Event, *, decide: bool = True) -> None:
        state = self.state
        if state is None:
            raise InternalError(f"run {self.run_id}: event before start")
        apply(state, event)
        events.append(event)
        if decide:
            self._decide(events)

    def _decide(self, events: list[Event]) -> None:
        state = self.state
        if state is None or self.definition is None:
            return
        env = self.services.environment()
        for _ in range(DECIDE_ROUNDS_MAX):
            decisions = decide(self.definition, state, env)
            if not decisions:
                return
            for decision in decisions:
                apply(state, decision)
                events.append(decision)
        raise InternalError(f"run {state.id}: decide did not settle in {DECIDE_ROUNDS_MAX} rounds")

    async def _journal(self, events: list[Event]) -> None:
        state = self.state
        if state is None:
            raise InternalError(f"run {self.run_id}: journaling without a state")
        self.since_snapshot += len(events)
        snapshot = None
        if state.status.terminal or self.since_snapshot >= SNAPSHOT_EVERY:
            snapshot = state.to_json()
            self.since_snapshot = 0
        info = self._row(
            state, terminal=state.status.terminal and not self._owes_failure_run(state)
        )
        await self.services.journal.append(
            Append(info=info, events=[event.to_json() for event in events], snapshot=snapshot)
        )

    def _row(self, state: WorkflowState, *, terminal: bool) -> StreamInfo:
        """The run's current-state row: status, and what recovery needs without loading it."""
        parked = self._parked(state)
        wake_at = self._next_wake(state)
        return StreamInfo(
            stream_id=state.id,
            kind=state.name,
            version=state.version,
            status=state.status.value,
            terminal=terminal,
            created_at=state.created_at,
            updated_at=state.updated_at,
            key=state.key,
            correlation_id=state.correlation_id,
            parent_id=state.parent_id,
            priority=state.priority,
            parked=parked,
            wake_at=wake_at if parked else None,
        )

    def _next_wake(self, state: WorkflowState) -> float | None:
        """The run's next deadline, computed at most once per state within a batch.

        The memo is dropped at every batch: the answer also depends on the time
        (an alert-only deadline counts only until it passes).
        """
        if self.definition is None:
            return None
        if self._wake_memo is not None and self._wake_memo[0] == state.events:
            return self._wake_memo[1]
        wake = next_wake(
            self.definition, state, self.services.environment(), self.services.clock.now()
        )
        self._wake_memo = (state.events, wake)
        return wake

    def _parked(self, state: WorkflowState) -> bool:
        """Only waiting on timers or signals: nothing queued, nothing with a worker."""
        if state.status.terminal or not state.started:
            return False
        pending = [t for t in state.tasks if not t.retried and not t.status.terminal]
        return bool(pending) and all(t.type in IN_PROGRESS_AT_ONCE for t in pending)

    def _arm(self, state: WorkflowState) -> None:
        """Keep one wake-up armed for the earliest deadline still to act on."""
        if state.status.terminal:
            return
        wake = self._next_wake(state)
        if wake is not None and (self.armed is None or wake < self.armed):
            self.services.arm(wake, state.id)
            self.armed = wake

    def _act(self, state: WorkflowState, events: list[Event], *, recover: bool) -> None:
        services = self.services
        seen: set[str] = set()
        for event in events:
            if isinstance(event, (TaskScheduled, TaskRequeued)):
                seen.add(event.task_id)
            elif isinstance(event, TaskCanceled):
                task = state.task(event.task_id)
                if task is not None:
                    delayed = task.type not in IN_PROGRESS_AT_ONCE and task.ready_at > event.at
                    services.cancel(task.group, task.id, delayed=delayed)
            if isinstance(event, (TaskCompleted, TaskFailed, TaskCanceled, TaskRequeued)):
                # every way an attempt ends or goes back frees what it held (slot, lease,
                # breaker verdict) — timeouts and cancellations included; release is idempotent
                failed = (
                    None
                    if isinstance(event, (TaskCanceled, TaskRequeued))
                    else isinstance(event, TaskFailed)
                )
                services.ledger.release(event.task_id, failed=failed)
        if recover:
            seen.update(t.id for t in state.tasks if t.status is TaskStatus.SCHEDULED)
            seen.update(t.id for t in state.tasks if t.type == "SUB_WORKFLOW" and not t.retried)
        self._start_children(state, seen)
        for task_id in sorted(seen, key=lambda tid: state.index[tid]):
            task = state.tasks[state.index[task_id]]
            if task.status is TaskStatus.SCHEDULED:
                services.enqueue(task.group, queued(state, task))
        if state.status.terminal and any(isinstance(e, TERMINAL_EVENTS) for e in events):
            services.run_finished(state)
            self._after_end(state)
            log.info(
                "run.finished", run_id=state.id, workflow=state.name, status=state.status.value
            )


class _Snapshot:
    """Marker: answer with a snapshot taken after the batch is journaled."""


_SNAPSHOT = _Snapshot()
