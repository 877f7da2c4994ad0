"""The `Runtime` facade: an embedded engine on one journal, and nothing but API.md.

Design note
-----------
`Runtime` holds an `Engine` (the actors, the journal, the registry) and
exposes only the public calls: it checks each argument (`InvalidArgument`
before anything is queued), sends the call to the engine, and turns the
kernel's errors into the face's own (`calls_translated`). Every call is a
message to the actor owning the state it touches, so calls made
concurrently never interleave inside one run. External workers' calls,
operator controls and schedules go to `ExternalWorkers`, `Operator`, `ScheduleCalls`;
the service's own system tasks to `SystemTaskCalls`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Self, overload

from prometheus_client import CollectorRegistry

from cadenza import _gc, _trace
from cadenza._errors import RuntimeClosed
from cadenza.actors import Clock, Delivery
from cadenza.core._schedule import DEFAULT_GROUP
from cadenza.core._views import TaskRun, WorkflowRun
from cadenza.dispatch._autoscale import Pool
from cadenza.dispatch._groups import WorkerFn
from cadenza.persistence import Journal
from cadenza.runtime import _arguments as check
from cadenza.runtime._batch_starts import start_many
from cadenza.runtime._calls import calls_translated
from cadenza.runtime._definitions import registered_json, to_start
from cadenza.runtime._inspect import get_run
from cadenza.runtime._listing import list_runs
from cadenza.runtime._observing import Observing
from cadenza.runtime._operations import RunOperations
from cadenza.runtime._operator import Operator
from cadenza.runtime._options import build_engine
from cadenza.runtime._schedule_calls import ScheduleCalls
from cadenza.runtime._system_task_calls import SystemTaskCalls
from cadenza.runtime._waiting import wait_run
from cadenza.runtime._workers import ExternalWorkers

CONCURRENCY_MAX = check.CONCURRENCY_MAX


class Runtime(RunOperations, ScheduleCalls, SystemTaskCalls):
    """An embedded cadenza engine on the journal at `path` (`":memory:"` for none).

    `async with Runtime(path) as rt:` opens the journal and recovers every
    unfinished run (its queued tasks and timers) before the block starts;
    leaving the block stops the actors, finishes the journal writes in hand
    and closes the journal, leaving no task behind.

    Args:
        path: the SQLite file of the journal, created if missing; `":memory:"`
            keeps everything in memory (nothing survives the process); a
            `postgresql://user:pw@host:5432/db` URL puts the journal in that
            PostgreSQL database (extra `cadenza[postgres]`).
        clock: where time comes from: `cadenza.testing.VirtualClock` in tests;
            default the real clock (Unix epoch seconds).
        durability: `"full"` (SQLite `synchronous=FULL`, PostgreSQL
            `synchronous_commit=on`: an acknowledged event survives a power
            loss) or `"normal"` (survives a process crash, not a power loss).
        seed: seeds the run ids and jitter, for reproducible tests.
        journal: a journal to use instead of the SQLite file at `path` (the
            in-memory journal of the simulation).
        default_group: the worker group of a task type no worker or route names.
        shutdown_grace_s: how long leaving the block waits for batches in hand
            and local workers before cancelling them.
        audit_timers: after recovery, check in the background each parked
            run's deadline against its state (and repair a difference).
        timer_resolution_s: above 0, wake-ups are coalesced into slots of this
            width (a storm guard); 0 fires each deadline on time.
        max_timers_per_run: pending WAIT deadlines one run may hold; past it,
            the WAIT fails.
        max_timers_per_type: pending WAIT deadlines one task type may hold, across all runs.
        max_variables_kb: a SET_VARIABLE making the variables' JSON larger fails.
        template_env: `${NAME}` in a task's input, NAME no task: Conductor reads its env.
        dispatch_warning_s: log `dispatch.slow` when a ready task waited
            longer than this for a worker (None: never).
        unserved_warning_s: warn once when a task type waits this long unserved (None: never).
        delivery: the simulation's seam for delivering messages (default:
            immediate).
        metrics: a `prometheus_client.CollectorRegistry` to hold the metrics
            while open (default: one of its own, `rt.metrics`; `False`: none).
        max_runs_in_flight: back-pressure: past this many runs in flight
            (started by a caller, or found unfinished at recovery, and not yet
            ended nor only waiting on a timer or signal), `start` waits for
            one to end instead of memory growing without bound.
        gc_tuning: while open, freeze the objects alive at opening out of the
            cyclic collector's walks and make young collections rarer
            (`cadenza._gc`; undone when the last runtime closes). False
            leaves the collector as the application set it.

    Every call taking a run id raises `NotFound` for an id no run has, and
    every call raises `InvalidArgument` (naming the parameter) for an
    argument of the wrong type or out of range, before anything is queued.
    """

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
        timer_resolution_s: float = 0.0,
        max_timers_per_run: int = 10_000,
        max_timers_per_type: int = 1_000_000,
        max_variables_kb: int = 256,
        template_env: Mapping[str, str] | None = None,
        dispatch_warning_s: float | None = None,
        delivery: Delivery | None = None,
        max_runs_in_flight: int = 10_000,
        metrics: Any = None,
        unserved_warning_s: float | None = 60.0,
        lease_s: float = 10.0,
        gc_tuning: bool = True,
    ) -> None:
        self._observing = Observing(metrics)
        self._engine = build_engine(
            path,
            clock=clock,
            durability=durability,
            seed=seed,
            journal=journal,
            default_group=default_group,
            shutdown_grace_s=shutdown_grace_s,
            audit_timers=audit_timers,
            timer_resolution_s=timer_resolution_s,
            max_timers_per_run=max_timers_per_run,
            max_timers_per_type=max_timers_per_type,
            max_variables_kb=max_variables_kb,
            template_env=template_env,
            dispatch_warning_s=dispatch_warning_s,
            delivery=delivery,
            max_runs_in_flight=max_runs_in_flight,
            observer=self._observing.metrics,
            unserved_warning_s=unserved_warning_s,
            lease_s=lease_s,
        )
        self.path = path
        self._workers = ExternalWorkers(self._engine)
        self._operator = Operator(self._engine)
        self._scheduler = self._new_scheduler(self._engine)
        self._entered = False
        self._gc_tuning = gc_tuning

    # -- lifecycle ------------------------------------------------------------

    async def __aenter__(self) -> Self:
        if self._entered:
            raise RuntimeClosed("this runtime was already entered: use one `async with` each")
        self._entered = True
        if self._gc_tuning:
            _gc.acquire()
        try:
            await self._observing.opened(self._engine, self._scheduler)
        except BaseException:
            if self._gc_tuning:
                _gc.release()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        try:
            await self._observing.closed(self._engine)
        finally:
            if self._gc_tuning:
                _gc.release()

    @property
    def damaged(self) -> list[str]:
        """What is quarantined, the rest being served: ids of runs whose records fail their
        checksum or do not replay, and damaged definitions as "definition NAME vVERSION"."""
        return list(self._engine.damaged)

    @property
    def unrecovered(self) -> dict[str, str]:
        """Runs whose recovery keeps failing for a reason other than damage (run id -> the
        reason, naming the run and its last error); each is retried with a back-off and
        leaves this map once recovered. The other runs are served meanwhile."""
        return dict(self._engine.recovery.unrecovered)

    @property
    def metrics(self) -> CollectorRegistry | None:
        """The Prometheus registry this runtime's metrics are in while open (None if off)."""
        return self._observing.registry

    async def settle(self) -> None:
        """Return once no actor has work, no local worker runs, and the journal is flushed."""
        self._check_open()
        await self._engine.settle()

    def _check_open(self) -> None:
        if not self._engine.is_open:
            raise RuntimeClosed()

    # -- definitions ------------------------------------------------------------

    async def register(self, definition: Mapping[str, Any]) -> None:
        """Register a workflow definition (Conductor's WorkflowDef JSON, as a dict).

        Unknown fields are ignored; missing ones take Conductor's defaults.
        Several versions of one name may be registered; the definition is
        journaled, and each run keeps the version it started with.

        Raises:
            DefinitionError: the definition is malformed (naming the task
                reference and the problem); nothing is registered.
        """
        self._check_open()
        await self._engine.registry.register(check.definition("definition", definition))

    async def register_task(self, taskdef: Mapping[str, Any]) -> None:
        """Register a Conductor TaskDef (retries, timeouts, limits) for a task type.

        It applies to runs already going, without a restart.

        Raises:
            DefinitionError: the TaskDef is malformed; nothing is registered.
        """
        self._check_open()
        await self._engine.registry.register_task(check.definition("taskdef", taskdef))
        self._engine.definitions_changed()

    async def definition(self, name: str, version: int | None = None) -> dict[str, Any]:
        """A registered definition in Conductor's JSON form, defaults filled in (NotFound if
        there is no such workflow or version)."""
        self._check_open()
        return await registered_json(self._engine, name, version)

    # -- local workers ------------------------------------------------------------

    @overload
    def worker(
        self, task_type: str, fn: WorkerFn, *, group: str | None = None, concurrency: Pool = 1
    ) -> None: ...

    @overload
    def worker(
        self, task_type: str, fn: None = None, *, group: str | None = None, concurrency: Pool = 1
    ) -> Callable[[WorkerFn], WorkerFn]: ...

    def worker(
        self,
        task_type: str,
        fn: WorkerFn | None = None,
        *,
        group: str | None = None,
        concurrency: Pool = 1,
    ) -> Callable[[WorkerFn], WorkerFn] | None:
        """Serve tasks of `task_type` with `async def fn(input) -> dict | None`; also a decorator.

        `fn` runs in worker group `group` (default: the runtime's default
        group) with at most `concurrency` tasks at once; `(min, max)` autoscales
        the pool (grows while tasks wait, shrinks when idle). Raising an exception
        fails the attempt (retried per the task's policy); raising
        `TerminalError` fails it for good. A restarted process registers its
        workers again; tasks wait in their queues until it does.

        Raises:
            InvalidArgument: an empty task type or group, or a concurrency
                outside 1 to 10,000 (or a `(min, max)` with min > max).
            DefinitionError: `fn` is not an async function.
        """
        check.text("task_type", task_type)
        group_name = check.optional_text("group", group) or self._engine.default_group
        check.concurrency(concurrency, CONCURRENCY_MAX)

        def register(function: WorkerFn) -> WorkerFn:
            self._engine.add_worker(task_type, check.worker(function), group_name, concurrency)
            if self._engine.shared is not None:  # several processes: pull what waits for it
                self._engine.shared.kick()
            return function

        if fn is None:
            return register
        register(fn)
        return None

    # -- runs ------------------------------------------------------------------------

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
        definition: Mapping[str, Any] | None = None,
    ) -> str:
        """Start a run of workflow `name`; returns its id once the start is durable.

        `definition` (Conductor's StartWorkflowRequest.workflowDef), named `name`, is
        started as it is: not registered, not validated (as Conductor does).

        `priority` (0-99, higher first) carries into the run's tasks' queues.
        `key` is an idempotency key: starting again with the same key returns
        the first run's id and starts nothing. `task_to_group` maps task type
        to worker group (Conductor's taskToDomain). Past `max_runs_in_flight`
        runs in flight, it waits until one ends (back-pressure).

        Raises:
            NotFound: no workflow `name` (or version) is registered.
            InvalidArgument: an argument of the wrong type or out of range.
            PayloadError: `input` is not a JSON object.
            DefinitionError: `definition` cannot run at all (a malformed field).
        """
        self._check_open()
        routes, run_input = check.start_args(
            name, input, version, priority, key, correlation_id, task_to_group, parent_id
        )
        found, digest = await to_start(self._engine, name, version, definition)
        with calls_translated(f"start of {name!r}"), _trace.start_span(name) as span:
            run_id = await self._engine.start(
                found, digest, run_input, priority, key, correlation_id, routes, parent_id
            )
            if span is not None:  # with an OpenTelemetry SDK: the StartWorkflow span
                span.set_attribute("cadenza.workflow.id", run_id)
            return run_id

    async def start_many(
        self,
        name: str,
        inputs: Sequence[Mapping[str, Any]],
        *,
        version: int | None = None,
        priority: int = 0,
        keys: Sequence[str] | None = None,
    ) -> list[str]:
        """Start one run of `name` per input, all made durable by one commit; their ids.

        `keys` (one per input) are idempotency keys, as `start`'s `key`.
        Raises as `start` does; `InvalidArgument` names the item (`inputs[3]`).
        """
        self._check_open()
        return await start_many(self._engine, name, inputs, version, priority, keys)

    async def get(self, run_id: str) -> WorkflowRun:
        """A snapshot of run `run_id` (a copy: changing it changes nothing)."""
        self._check_open()
        check.text("run_id", run_id)
        with calls_translated(f"get of run {run_id!r}"):
            run = await get_run(self._engine, run_id)
        return run

    async def wait(self, run_id: str, timeout: float | None = None) -> WorkflowRun:  # noqa: ASYNC109 (API.md's name; measured on the runtime's clock)
        """Return run `run_id` once it is terminal.

        `timeout` is in seconds on the runtime's clock (None: no limit).

        Raises:
            TimeoutError: the run was not terminal within `timeout`.
        """
        self._check_open()
        check.text("run_id", run_id)
        limit = check.seconds("timeout", timeout)
        with calls_translated(f"wait for run {run_id!r}"):
            return await wait_run(self._engine, run_id, limit)

    async def runs(
        self,
        *,
        name: str | None = None,
        status: str | None = None,
        correlation_id: str | None = None,
        limit: int = 100,
    ) -> list[WorkflowRun]:
        """Runs matching every filter given, newest first, at most `limit`.

        A damaged run is left out (and named in `damaged`).

        Raises:
            InvalidArgument: a filter of the wrong type, a status that is not a
                `WorkflowStatus` name (any case), or `limit` outside 1 to 100,000.
        """
        self._check_open()
        return await list_runs(self._engine, self.get, name, status, correlation_id, limit)

    # -- external workers (Conductor's poll model) ----------------------------------

    async def poll(
        self,
        task_type: str,
        *,
        group: str | None = None,
        worker_id: str | None = None,
        wait: float = 0.0,
    ) -> TaskRun | None:
        """Lease the next ready task of `task_type` in `group`, or None if none came.

        The task is the group's highest priority, then oldest; it is marked
        IN_PROGRESS and leased to the caller (per its TaskDef's
        `responseTimeoutSeconds`). `wait` seconds: how long to wait for one.

        Raises:
            InvalidArgument: an argument of the wrong type or out of range.
        """
        self._check_open()
        return await self._workers.poll(task_type, group, worker_id, wait)

    async def complete(self, task_id: str, output: Mapping[str, Any] | None = None) -> None:
        """Complete a task with `output`.

        Raises:
            StaleTask: the attempt is no longer current (nothing changes).
            NotFound: no such task.
            PayloadError: `output` is not a JSON object.
        """
        self._check_open()
        await self._workers.complete(task_id, output)

    async def fail(
        self,
        task_id: str,
        reason: str = "",
        *,
        output: Mapping[str, Any] | None = None,
        terminal: bool = False,
    ) -> None:
        """Fail a task: retried per its policy unless `terminal` (FAILED_WITH_TERMINAL_ERROR).

        Raises:
            StaleTask: the attempt is no longer current (nothing changes).
            NotFound: no such task.
        """
        self._check_open()
        await self._workers.fail(task_id, reason, output, terminal)

    async def heartbeat(self, task_id: str) -> None:
        """The worker holding `task_id` is alive: its lease is extended.

        Raises:
            StaleTask: the attempt is no longer current.
        """
        self._check_open()
        await self._workers.heartbeat(task_id)

    async def update(
        self,
        task_id: str,
        *,
        output: Mapping[str, Any] | None = None,
        callback_after_s: float | None = None,
    ) -> None:
        """Report progress; the task stays IN_PROGRESS and its lease is extended.

        With `callback_after_s` the task goes back to its queue and can be
        polled again after that delay (Conductor's `callbackAfterSeconds`).

        Raises:
            StaleTask: the attempt is no longer current.
            InvalidArgument: a delay that is negative, NaN or infinite.
        """
        self._check_open()
        await self._workers.update(task_id, output, callback_after_s)
