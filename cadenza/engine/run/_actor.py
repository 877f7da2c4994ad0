"""One actor per workflow run: the only code that changes a run.

Design note
-----------
A run's actor handles its mailbox a batch at a time. For each message it
checks the message against the state (fencing: a result for an attempt that
is not current, or for a run that ended, is answered `StaleTask` and changes
nothing), turns it into input events, applies them, and asks `decide` until
it has nothing more to say. The batch's events go to the journal as ONE
record. Handling changes nothing outside the actor: what the batch means
for the rest of the engine (tasks to enqueue or withdraw, leases, wake-ups,
children) is collected as effects (`_effects`), executed in one place,
`act`, once the record is durable; then callers are answered. So a failed commit is
redone or crashes the actor, memory and disk agreeing (`_batches`). Its
parts: durable batches, deadlines (`_timing`), links to other runs
(`_links`), JavaScript evaluated off the loop (`_scripts`). A
finished run passivates: it costs nothing until asked about.
"""

from __future__ import annotations

from typing import Any

import anyio

from cadenza._errors import InternalError, InvalidOperation, JournalCorrupted, NotFound, StaleTask
from cadenza._log import get_logger
from cadenza.actors import Actor, ActorSystemStopped, Reply
from cadenza.core._decide import decide, settles
from cadenza.core._events import (
    Event,
    TaskCompleted,
    TaskFailed,
    TaskRequeued,
    TaskStarted,
    TaskUpdated,
    WorkflowReopened,
    WorkflowStarted,
)
from cadenza.core._operations import current_task, operation_events, signal_event
from cadenza.core._start_workflow import started_events
from cadenza.core._state import IN_PROGRESS_AT_ONCE, TaskState, WorkflowState, apply, restore
from cadenza.core._status import TaskStatus
from cadenza.core._views import WorkflowRun
from cadenza.dispatch._messages import LeaseExpired, LeaseLapsed, TaskResult, TaskStartedMsg
from cadenza.engine._messages import (
    AuditTimer,
    ChildEnded,
    GetRun,
    Heartbeat,
    Operate,
    OtherStarted,
    Recover,
    Signal,
    StartRun,
    TaskProgress,
    WaitRun,
    Wake,
    unwrapped,
)
from cadenza.engine.run._acts import acts
from cadenza.engine.run._batches import Batch, DurableBatches
from cadenza.engine.run._effects import (
    Effect,
    Expire,
    Extend,
    ForgetPlace,
    Grant,
    Relet,
    TellParent,
    TellStarter,
    Withdraw,
    execute,
)
from cadenza.engine.run._effects import StartRun as StartRunEffect
from cadenza.engine.run._failure import failed_inside
from cadenza.engine.run._links import (
    RunLinks,
    child_ended_events,
    owed_after_crash,
    owes_failure_run,
)
from cadenza.engine.run._requeue import after_the_stop, lapsed_event
from cadenza.engine.run._scripts import DECIDE, Decide, RunScripts
from cadenza.engine.run._services import RunServices, queued
from cadenza.engine.run._timing import RunDeadlines, parked
from cadenza.engine.run._unread import put_off
from cadenza.engine.run._verdicts import hand_out_accepted, verdict
from cadenza.language._definition import WorkflowDef
from cadenza.persistence import Append, Loaded

log = get_logger("cadenza.engine")

DECIDE_ROUNDS_MAX = 10_000  # a decide loop longer than this is a bug, not a workflow


