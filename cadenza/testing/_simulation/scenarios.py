"""Scenario helpers for fixed regression examples driven through the simulation.

Design note
-----------
The sweeps (`sweep.py`) search random histories; a regression example
instead replays one precise race against the runtime, over a handful of
seeds (the loop shuffles each batch of ready callbacks per seed, so every
seed orders the racing messages differently). This module gives those
examples a small vocabulary:

- `Scenario(seed)`: a `Simulation`, a crashable `SimRuntime` and the
  invariant `Checker`, as a context manager. `finish()` runs the checker's
  quiescent comparison (live state == journal replay) and returns its
  violations.
- `complete_at(when, task_id, hops=k)`: a worker's completion arriving at
  the exact epoch instant `when`. With `hops=0` it is told to the run's
  actor from a clock callback, i.e. in the *same loop batch* as every other
  callback due at `when` (a lease expiry, a timer) and the seed decides
  which enters the mailbox first; with `hops=k` it goes through the public
  `rt.complete` k loop batches later, still at `when`.
- `on_next_incarnation(call, hops=k)`: a call (a worker's late completion)
  made on the next incarnation k loop batches after it starts taking calls,
  so it races that incarnation's recovery.
- `crash(outage_s=..., tamper=...)`: a crash that keeps only the durable
  journal, optionally lets virtual time pass while the process is down and
  lets a test damage the durable rows (a lost wake-up), then recovers.
  `crash_during_recovery(batches)`: the next incarnation is itself cut
  down `batches` loop batches into its recovery (a crash-restart loop).
- `Pollers`: external workers of one task type that long-poll the live
  incarnation and record every hand-out (task id -> times and workers);
  a scenario stops them before a crash and restarts them after.

`simple`, `fork`, `join`, `wait`, `workflow` and `taskdef` spell small
Conductor definitions; `times` and `exactly` read and compare journaled
instants; `settled(run_id)` lists what is wrong with a run when all is quiet.

It reaches into private parts in two places (the run actor's mailbox for a
same-batch completion, `_open` to tell a recovering runtime is accepting
calls): it is a test harness.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import defaultdict
from collections.abc import Callable, Coroutine, Iterable
from types import TracebackType
from typing import Any, TypeVar

from cadenza._errors import InvalidOperation, NotFound, StaleTask
from cadenza.actors import Reply
from cadenza.actors._simloop import Simulation
from cadenza.core._events import Event
from cadenza.core._ids import run_id_of
from cadenza.dispatch._messages import TaskResult
from cadenza.persistence import MemoryJournal
from cadenza.runtime import Runtime, TaskRun, WorkflowRun
from cadenza.testing._simulation.checker import Checker, Violation
from cadenza.testing._simulation.harness import Setup, SimRuntime, cancel_all

T = TypeVar("T")
REFUSALS = (StaleTask, InvalidOperation, NotFound)
EPS = 1e-6  # "exactly": equal up to float noise in epoch seconds


def simple(ref: str, name: str = "work") -> dict[str, Any]:
    """A Conductor SIMPLE task of type `name`."""
    return {"name": name, "taskReferenceName": ref, "type": "SIMPLE"}


def workflow(name: str, *tasks: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A Conductor WorkflowDef, version 1."""
    return {"name": name, "version": 1, "tasks": list(tasks), **extra}


def fork(ref: str, *branches: list[dict[str, Any]]) -> dict[str, Any]:
    return {"name": ref, "taskReferenceName": ref, "type": "FORK_JOIN", "forkTasks": list(branches)}


def join(ref: str, *on: str) -> dict[str, Any]:
    return {"name": ref, "taskReferenceName": ref, "type": "JOIN", "joinOn": list(on)}


def wait(ref: str, **inputs: Any) -> dict[str, Any]:
    """A WAIT task (`duration=...` or `until=...`)."""
    return {"name": ref, "taskReferenceName": ref, "type": "WAIT", "inputParameters": inputs}


def taskdef(name: str = "work", **fields: Any) -> dict[str, Any]:
    """A Conductor TaskDef: no retries, no retry delay, unless `fields` say otherwise."""
    return {"name": name, "retryCount": 0, "retryDelaySeconds": 0, **fields}


def statuses(run: WorkflowRun) -> list[str]:
    """The statuses of a run's tasks, in scheduling order."""
    return [task.status.value for task in run.tasks]


def exactly(times: list[float], *expected: float) -> bool:
    """`times` are `expected`, one for one, within `EPS`."""
    return len(times) == len(expected) and all(
        abs(a - b) <= EPS for a, b in zip(times, expected, strict=True)
    )


