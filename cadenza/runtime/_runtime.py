"""The `Runtime` facade: an embedded engine on one journal.

Design note
-----------
`async with Runtime(path) as rt:` opens the journal, starts the actor
system (a run actor per workflow run in an entity pool, one actor per
worker group, one timer service, all supervised), loads the registered
definitions and recovers every unfinished run — its queued tasks and
timers — before it returns. Leaving the block stops the actors (a batch in
hand finishes its journal write; local workers are cancelled and their
tasks re-queued at the next start), flushes and closes the journal, and
leaves no task behind.

Every public call is a message to the actor that owns the state it touches,
so calls made concurrently never interleave inside one run.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, Self, overload

import anyio
import structlog

from cadenza._errors import InvalidOperation, JournalCorrupted
from cadenza._json import check_payload as _check_payload
from cadenza.actors import (
    ActorRef,
    ActorSystem,
    Clock,
    Delivery,
    EntityPool,
    RealClock,
    Strategy,
    VirtualClock,
)
from cadenza.core._schedule import DEFAULT_GROUP, Environment
from cadenza.core._views import WorkflowRun
from cadenza.dispatch._groups import GroupState, WorkerFn, _tell_soon
from cadenza.dispatch._ledger import Ledger
from cadenza.dispatch._messages import RegisterWorker, Tick
from cadenza.dispatch._timers import Arm, ArmMany, TimerService
from cadenza.engine._loader import RunLoader
from cadenza.engine._messages import GetRun, Recover, StartRun, WaitRun, Wake
from cadenza.engine._registry import Registry
from cadenza.engine._run_actor import RunActor
from cadenza.engine._runtime_services import GROUP_MAILBOX, RuntimeServices
from cadenza.language._definition import WorkflowDef, to_conductor_json
from cadenza.persistence import Journal, SqliteJournal
from cadenza.runtime._external_workers import ExternalWorkers
from cadenza.runtime._operator import OperatorControls

log = structlog.get_logger()
_STRICT_JSON = json.JSONEncoder(allow_nan=False)  # built once; json.dumps builds one per call

RUN_MAILBOX = 1024
RECOVERY_CONCURRENCY = 64


class Runtime(RuntimeServices, ExternalWorkers, OperatorControls):
    """An embedded cadenza engine on the journal at `path` (`":memory:"` for none)."""

    def __init__(
        self,
        path: str = ":memory:",
        *,
        clock: Clock | None = None,
        durability: str = "full",
        seed: int | None = None,
        journal: Journal | None = None,
        default_group: str = DEFAULT_GROUP,
        shutdown_grace_s: float = 5.0,
        audit_timers: bool = True,
        timer_resolution_s: float = 0.0,  # > 0 coalesces wake-ups into slots (a storm guard)
        max_timers_per_run: int = 10_000,
        max_timers_per_type: int = 1_000_000,
        dispatch_warning_s: float | None = None,  # log `dispatch.slow` past this wait
        delivery: Delivery | None = None,  # the simulation's seam; default: immediate
    ) -> None:
        if durability not in ("full", "normal"):
            raise ValueError(f"durability must be 'full' or 'normal', got {durability!r}")
        self.path = path
        self.clock: Clock = clock if clock is not None else RealClock()
        self.journal: Journal = (
            journal if journal is not None else SqliteJournal(path, durability=durability)
        )
        self.seed = seed
        self.rng = random.Random(seed)
        self.default_group = default_group
        self.shutdown_grace_s = shutdown_grace_s
        self.registry = Registry(self.journal)
        self.system = ActorSystem(clock=self.clock, delivery=delivery, name="cadenza")
        self._groups: dict[str, tuple[GroupState, ActorRef[Any]]] = {}
        self._worker_groups: dict[str, str] = {}
        self._pending_workers: list[tuple[str, WorkerFn, str, int]] = []
        self._env: Environment | None = None
        self._key_locks: dict[str, anyio.Lock] = {}
        self._fresh: set[str] = set()
        self._open = False
        self.recovered = 0
        self.parked_at_open = 0  # recovered by arming their timers, without loading them
        self.audit_timers = audit_timers
        self.timer_resolution_s = timer_resolution_s
        if max_timers_per_run < 1:
            raise ValueError(f"max_timers_per_run must be at least 1, got {max_timers_per_run}")
        self.max_timers_per_run = max_timers_per_run
        if max_timers_per_type < 1:
            raise ValueError(f"max_timers_per_type must be at least 1, got {max_timers_per_type}")
        self.max_timers_per_type = max_timers_per_type
        self.timer_counts: dict[str, int] = {}  # pending WAIT deadlines by task type, all runs
        self.timers_audited = 0
        self.timers_repaired = 0
        self.damaged: list[str] = []  # runs whose journal records failed their checksum
        self.finished = 0
        self._listeners: list[Callable[[str, str, float], None]] = []
        self.dispatch_warning_s = dispatch_warning_s
        self.ledger = Ledger(
            self.clock,
            task_def=self.registry.task_defs.get,
            send_run=lambda run_id, message: _tell_soon(
                self.system, self._runs.ref(run_id), message
            ),
            wake_group=lambda group: _tell_soon(self.system, self.group_ref(group), Tick()),
        )

    # -- lifecycle ------------------------------------------------------------

    async def __aenter__(self) -> Self:
        await self.journal.open()
        try:
            await self.system.__aenter__()
            await self.registry.load()
            self._loader = RunLoader(self.journal)
            self.system.start_soon(self._loader.serve, name="run-loader")
            services = self.system.supervisor("services", strategy=Strategy.ONE_FOR_ONE)
            self._timers = services.spawn(
                lambda: TimerService(self.clock, resolution_s=self.timer_resolution_s),
                name="timers",
                mailbox_size=GROUP_MAILBOX,
            )
            self._group_supervisor = self.system.supervisor("groups", strategy=Strategy.ONE_FOR_ONE)
            self._runs: EntityPool[Any] = self.system.entities(
                lambda run_id: RunActor(run_id, self),
                kind="run",
                mailbox_size=RUN_MAILBOX,
                on_give_up=self._run_gave_up,
            )
            self._open = True
            for task_type, fn, group, concurrency in self._pending_workers:
                self._register_worker(task_type, fn, group, concurrency)
            self._pending_workers.clear()
            if isinstance(self.clock, VirtualClock):
                self.clock.attach(self.settle)
            await self._recover()
        except BaseException:
            await self._close()
            raise
        log.info("runtime.opened", path=self.path, recovered=self.recovered)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._close()

    async def _close(self) -> None:
        if isinstance(self.clock, VirtualClock):
            self.clock.detach(self.settle)
        self._open = False
        try:
            await self.system.stop(grace_s=self.shutdown_grace_s)  # graceful; raises escalations
        finally:
            await self.journal.close()
        log.info("runtime.closed", path=self.path)

    async def _recover(self) -> None:
        rows = await self.journal.unfinished_rows()
        unfinished = [row.stream_id for row in rows if not row.parked]
        for row in rows:  # the per-type counts, rebuilt exactly from what the rows hold
            self.count_timers({}, dict(row.timers or {}))
        arms = [
            Arm(row.wake_at, self._runs.ref(row.stream_id), Wake(row.wake_at))
            for row in rows
            if row.parked and row.wake_at is not None
        ]
        if arms:  # one message for them all; due ones fire at once and load their runs then
            await self._timers.tell(ArmMany(arms))
        self.parked_at_open = len(rows) - len(unfinished)
        if self.audit_timers and self.parked_at_open:
            # Overdue rows are checked by their own firing (it loads them, in deadline
            # order); auditing them first would load them out of that order.
            now = self.clock.now()
            to_audit = [
                row for row in rows if row.parked and (row.wake_at is None or row.wake_at > now)
            ]
            self.system.start_soon(self._audit_parked, to_audit, name="timer-audit")
        limiter = anyio.Semaphore(RECOVERY_CONCURRENCY)

        async def recover(run_id: str) -> None:
            async with limiter:
                try:
                    await self._runs.ref(run_id).ask(lambda reply: Recover(reply))
                except JournalCorrupted as exc:
                    self.damaged.append(run_id)
                    log.error("runtime.run_not_recovered", run_id=run_id, error=str(exc))

        async with anyio.create_task_group() as tg:
            for run_id in unfinished:
                tg.start_soon(recover, run_id)
        self.recovered = len(rows)
        if unfinished:
            log.info("runtime.recovered", runs=len(unfinished))

    def _run_gave_up(self, run_id: str, error: BaseException) -> None:
        """A run's actor crashed past its restart intensity: isolate it, keep the engine up.

        Its callers got `ActorCrashed`; its journal is untouched, so the next
        message (or the next start of the runtime) loads it afresh.
        """
        log.error("run.gave_up", run_id=run_id, error=repr(error))

    async def settle(self) -> None:
        """Return once no actor has work, no local worker runs, and the journal is flushed."""
        while True:
            await self.system.quiescent()
            await self.journal.flush()
            if self.system.pending() == 0:
                return

    def _check_open(self) -> None:
        if not self._open:
            raise InvalidOperation("the runtime is not open: use `async with Runtime(...) as rt:`")

    # -- definitions ------------------------------------------------------------

    async def register(self, definition: Mapping[str, Any]) -> None:
        """Register a workflow definition (Conductor JSON); raises `DefinitionError`."""
        self._check_open()
        await self.registry.register(definition)

    async def register_task(self, taskdef: Mapping[str, Any]) -> None:
        """Register a Conductor TaskDef for a task type; raises `DefinitionError`."""
        self._check_open()
        await self.registry.register_task(taskdef)
        self._env = None
        self.ledger.limits_changed(list(self._groups))  # limits apply without a restart

    async def definition(self, name: str, version: int | None = None) -> dict[str, Any]:
        """A registered definition in Conductor's JSON form, defaults filled in."""
        self._check_open()
        definition, _digest = self.registry.get(name, version)
        return to_conductor_json(definition)

    # -- local workers ------------------------------------------------------------

    @overload
    def worker(
        self, task_type: str, fn: WorkerFn, *, group: str | None = None, concurrency: int = 1
    ) -> None: ...

    @overload
    def worker(
        self, task_type: str, fn: None = None, *, group: str | None = None, concurrency: int = 1
    ) -> Callable[[WorkerFn], WorkerFn]: ...

    def worker(
        self,
        task_type: str,
        fn: WorkerFn | None = None,
        *,
        group: str | None = None,
        concurrency: int = 1,
    ) -> Callable[[WorkerFn], WorkerFn] | None:
        """Run `fn` for tasks of `task_type` in `group`; usable as a decorator."""
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        group_name = group or self.default_group

        def register(function: WorkerFn) -> WorkerFn:
            if self._open:
                self._register_worker(task_type, function, group_name, concurrency)
            else:
                self._pending_workers.append((task_type, function, group_name, concurrency))
            self._worker_groups[task_type] = group_name
            self._env = None
            return function

        if fn is None:
            return register
        register(fn)
        return None

    def _register_worker(self, task_type: str, fn: WorkerFn, group: str, concurrency: int) -> None:
        _tell_soon(self.system, self.group_ref(group), RegisterWorker(task_type, fn, concurrency))

    # -- runs ------------------------------------------------------------------------

    def _new_run_id(self) -> str:
        """A fresh random id; its actor need not look for it in the journal."""
        run_id = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        self._fresh.add(run_id)
        return run_id

    async def start(
        self,
        name: str,
        input: Mapping[str, Any] | None = None,
        *,
        version: int | None = None,
        priority: int = 0,
        key: str | None = None,
        correlation_id: str | None = None,
        task_to_group: Mapping[str, str] | None = None,
        parent_id: str | None = None,
    ) -> str:
        """Start a run of workflow `name`; returns its id once the start is durable."""
        self._check_open()
        if isinstance(priority, bool) or not isinstance(priority, int) or not 0 <= priority <= 99:
            raise InvalidOperation(f"priority must be an integer from 0 to 99, got {priority!r}")
        run_input = _check_payload("workflow input", input)
        definition, digest = self.registry.get(name, version)
        if key is None:
            return await self._start(
                definition,
                digest,
                run_input,
                priority,
                None,
                correlation_id,
                task_to_group,
                parent_id,
            )
        lock = self._key_locks.setdefault(key, anyio.Lock())
        try:
            async with lock:
                existing = await self.journal.find_key(key)
                if existing is not None:
                    return existing
                return await self._start(
                    definition,
                    digest,
                    run_input,
                    priority,
                    key,
                    correlation_id,
                    task_to_group,
                    parent_id,
                )
        finally:
            if not lock.locked() and not lock.statistics().tasks_waiting:
                self._key_locks.pop(key, None)

    async def _start(
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
        run_id = self._new_run_id()
        routes = dict(task_to_group) if task_to_group else None
        result: str = await self._runs.ref(run_id).ask(
            lambda reply: StartRun(
                definition,
                digest,
                run_input,
                priority,
                key,
                correlation_id,
                routes,
                parent_id,
                reply,
            )
        )
        return result

    async def get(self, run_id: str) -> WorkflowRun:
        """A snapshot of run `run_id`; raises `NotFound`."""
        self._check_open()
        run: WorkflowRun = await self._runs.ref(run_id).ask(GetRun)
        return run

    async def wait(self, run_id: str, timeout: float | None = None) -> WorkflowRun:  # noqa: ASYNC109 (API.md's name; measured on the runtime's clock)
        """Return once run `run_id` is terminal; `TimeoutError` after `timeout` seconds."""
        self._check_open()
        run: WorkflowRun = await self._runs.ref(run_id).ask(WaitRun, timeout_s=timeout)
        return run

    async def runs(
        self,
        *,
        name: str | None = None,
        status: str | None = None,
        correlation_id: str | None = None,
        limit: int = 100,
    ) -> list[WorkflowRun]:
        """Runs matching the filters, newest first."""
        self._check_open()
        infos = await self.journal.streams(
            kind=name, status=status, correlation_id=correlation_id, limit=limit
        )
        return [await self.get(info.stream_id) for info in infos]