class RunActor(Actor[Any]):
    """The actor of run `run_id`; see the module note."""

    def __init__(self, run_id: str, services: RunServices):
        self.run_id = run_id
        self.services = services
        self.state: WorkflowState | None = None
        self.definition: WorkflowDef | None = None
        self.waiters: list[Reply[Any]] = []
        self.damaged: JournalCorrupted | None = None
        self.unread: Exception | None = None  # the read of its state failed: see `_unread`
        self.batches = DurableBatches(run_id, services, self)
        self.deadlines = RunDeadlines(services)
        self.links = RunLinks(services)
        self.scripts = RunScripts()
        self._effects: list[Effect] = []  # the batch's effects, executed once durable
        self._inbox_ids: dict[int, int] = {}  # forwarded messages in hand -> inbox ids
        self.ready: anyio.Event | None = None  # set: a batch pass is done with the run

    async def started(self) -> None:
        if self.ready is not None:
            await self.ready.wait()  # a batch pass handles the run first (`_woken`)
        if self.state is not None:
            return  # started by a batch pass, in memory already (`_fresh`, `_woken`)
        self.batches.epoch = self.services.epoch_of(self.run_id)  # before it reads anything
        if self.services.claim_fresh(self.run_id):
            return
        try:
            await self._load()
        except JournalCorrupted as exc:
            self.damaged = exc
            log.error("run.damaged", run_id=self.run_id, error=str(exc))
        except Exception as exc:  # not damage: put its messages off, never drop them
            self.unread = exc

    async def stopped(self) -> None:
        """Callers waiting for the run's end are answered: the runtime closed, or the actor
        restarted (it forgets them), rather than left waiting for ever."""
        waiters, self.waiters = self.waiters, []
        for waiter in waiters:
            if self.context.system.stopping:
                waiter.fail(ActorSystemStopped(self.context.system.name, "closed first"))
            else:
                waiter.fail(InternalError(f"run {self.run_id}'s actor restarted: wait again"))

    async def _load(self) -> None:
        await self.take(await self.services.load_run(self.run_id))

    async def take(self, loaded: Loaded | None) -> None:
        """The run as the journal holds it (None: not there); `JournalCorrupted` if it does
        not replay."""
        if loaded is None:
            return
        try:
            self.state = state = restore(self.run_id, loaded.snapshot, loaded.events)
        except Exception as exc:  # records that verify but do not fold: damage all the same
            raise JournalCorrupted(
                f"run {self.run_id!r} does not replay from its records ({exc!r}); it is "
                "quarantined, the other runs are served. Restore the journal from a backup",
                stream_id=self.run_id,
            ) from exc
        self.batches.loaded(len(loaded.events), dict(loaded.info.timers or {}))
        self.deadlines.loaded(loaded.info)  # the wake-up its row promised is armed already
        if state.digest:
            self.definition = await self.services.load_definition(state.digest)

    # -- the batch ------------------------------------------------------------

    async def receive_batch(self, messages: list[Any]) -> None:
        """Callers are answered once the decisions their messages led to are durable,
        JavaScript evaluated off the loop included (Conductor decides within updateTask)."""
        batches: list[Batch] = []
        messages, self._inbox_ids = unwrapped(messages)  # forwarded: journaled with their ids
        try:
            batches.append(await self._receive(messages))
            while await self.scripts.made():  # JavaScript decide wanted, evaluated off the loop
                batches.append(await self._receive([DECIDE]))
        finally:
            for batch in batches:
                self._answer(batch, self.state)

    async def _receive(self, messages: list[Any]) -> Batch:
        if self.damaged is not None:
            for message in messages:
                reply = getattr(message, "reply", None)
                if reply is not None:
                    reply.fail(self.damaged)
            self.context.passivate()
            return Batch()
        if self.unread is not None:
            put_off(self.run_id, messages, self.unread, self.services, self.context.self_ref)
            self.context.passivate()
            return Batch()
        if self.state is not None and any(isinstance(m, (Recover, AuditTimer)) for m in messages):
            messages = [*await self.links.children_that_ended(self.state), *messages]
        batch = await self.batches.handle_durably(messages)
        state = self.state
        if state is not None:
            effects = self.effects_of(batch, state)
            if any(type(effect) is StartRunEffect for effect in effects):  # one journals first
                effects = await self.links.inline_definitions_journaled(effects)
            self.act(effects)
            if self.links.unsettled:
                await self.links.settle(state, self.deadlines, self.definition)
        return batch

    def effects_of(self, batch: Batch, state: WorkflowState) -> list[Effect]:
        """What the durable `batch` calls for: its own, `acts`, what a crash owed, a wake-up."""
        effects = batch.effects
        effects += acts(self.definition, state, batch.events, recover=batch.recovering)
        if batch.recovering:  # a crash may have come between the end and what it owes
            effects += owed_after_crash(self.definition, state)
        wake = self.deadlines.arm(self.definition, state) if state.started else None
        if wake is not None:
            effects.append(wake)
        return effects

    def _answer(self, batch: Batch, state: WorkflowState | None) -> None:
        """Answer the batch's callers and waiters; passivate a run that only waits or ended."""
        for reply, answer in batch.answers:
            if isinstance(answer, BaseException):
                reply.fail(answer)
            elif answer is _SNAPSHOT:
                reply.set(WorkflowRun.of(state) if state is not None else None)
            else:
                reply.set(answer)
        if state is not None and not state.status.terminal and not self.waiters and parked(state):
            self.context.passivate()  # waiting on a timer or a signal costs no memory
            self.services.run_parked(self.run_id)
        if state is None or state.status.terminal:
            if state is not None and self.waiters:
                run = WorkflowRun.of(state)
                for waiter in self.waiters:
                    waiter.set(run)
                self.waiters.clear()
            self.context.passivate()

    def handle_all(self, messages: list[Any], now: float) -> Batch:
        """Handle each message of the batch in order; refusals are answers, bugs fail the run."""
        self.deadlines.new_batch()
        self._waiters_before = len(self.waiters)
        batch = Batch()
        self._effects = batch.effects
        for message in messages:
            try:
                answer = self._handle(message, now, batch.events)
            except (StaleTask, InvalidOperation, NotFound) as refusal:
                answer = refusal
            except Exception as exc:  # a bug, in the pure core most likely: the run fails, named
                refused = failed_inside(self.run_id, self.state, exc, now, batch.events)
                answer = refused or (self.run_id if isinstance(message, StartRun) else None)
            if isinstance(message, Recover):
                batch.recovering = True
            seen = self._inbox_ids.get(id(message))
            if seen is not None and not isinstance(answer, BaseException):  # (a refusal: none)
                batch.inbox_seen = max(seen, batch.inbox_seen or 0)
            reply = getattr(message, "reply", None)
            if reply is not None and (
                not isinstance(message, WaitRun) or isinstance(answer, BaseException)
            ):  # a waiter is answered when the run ends, unless refused now
                batch.answers.append((reply, answer))
        return batch

    async def journal(self, batch: Batch) -> None:
        append = self.record(batch)
        await self.batches.commit(self._present(), batch.events, append)

    def record(self, batch: Batch) -> Append:
        """The batch's one record: its events, and the run's row as they leave it."""
        state = self._present()
        terminal = state.status.terminal and not owes_failure_run(self.definition, state)
        row = self.deadlines.row(self.definition, state, terminal=terminal)
        row = self.links.row(row, batch.events, recovering=batch.recovering)
        return self.batches.record(state, batch.events, row, inbox_seen=batch.inbox_seen)

    def _present(self) -> WorkflowState:
        if self.state is None:
            raise InternalError(f"run {self.run_id}: journaling without a state")
        return self.state

    async def redo(self) -> None:
        """A commit failed: back to what the journal holds (its waiters included)."""
        del self.waiters[self._waiters_before :]
        self.state = self.definition = None
        self.batches.epoch = self.services.epoch_of(self.run_id)
        await self._load()

    def act(self, effects: list[Effect]) -> None:
        """Do the batch's effects, in order; the one place a run acts on the world."""
        for effect in effects:
            reply = execute(effect, self.services)
            if isinstance(effect, StartRunEffect) and effect.owed:
                self.links.failure_run_started(reply)
            elif isinstance(effect, StartRunEffect) and effect.parent is not None:
                self.links.child_start_sent(reply)

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
                    if not message.reply.done():
                        message.reply.set(WorkflowRun.of(state))
                else:
                    self.waiters.append(message.reply)
                return None
            case Recover():
                return self._recover(state, now, events)
            case Wake(when=when):
                self.deadlines.woken(when)
                self._expire(state, now, events)
            case Signal(ref=ref, output=output):
                self._emit(events, signal_event(state, ref, output, now))
            case OtherStarted(task_id=task_id, run_id=started, reason=reason):
                for event in started_events(state, task_id, started, reason, now):
                    self._emit(events, event)
            case AuditTimer(expected=expected):
                self.deadlines.audit(self.definition, state, expected)
            case TaskStartedMsg():
                task = hand_out_accepted(state, message, self._effects)
                at = now if message.at is None else min(message.at, now)  # the hand-out
                handed = TaskStarted(at=at, task_id=task.id, worker_id=message.worker_id)
                self._emit(events, handed, decide=False)  # (no walk tells SCHEDULED from
                # IN_PROGRESS: a state decided before a hand-out stays decided after it)
                if message.leased is not None:
                    self._effects.append(Grant(message.leased))
            case LeaseExpired():
                leased = state.task(message.task_id)
                if leased is not None and not state.status.terminal:
                    self._lease_expired(leased, message.token, now, events)
            case LeaseLapsed(task_id=task_id):
                if (lapsed := lapsed_event(state, task_id, now)) is not None:
                    self._emit(events, lapsed)
            case TaskResult():
                task = self._held(current_task(state, message.task_id), now, events)
                event, release = verdict(task.id, message, now)
                if release is not None:
                    self._effects.append(release)
                self._emit(events, event)
            case TaskProgress():
                task = current_task(state, message.task_id, allow=(TaskStatus.IN_PROGRESS,))
                self._effects.append(Extend(self._held(task, now, events).id))
                if message.output:
                    self._emit(events, TaskUpdated(at=now, task_id=task.id, output=message.output))
                if message.callback_after_s is not None:
                    ready_at = now + max(0.0, message.callback_after_s)
                    self._emit(events, TaskRequeued(at=now, task_id=task.id, ready_at=ready_at))
            case Heartbeat():
                task = current_task(state, message.task_id, allow=(TaskStatus.IN_PROGRESS,))
                self._effects.append(Extend(self._held(task, now, events).id))
            case ChildEnded():
                ended = child_ended_events(state, message, now, self.definition, self.services)
                for event in ended:
                    self._emit(events, event, decide=False)
                self._decide(events)
            case Operate():
                self._operate(state, message, now, events)
            case Decide():
                self._decide(events)
            case _:
                raise InternalError(f"run actor got an unknown message {message!r}")
        return None

    # -- the handlers ---------------------------------------------------------

    def _lease_expired(self, task: TaskState, token: int, now: float, events: list[Event]) -> bool:
        """End an attempt whose lease `token` ran out: TIMED_OUT, retried per its policy."""
        if task.retried or task.status is not TaskStatus.IN_PROGRESS:
            return False  # a stale expiry: the attempt ended or was re-leased
        ledger = self.services.ledger
        if not ledger.current(task.id, token):
            return False
        self._effects.append(Expire(task.id, token))
        reason = "lease expired: no result or heartbeat within responseTimeoutSeconds"
        self._emit(events, TaskFailed(at=now, task_id=task.id, reason=reason, status="TIMED_OUT"))
        if self.state is not None and self.state.tasks[-1].retried_from != task.id:
            self._effects.append(ForgetPlace(self.run_id, task.ref))  # no retry will inherit it
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
        if message.started_by is not None:  # a START_WORKFLOW's run: its starter hears, again
            self._effects.append(TellStarter(*message.started_by, self.run_id))
        if self.state is not None and self.state.started:
            if self.state.status.terminal and self.state.parent_id:
                self._effects.append(TellParent(self.state))  # the parent may have missed the news
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
            trace=message.trace,
        )
        self._emit(events, started)
        return self.run_id

    def _recover(self, state: WorkflowState, now: float, events: list[Event]) -> None:
        """Put back in the queue what a crash took out of it, lease again what external workers
        hold (`_requeue`); then repair by deciding."""
        if state.status.terminal:
            return
        requeued, relet = after_the_stop(state, now, self.services.shared)
        self._effects.extend(Relet(queued(state, task), task.group) for task in relet)
        for back in requeued:
            self._emit(events, back)
        self._expire(state, now, events)  # deadlines that passed during the outage fire now
        if not events:
            self._decide(events)  # a repair: decisions a crash might have cut short

    def _operate(
        self, state: WorkflowState, message: Operate, now: float, events: list[Event]
    ) -> None:
        operation = message.operation
        if self.definition is None:
            raise InternalError(f"run {state.id}: an operation before its definition loaded")
        env = self.services.environment()
        for event in operation_events(self.definition, state, operation, now, env):
            if isinstance(event, WorkflowReopened):
                for task_id in event.dropped or ():
                    task = state.task(task_id)  # a queued one, or one cancelled in this batch
                    if (
                        task is not None
                        and task.type not in IN_PROGRESS_AT_ONCE
                        and (task.status is TaskStatus.SCHEDULED or task.ended_at == now)
                    ):
                        delayed = task.ready_at > now
                        self._effects.append(Withdraw(task.group, task.id, delayed, task.ready_at))
            self._emit(events, event, decide=False)
        if operation.op == "restart" and operation.definition is not None and operation.digest:
            self.definition = operation.definition
        self._decide(events)

    # -- events, decisions, journal, effects ---------------------------------

    def _emit(self, events: list[Event], event: Event, *, decide: bool = True) -> None:
        state = self.state
        if state is None:
            raise InternalError(f"run {self.run_id}: event before start")
        if isinstance(event, (TaskCompleted, TaskFailed, TaskRequeued)):
            task = state.task(event.task_id)
            if (
                task is not None
                and task.status is TaskStatus.SCHEDULED
                and task.type not in IN_PROGRESS_AT_ONCE
            ):  # it ends (a result before its poll, a timeout) or is put back while queued
                delayed = task.ready_at > event.at
                self._effects.append(Withdraw(task.group, task.id, delayed, task.ready_at))
        apply(state, event)
        events.append(event)
        if decide:
            self._decide(events)

    def _decide(self, events: list[Event]) -> None:
        state = self.state
        if state is None or self.definition is None:
            return
        env = self.scripts.env(self.services.environment())
        for _ in range(DECIDE_ROUNDS_MAX):
            decisions = decide(self.definition, state, env)
            if not decisions:
                return
            self.scripts.book.forget()  # the round that read them is decided
            for decision in decisions:
                apply(state, decision)
                events.append(decision)
            if settles(decisions):
                return
        raise InternalError(f"run {state.id}: decide did not settle in {DECIDE_ROUNDS_MAX} rounds")

    def _expire(self, state: WorkflowState, now: float, events: list[Event]) -> None:
        """Fire the deadlines passed by `now`, then decide once."""
        expired = self.deadlines.expire(self.definition, state, now)
        for event in expired:
            self._emit(events, event, decide=False)
        if expired:
            self._decide(events)


_SNAPSHOT = object()  # marker: answer with a snapshot taken after the batch is journaled
