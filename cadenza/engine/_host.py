"""The engine: the actors of one runtime, wired together, and what they ask of it.

Design note
-----------
`Engine` owns the actor system (a run actor per workflow run in an entity
pool, one actor per worker group, one timer service, all supervised), the
journal, the registry, and the ledger the groups share. `open()` opens the
journal, starts the actors, loads the definitions and recovers every
unfinished run — its queued tasks and timers — before it returns; `close()`
stops the actors (a batch in hand finishes its journal write; local
workers are cancelled and their tasks re-queued at the next start), then
flushes and closes the journal.

It is also the host its actors talk to: the `RunServices` protocol (load a run,
enqueue a task, arm a wake-up, start a child, tell a parent) and the worker groups'
needs. What an actor calls here never blocks: messages go out with `tell_soon`.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from cadenza._errors import NotFound
from cadenza._log import get_logger
from cadenza.actors import (
    ActorRef,
    ActorSystem,
    Clock,
    Delivery,
    EntityPool,
    Reply,
    Strategy,
    Supervisor,
    VirtualClock,
)
from cadenza.core._operations import Operation
from cadenza.core._schedule import ACTIVE_POLL_S, DEFAULT_GROUP, Environment
from cadenza.core._start_workflow import StartRequest
from cadenza.core._state import WorkflowState
from cadenza.core._system_tasks import SYSTEM_GROUP
from cadenza.dispatch._groups import GroupState, Pool, WorkerFn, WorkerGroup, _tell_soon
from cadenza.dispatch._ledger import Ledger
from cadenza.dispatch._messages import Cancel, Enqueue, QueuedTask, RegisterWorker, Tick
from cadenza.dispatch._timers import Arm, ArmMany, TimerService, TimerState
from cadenza.dispatch._unserved import UNSERVED_WARNING_S, Unserved
from cadenza.engine._audit import ParkedAudit
from cadenza.engine._caller_starts import CallerStarts, StartFields
from cadenza.engine._gate import RunGate
from cadenza.engine._http_task import HTTP_WORKER
from cadenza.engine._loader import RunLoader
from cadenza.engine._messages import ChildEnded, Operate, Wake
from cadenza.engine._observer import Observer
from cadenza.engine._rebuilt_rows import damaged_runs, derive_row
from cadenza.engine._recovery import recover_rows
from cadenza.engine._recovery_retry import RecoveryRetries
from cadenza.engine._registry import Registry
from cadenza.engine._timer_counts import TimerCounts
from cadenza.engine.run._starts import not_started, start_message
from cadenza.engine.run._woken import WakePass
from cadenza.engine.schedules._store import is_schedule_row
from cadenza.engine.shared._ownership import MINT_TRIES, Ownership, SharedDispatch, actor_for
from cadenza.language._definition import WorkflowDef
from cadenza.persistence import Journal, Loaded, StreamInfo
from cadenza.persistence._postgres_schema import partition_of

TakeoverHook = Callable[[Callable[[str], bool]], Awaitable[None]]  # (stream id -> taken over?)
log = get_logger("cadenza.engine")

GROUP_MAILBOX = 1 << 16  # the groups' and the timer service's mailboxes
RUN_MAILBOX = 1024
SYSTEM_CONCURRENCY = 64  # HTTP tasks in flight at once


class Engine:
    """The actors of one runtime on one journal (module note); the `Runtime` facade holds one."""

    def __init__(
        self,
        journal: Journal,
        clock: Clock,
        *,
        path: str,
        seed: int | None,
        default_group: str = DEFAULT_GROUP,
        shutdown_grace_s: float = 5.0,
        audit_timers: bool = True,
        timer_resolution_s: float = 0.0,
        max_timers_per_run: int = 10_000,
        max_timers_per_type: int = 1_000_000,
        dispatch_warning_s: float | None = None,
        delivery: Delivery | None = None,
        max_runs_in_flight: int = 10_000,
        observer: Observer | None = None,
        unserved_warning_s: float | None = UNSERVED_WARNING_S,
        **env_options: Any,  # further Environment fields: max_variables_kb, template_env
    ) -> None:
        self.path = path
        self.observer = observer
        self.unserved = Unserved(unserved_warning_s)  # its `counted`: see cadenza.observe
        self.journal = journal
        self.clock = clock
        self.seed = seed
        self.rng = random.Random(seed)
        self.jitter = random.Random(f"jitter:{seed}") if seed is not None else random.Random()
        self.default_group = default_group
        self.shutdown_grace_s = shutdown_grace_s
        self.audit_timers = audit_timers
        self.timer_resolution_s = timer_resolution_s
        self.max_timers_per_run = max_timers_per_run
        self.max_timers_per_type = max_timers_per_type
        self.env_options = env_options  # checked by the runtime's options
        self.dispatch_warning_s = dispatch_warning_s
        self.registry = Registry(journal, frozenset(env_options.get("template_env") or ()))
        self.gate = RunGate(max_runs_in_flight)  # back-pressure on starts (`_gate`)
        self.starts = CallerStarts(self)  # callers' starts
        self.system = ActorSystem(clock=clock, delivery=delivery, name="cadenza")
        self._audit = ParkedAudit(self.system, self.run)
        self.ledger = Ledger(
            clock,
            task_def=self.registry.task_defs.get,
            send_run=lambda run_id, message: _tell_soon(
                self.system, self._runs.ref(run_id), message
            ),
            wake_group=lambda group: _tell_soon(self.system, self.group_ref(group), Tick()),
        )
        self.is_open = False
        self.recovered = 0
        self.parked_at_open = 0  # recovered by arming their timers, without loading them
        self._timer_counts = TimerCounts()  # `timer_counts`: pending WAITs by type, runs held here
        self.timer_counts = self._timer_counts.by_type
        self.recovery = RecoveryRetries(self)  # its `unrecovered`: runs whose recovery fails
        self.timers_repaired = 0
        self.damaged: list[str] = []  # quarantined runs and "definition NAME vN" (damaged)
        self.retrying: set[str] = set()  # runs waiting out a commit's back-off: reads skip them
        self.finished = 0
        self._groups: dict[str, tuple[GroupState, ActorRef[Any]]] = {}
        self._worker_groups: dict[str, str] = {}  # task type -> the group its local worker is in
        self._pending_workers: list[tuple[str, WorkerFn, str, Pool]] = []
        self._env: Environment | None = None
        self._fresh: set[str] = set()
        self._listeners: list[Callable[[str, str, float], None]] = []
        self._runs: EntityPool[Any]
        self._timers: ActorRef[Any]
        self._timer_state = TimerState()  # its `late`: see cadenza.observe
        self._group_supervisor: Supervisor
        self._loader: RunLoader
        self._system_workers = False  # the HTTP worker, registered with the first HTTP task
        self.ownership: Ownership | None = None  # several processes on one journal: `_ownership`
        self.shared: SharedDispatch | None = None  # and their shared worker-group queues
        self.takeover_hooks: list[TakeoverHook] = []  # awaited once taken-over runs are recovered

    # -- lifecycle ------------------------------------------------------------

    async def open(self) -> None:
        """Open the journal (rebuilding a damaged run table: `_rebuilt_rows`), start the
        actors and recover; on failure, close what opened."""
        self.journal.row_deriver = self.journal.row_deriver or derive_row
        await self.journal.open()
        try:
            await self._reseed_ids()
            await self.system.__aenter__()
            await self.registry.load()
            for exc in self.journal.damaged_definitions():
                self.quarantine(f"definition {exc.stream_id}")
            for run_id in damaged_runs(self.journal, self.path):
                self.quarantine(run_id)
            self._loader = RunLoader(self.journal)
            self.system.start_soon(self._loader.serve, name="run-loader")
            services = self.system.supervisor("services", strategy=Strategy.ONE_FOR_ONE)
            self._timers = services.spawn(
                lambda: TimerService(  # its state outlives restarts; due wakes: `_woken`
                    self.clock,
                    resolution_s=self.timer_resolution_s,
                    state=self._timer_state,
                    deliver_many=WakePass(self).deliver,
                ),
                name="timers",
                mailbox_size=GROUP_MAILBOX,
            )
            self._group_supervisor = self.system.supervisor("groups", strategy=Strategy.ONE_FOR_ONE)
            self._runs = self.system.entities(
                lambda run_id: actor_for(self, run_id),
                kind="run",
                mailbox_size=RUN_MAILBOX,
                on_give_up=self._run_gave_up,
            )
            self.is_open = True
            for task_type, fn, group, concurrency in self._pending_workers:
                self._register_worker(task_type, fn, group, concurrency)
            self._pending_workers.clear()
            if isinstance(self.clock, VirtualClock):
                self.clock.attach(self.settle)
            if self.ownership is not None:
                self._timer_counts.shard_of = partition_of  # counted by partition: they move
                await self.ownership.joined()  # hold a share of the partitions to recover
            await self.recover()
            if self.ownership is not None:
                self.ownership.serving()
        except BaseException:
            await self.close()
            raise
        log.info("runtime.opened", path=self.path, recovered=self.recovered)

    async def close(self) -> None:
        """Stop the actors gracefully, then flush and close the journal."""
        if isinstance(self.clock, VirtualClock):
            self.clock.detach(self.settle)
        self.is_open = False
        self.gate.close()  # starts waiting for room: RuntimeClosed
        try:
            await self.system.stop(grace_s=self.shutdown_grace_s)  # graceful; raises escalations
        finally:
            await self.journal.close()
        log.info("runtime.closed", path=self.path)

    async def recover(self, rows: list[StreamInfo] | None = None) -> None:
        """Recover the unfinished runs of `rows` (default: the journal's, at open): `_recovery`."""
        await recover_rows(self, rows)

    @property
    def timers_audited(self) -> int:
        """Parked runs whose armed wake-up the recovery audit has checked."""
        return self._audit.audited

    def quarantine(self, what: str) -> None:
        """Name a damaged run (or "definition NAME vN") in `damaged`, once."""
        if what not in self.damaged:
            self.damaged.append(what)

    def _run_gave_up(self, run_id: str, error: BaseException) -> None:
        """A run's actor crashed past its restart intensity: isolate it, keep the engine up.
        Its callers got the error; the next message (or the next open) loads it afresh."""
        log.error("run.gave_up", run_id=run_id, error=repr(error))

    async def settle(self) -> None:
        """Return once no actor has work, no local worker runs, and the journal is flushed."""
        while True:
            await self.system.quiescent()
            await self.journal.flush()
            if self.system.pending() == 0:
                return

    # -- what the face asks ---------------------------------------------------

    def drop_runs(self, partition_of: Callable[[str], int], partitions: set[int]) -> int:
        """Stop the actors of runs in `partitions` (their owner changed; the next message
        starts the actor or stand-in that fits the new owner); how many were in memory."""
        found = [r for r in self._runs.keys() if partition_of(r) in partitions]  # noqa: SIM118
        for run_id in found + [r for r in self.gate.running if partition_of(r) in partitions]:
            self._runs.stop(run_id)  # and out of the start gate: no longer in flight here
            self.gate.finished(run_id)
        self._timer_counts.drop(partitions)  # their WAITs: counted by whoever recovers them
        self.ledger.drop_runs(lambda run_id: partition_of(run_id) in partitions)  # and slots
        return len(found)

    def run(self, run_id: str) -> ActorRef[Any]:
        return self._runs.ref(run_id)  # its actor: created, or loaded, on its first message

    def definitions_changed(self) -> None:
        """A TaskDef was registered: decisions and limits see it without a restart."""
        self._env = None
        self.ledger.limits_changed(list(self._groups))

    def add_worker(self, task_type: str, fn: WorkerFn, group: str, concurrency: Pool) -> None:
        """Serve `task_type` with local worker `fn` in `group` (now, or once open)."""
        if self.is_open:
            self._register_worker(task_type, fn, group, concurrency)
        else:
            self._pending_workers.append((task_type, fn, group, concurrency))
        self._worker_groups[task_type] = group
        self._env = None

    def _register_worker(self, task_type: str, fn: WorkerFn, group: str, concurrency: Pool) -> None:
        _tell_soon(self.system, self.group_ref(group), RegisterWorker(task_type, fn, concurrency))

    async def _reseed_ids(self) -> None:
        """A seeded id stream that differs at each opening of a journal with records, so a
        reopened runtime never mints an id it minted before (fresh ids skip the lookup)."""
        last = await self.journal.last_seq()
        if self.seed is not None and last:
            self.rng = random.Random(f"run-ids:{self.seed}:{last}")

    def new_run_id(self) -> str:
        """A fresh random id (from the seeded rng); its actor need not look for it in the journal.
        With several processes, one of a partition this process owns."""
        run_id = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        for _ in range(MINT_TRIES if self.ownership and self.ownership.can_mint() else 0):
            if self.ownership is not None and self.ownership.owns(run_id):
                break  # (none held: its start goes to the owner's inbox)
            run_id = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        self._fresh.add(run_id)
        return run_id

    async def start(
        self,
        definition: WorkflowDef,
        digest: str,
        run_input: dict[str, Any],
        priority: int,
        key: str | None,
        correlation_id: str | None,
        task_to_group: Mapping[str, str] | None,
        parent_id: str | None,
    ) -> str:
        """Start a run of `definition`; returns its id once durable.

        With an idempotency `key`, a run already started under it (durably)
        is returned instead; concurrent starts with one key are serialised.
        Past `max_runs_in_flight` runs in flight, the start waits for room
        (`_gate`); `RuntimeClosed` if the runtime closes meanwhile.
        """
        fields = StartFields(run_input, priority, key, correlation_id, task_to_group, parent_id)
        return await self.starts.start(definition, digest, fields)

    # -- what the actors ask (RunServices, and the groups' needs) ---------------

    def epoch_of(self, run_id: str) -> int | None:
        return None if self.ownership is None else self.ownership.epoch_of(run_id)

    def claim_fresh(self, run_id: str) -> bool:
        if run_id in self._fresh:
            self._fresh.discard(run_id)
            return True
        return False

    async def load_run(self, run_id: str) -> Loaded | None:
        loaded = await self._loader.load(run_id)
        if loaded is not None and is_schedule_row(loaded.info):
            return None  # a schedule's stream is no run
        return loaded

    async def load_definition(self, digest: str) -> WorkflowDef:
        return await self.registry.by_digest(digest)

    def environment(self) -> Environment:
        polled = self.ledger.active_polls(self.clock.now(), ACTIVE_POLL_S)
        if self._env is None or (self._env.live, self._env.polled) != (self.ledger.live, polled):
            self._env = Environment(
                live=self.ledger.live,  # routing's fallback list skips groups nobody serves
                polled=polled,
                task_defs=dict(self.registry.task_defs),
                groups=dict(self._worker_groups),
                default_group=self.default_group,
                max_timers_per_run=self.max_timers_per_run,
                timers_by_type=self.timer_counts,  # live: read when a WAIT is scheduled
                max_timers_per_type=self.max_timers_per_type,
                system_tasks=frozenset(self.registry.system_types),  # `rt.system_task`
                **self.env_options,
            )
        return self._env

    def count_timers(self, run_id: str, before: dict[str, int], after: dict[str, int]) -> None:
        self._timer_counts.count(run_id, before, after)

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
                    unserved=self.unserved,
                    share=self.shared.offer if self.shared is not None else None,
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
        if group == SYSTEM_GROUP and not self._system_workers:  # see cadenza/engine/_http_task.py
            self._system_workers = True
            self._register_worker("HTTP", HTTP_WORKER, SYSTEM_GROUP, SYSTEM_CONCURRENCY)
        ref = self.group_ref(group)
        if task.ready_at > self.clock.now():
            self.ledger.delay(group)  # the group must not retire while the timer holds this
            message = Enqueue(task, delayed=True)
            _tell_soon(self.system, self._timers, Arm(task.ready_at, ref, message))
        else:
            _tell_soon(self.system, ref, Enqueue(task))

    def share_of(self, task_type: str, group: str) -> bool:
        """On a shared journal, whether such tasks go to the shared queues: not the system
        group's, nor those a local worker of `group` serves here, unless the type's limits
        (global: the queue's claims hold them, which this worker then makes) apply."""
        limited = (found := self.registry.task_defs.get(task_type)) is not None and found.limited
        return group != SYSTEM_GROUP and (self._worker_groups.get(task_type) != group or limited)

    def arm(self, when: float, run_id: str) -> None:
        _tell_soon(self.system, self._timers, Arm(when, self._runs.ref(run_id), Wake(when)))

    def arm_at(self, when: float, target: ActorRef[Any], message: Any) -> None:
        """Tell `target` `message` at `when` through the timer service (never early)."""
        _tell_soon(self.system, self._timers, Arm(when, target, message))

    async def arm_many(self, arms: list[Arm]) -> None:
        await self._timers.tell(ArmMany(arms))  # many in one message (a schedule's recovery)

    def timer_repaired(self, run_id: str, expected: float | None, actual: float | None) -> None:
        self.timers_repaired += 1
        log.warning("timer.repaired", run_id=run_id, journal_said=expected, state_says=actual)

    def cancel(self, group: str, task_id: str, *, delayed_until: float | None = None) -> None:
        """Withdraw a task from its group; `delayed_until`: the timer holds its enqueue till then."""
        if delayed_until is not None:
            self.ledger.cancelled_delayed.add((task_id, delayed_until))
        _tell_soon(self.system, self.group_ref(group), Cancel(task_id))
        if self.shared is not None:
            self.shared.void(task_id)

    def released(self, task_id: str, failed: bool | None) -> None:
        self.ledger.release(task_id, failed=failed)
        if failed is not None and self.shared is not None:
            self.shared.void(task_id)  # ended: its shared row (if any) goes

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
        """Start a child, failure-workflow or START_WORKFLOW run (`RunServices.start_run`);
        its correlation id and taskToDomain as `_starts.start_message` says."""
        try:
            definition, digest = self.registry.get(name, version)
        except NotFound as exc:
            log.warning("run.start_failed", run_id=run_id, workflow=name, error=str(exc))
            for told, message in not_started(
                run_id, name, version, str(exc), parent=parent, starter=starter
            ):
                self.tell_run(told, message)
            return None
        reply: Reply[str] = Reply()
        start = start_message(
            definition, digest, input, reply,
            parent=parent, failed=failed, request=request, starter=starter,
        )  # fmt: skip
        _tell_soon(self.system, self._runs.ref(run_id), start)
        return reply

    def runs_pool(self) -> EntityPool[Any]:
        return self._runs  # the run actors, by run id

    async def load_all(self, run_ids: list[str]) -> dict[str, Loaded | Exception | None]:
        return await self._loader.load_all(run_ids)  # one read for many (`_loader`)

    def run_parked(self, run_id: str) -> None:
        self.gate.finished(run_id)  # waiting on a timer or a signal costs no memory

    def tell_run(self, run_id: str, message: Any) -> None:
        _tell_soon(self.system, self._runs.ref(run_id), message)

    def child_ended(self, state: WorkflowState) -> None:
        if state.parent_id:
            ended = ChildEnded(state.id, state.status.value, dict(state.output), state.reason)
            _tell_soon(self.system, self._runs.ref(state.parent_id), ended)

    def terminate_child(self, run_id: str, reason: str) -> None:
        self.tell_run(run_id, Operate(Operation("terminate", reason), Reply()))

    def run_finished(self, state: WorkflowState) -> None:
        self.finished += 1
        self.gate.finished(state.id)
        for listener in self._listeners:
            listener(state.id, state.status.value, state.updated_at)

    def add_listener(self, listener: Callable[[str, str, float], None]) -> None:
        """Call `listener(run_id, status, at)` whenever a run ends (from the run's actor: keep it quick)."""
        self._listeners.append(listener)