class Scenario:
    """One seed's world; see the module note."""

    def __init__(self, seed: int, *, setup: Setup | None = None) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.sim = Simulation(seed)
        self._setup = setup
        self._next: list[Callable[[Runtime], None]] = []
        self.h = SimRuntime(self.sim, setup=self._each_incarnation)
        self.checker = Checker(self.h)
        self.drivers: list[Pollers] = []
        self._spawned: list[asyncio.Task[None]] = []
        self.h.open()

    def __enter__(self) -> Scenario:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for driver in self.drivers:
            driver.stop()
        self.h.close()
        self.sim.close()

    def _each_incarnation(self, rt: Runtime) -> None:
        if self._setup is not None:
            self._setup(rt)
        calls, self._next = self._next, []
        for call in calls:
            call(rt)

    # -- reading and calling ---------------------------------------------------------

    @property
    def rt(self) -> Runtime:
        return self.h.runtime

    @property
    def t0(self) -> float:
        """The epoch reading of simulated second 0."""
        return self.sim.clock.start

    def now(self) -> float:
        return self.sim.clock.now()

    def run(self, coro: Coroutine[Any, Any, T], *, timeout_s: float = 3600.0) -> T:
        return self.sim.run(coro, timeout_s=timeout_s)

    def attempt(self, coro: Coroutine[Any, Any, Any]) -> BaseException | None:
        """Run `coro`; None if it succeeded, else the refusal it raised."""
        try:
            self.run(coro)
        except REFUSALS as refusal:
            return refusal
        return None

    def take(self, task_type: str, worker_id: str = "w", *, at: float | None = None) -> TaskRun:
        """Poll `task_type` once (at simulated second `at`, if given), without waiting; there
        must be a task to take."""
        if at is not None:
            self.sim.advance_to(at)
        task = self.run(self.rt.poll(task_type, worker_id=worker_id))
        if task is None:
            raise AssertionError(f"no {task_type!r} task to poll at t={self.sim.time}")
        return task

    def get(self, run_id: str) -> WorkflowRun:
        return self.run(self.rt.get(run_id))

    def register(self, *definitions: dict[str, Any], tasks: Iterable[dict[str, Any]] = ()) -> None:
        async def register(rt: Runtime) -> None:
            for definition in definitions:
                await rt.register(definition)
            for taskdef in tasks:
                await rt.register_task(taskdef)

        self.run(register(self.rt))

    def events(self, run_id: str, *kinds: type[Event]) -> list[Any]:
        """The run's durable events (of `kinds`, if given), in journal order."""
        self.checker.scan()
        found = self.checker.events.get(run_id, [])
        return [e for e in found if not kinds or isinstance(e, kinds)]

    def times(self, run_id: str, kind: type[Event], **fields: Any) -> list[float]:
        """When the run journaled events of `kind` whose `fields` match."""
        return [
            e.at
            for e in self.events(run_id, kind)
            if all(getattr(e, name) == value for name, value in fields.items())
        ]

    def mailbox_order(self, run_id: str, *kinds: str) -> list[str]:
        """The message types among `kinds` in the order they reached the run's mailbox."""
        target = f"|run/{run_id}|"
        found = [line.rsplit("|", 1) for line in self.h.delivery.lines if target in line]
        return [kind for _, kind in found if kind in kinds]

    def finish(self) -> list[Violation]:
        """Compare the live runtime with the journal; every violation found so far."""
        self.checker.check_live()
        return self.checker.violations

    def settled(self, run_id: str) -> list[str]:
        """What is wrong with `run_id` at a quiescent point: the checker's violations, a run
        not terminal though every task is, a live state unlike the journal's replay."""
        problems = [str(v) for v in self.finish()]
        run = self.get(run_id)
        states = statuses(run)
        if states and all(task.status.terminal for task in run.tasks) and not run.status.terminal:
            problems.append(f"{run.status.value} with every task terminal: {states}")
        if run != self.checker.folded(run_id):
            problems.append("the live run differs from the replayed journal")
        return problems

    # -- racing messages -------------------------------------------------------------

    def complete_at(
        self, when: float, task_id: str, output: dict[str, Any] | None = None, *, hops: int = 0
    ) -> asyncio.Future[BaseException | None]:
        """A completion arriving at epoch `when`; the future holds None or the refusal."""
        loop = self.sim.loop
        rt = self.rt
        outcome: asyncio.Future[BaseException | None] = loop.create_future()
        body = dict(output or {})

        def settle(reply: asyncio.Future[None]) -> None:
            if not outcome.done():
                outcome.set_result(
                    asyncio.CancelledError() if reply.cancelled() else reply.exception()
                )

        async def through_the_api() -> None:
            for _ in range(hops - 1):
                await asyncio.sleep(0)
            await rt.complete(task_id, body)

        def fire() -> None:
            if hops == 0:
                reply: asyncio.Future[None] = loop.create_future()
                message = TaskResult(task_id, body, reply=Reply(reply))
                rt._engine._runs.ref(run_id_of(task_id)).tell_nowait(message)
                reply.add_done_callback(settle)
            else:
                loop.create_task(through_the_api()).add_done_callback(settle)

        self.sim.clock.call_at(when, fire)
        return outcome

    def on_next_incarnation(
        self, call: Callable[[Runtime], Coroutine[Any, Any, Any]], *, hops: int = 0
    ) -> asyncio.Future[BaseException | None]:
        """Make `call(rt)` on the next incarnation `hops` loop batches after it starts taking
        calls, i.e. while it may still be recovering; the future holds None or the refusal."""
        outcome: asyncio.Future[BaseException | None] = self.sim.loop.create_future()

        async def racing(rt: Runtime) -> None:
            while not rt._engine.is_open:  # noqa: ASYNC110 (one loop batch at a time, on purpose)
                await asyncio.sleep(0)
            for _ in range(hops):
                await asyncio.sleep(0)
            try:
                await call(rt)
                outcome.set_result(None)
            except REFUSALS as refusal:
                outcome.set_result(refusal)
            except Exception as error:  # anything else is the test's to see
                outcome.set_exception(error)

        self._next.append(lambda rt: self._spawned.append(self.sim.loop.create_task(racing(rt))))
        return outcome

    # -- crashes ---------------------------------------------------------------------

    def crash(
        self,
        *,
        at: float | None = None,
        outage_s: float = 0.0,
        tamper: Callable[[MemoryJournal], None] | None = None,
    ) -> Runtime:
        """Crash now (or once simulated second `at` is reached); stay down `outage_s` simulated
        seconds; `tamper` with the disk; recover."""
        if at is not None:
            self.sim.advance_to(at)
        self._stop_drivers()
        durable = self.h.journal.crash_copy()
        self.h.close()
        self.h.journal = durable
        self.h.crashes += 1
        if outage_s > 0:
            self.sim.advance(outage_s)
        if tamper is not None:
            tamper(durable)
        rt = self.h.open()
        self._start_drivers()
        return rt

    def crash_during_recovery(self, batches: int, *, at: float | None = None) -> Runtime:
        """Crash (at simulated second `at`, if given); the next incarnation dies `batches` loop
        batches into its recovery; recover."""
        if at is not None:
            self.sim.advance_to(at)
        self._stop_drivers()
        h, sim = self.h, self.sim
        durable = h.journal.crash_copy()
        h.close()
        h.journal = durable
        h.crashes += 1
        doomed = Runtime(
            clock=sim.clock,
            seed=sim.seed * 1000 + h.incarnation,
            journal=durable,
            delivery=h.delivery,
        )
        h.incarnation += 1
        if h.setup is not None:
            h.setup(doomed)

        async def host() -> None:
            async with doomed:
                await asyncio.Event().wait()

        hosting = sim.spawn(host())
        for _ in range(batches):
            if not sim.loop.has_ready():
                break  # recovery is over (or waits on time): never move time here
            sim.step()
        h.journal = durable.crash_copy()
        h.crashes += 1
        hosting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            sim.wait(hosting)
        rt = h.open()
        self._start_drivers()
        return rt

    def _stop_drivers(self) -> None:
        for driver in self.drivers:
            driver.stop()

    def _start_drivers(self) -> None:
        for driver in self.drivers:
            driver.start()


Verdict = Callable[[Any], str]  # a TaskRun -> "complete", "fail" or "hold"


class Pollers:
    """`n` external workers of `task_type`; see the module note."""

    def __init__(
        self,
        scenario: Scenario,
        task_type: str,
        n: int = 4,
        *,
        wait_s: float = 20.0,
        hold_s: float = 0.0,
        verdict: Verdict | None = None,
    ) -> None:
        self.sc = scenario
        self.task_type = task_type
        self.n = n
        self.wait_s = wait_s
        self.hold_s = hold_s
        self.verdict = verdict
        self.handed: dict[str, list[tuple[float, str]]] = defaultdict(list)
        self.done: list[str] = []  # attempts whose verdict was accepted
        self.stale: list[str] = []  # attempts whose verdict was refused
        self._tasks: list[asyncio.Task[None]] = []
        scenario.drivers.append(self)

    def start(self) -> Pollers:
        rt = self.sc.rt
        for index in range(self.n):
            worker = self._worker(rt, f"{self.task_type}-{index}")
            self._tasks.append(self.sc.sim.spawn(worker))
        return self

    def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        cancel_all(self.sc.sim, tasks)

    async def _worker(self, rt: Runtime, worker_id: str) -> None:
        while True:
            task = await rt.poll(self.task_type, worker_id=worker_id, wait=self.wait_s)
            if task is None:
                continue
            self.handed[task.id].append((self.sc.sim.time, worker_id))
            if self.hold_s > 0:
                await asyncio.sleep(self.hold_s)
            action = self.verdict(task) if self.verdict is not None else "complete"
            if action == "hold":
                continue
            try:
                if action == "fail":
                    await rt.fail(task.id, "failed by the scenario")
                else:
                    await rt.complete(task.id, {"by": worker_id})
                self.done.append(task.id)
            except StaleTask:
                self.stale.append(task.id)

    def times_handed(self) -> dict[str, int]:
        return {task_id: len(hand_outs) for task_id, hand_outs in self.handed.items()}
