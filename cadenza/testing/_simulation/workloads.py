"""Workloads: the Conductor-like load of external workers on three-step workflows.

Design note
-----------
`ConductorLoad` starts runs of a three-step definition at `rate_per_s`
(exponential gaps, random priorities) and runs `workers_per_type` external workers per task
type that long-poll, take a random service time, then complete, or — while
`faults` is on — fail the task (retried after `retryDelaySeconds` by the
timer service), send a duplicate completion (it must be refused), or keep
a late completion for after the next crash. Every random choice comes from
one `random.Random`, drawn in the loop's seeded order, so a seed replays.

While `faults` is on, a worker may also die holding its task (it never
answers, and comes back as a fresh worker after a pause: the lease,
`responseTimeoutSeconds`, must rescue the task), or be slow past its lease
(its late answer must be refused). With `schedules` (the "conductor"
workload's default), three schedules (`schedules.py`) start runs of the
same definition beside the starter. An operator pauses, resumes and
terminates random runs at `ops_per_s`, racing the workers' completions;
`settle()` resumes whatever it left paused once the faults stop.

A sweeper, as Conductor's (`sweeps_per_s`), picks random recent runs and
sends each a repair — a spurious wake-up, so the run re-checks its
deadlines at an instant nobody armed — then verifies it with a read: a run
once seen terminal must never be seen otherwise again (conductor-oss#213,
a completed workflow left RUNNING). What it sees go back is reported as
`regressed` (invariant 1).

The drivers belong to one runtime incarnation: `stop()` cancels them
before a crash, `start()` runs them against the next incarnation. Tasks
held at a crash are completed late by the next incarnation's drivers. A
call that fails because the process crashed under it (`ActorCrashed`, a
dead journal) is what a worker of a crashed server sees: it carries on.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from typing import Any

from cadenza._errors import CadenzaError, InvalidOperation, NotFound, StaleTask
from cadenza.engine._messages import Wake
from cadenza.runtime import Runtime
from cadenza.testing._simulation.harness import SimRuntime, cancel_all
from cadenza.testing._simulation.schedules import ScheduleDriver

TASK_TYPES = ("step_a", "step_b", "step_c")
PRIORITIES = (0, 0, 0, 10, 50)


def three_steps(name: str = "three_steps") -> dict[str, Any]:
    """A Conductor definition of three SIMPLE tasks passing a number along."""
    return {
        "name": name,
        "version": 1,
        "tasks": [
            {
                "name": "step_a",
                "taskReferenceName": "a",
                "inputParameters": {"n": "${workflow.input.n}"},
            },
            {"name": "step_b", "taskReferenceName": "b", "inputParameters": {"n": "${a.output.n}"}},
            {"name": "step_c", "taskReferenceName": "c", "inputParameters": {"n": "${b.output.n}"}},
        ],
        "outputParameters": {"result": "${c.output.n}"},
    }


class ConductorLoad:
    """See the module note."""

    def __init__(
        self,
        harness: SimRuntime,
        rng: random.Random,
        *,
        rate_per_s: float = 90.0,
        workers_per_type: int = 4,
        service_max_s: float = 0.05,
        fail_p: float = 0.1,
        duplicate_p: float = 0.03,
        late_p: float = 0.3,
        retry_delay_s: int = 1,
        lease_s: int = 2,
        die_p: float = 0.01,
        slow_p: float = 0.01,
        ops_per_s: float = 2.0,
        sweeps_per_s: float = 10.0,
        schedules: bool = False,
    ) -> None:
        self.h = harness
        self.rng = rng
        self.rate_per_s = rate_per_s
        self.workers_per_type = workers_per_type
        self.service_max_s = service_max_s
        self.fail_p = fail_p
        self.duplicate_p = duplicate_p
        self.late_p = late_p
        self.retry_delay_s = retry_delay_s
        self.lease_s = lease_s
        self.die_p = die_p
        self.slow_p = slow_p
        self.ops_per_s = ops_per_s
        self.sweeps_per_s = sweeps_per_s
        self.schedules = ScheduleDriver(harness, "three_steps") if schedules else None
        self.sweeps = 0
        self.seen_terminal: dict[str, str] = {}  # run id -> the terminal status a read saw
        self.regressed: list[str] = []
        self.run_ids: list[str] = []
        self.paused: set[str] = set()
        self.died = 0
        self.operations = 0
        self.crashed_calls = 0
        self.faults = True
        self.starting = True
        self.started = 0
        self.completed = 0
        self.failed = 0
        self.stale = 0
        self.duplicates_accepted: list[str] = []
        self.held: dict[str, int] = {}  # task id -> n, leased by a worker of this incarnation
        self.late: list[tuple[str, int]] = []
        self._tasks: list[asyncio.Task[None]] = []

    def install(self) -> None:
        """Register the definition and its retry policy (durable: once)."""

        async def register(rt: Runtime) -> None:
            await rt.register(three_steps())
            for task_type in TASK_TYPES:
                await rt.register_task(self.taskdef(task_type))

        self.h.sim.run(register(self.h.runtime))
        if self.schedules is not None:
            self.schedules.install()

    def stop_starting(self) -> None:
        """The faults stopped: no more starts, by the starter or by a schedule."""
        self.starting = False
        if self.schedules is not None:
            self.schedules.pause()

    def taskdef(self, task_type: str) -> dict[str, Any]:
        """The TaskDef of one step: fixed-delay retries, and a lease for external workers."""
        return {
            "name": task_type,
            "retryCount": 3,
            "retryLogic": "FIXED",
            "retryDelaySeconds": self.retry_delay_s,
            "responseTimeoutSeconds": self.lease_s,
        }

    def start(self) -> None:
        rt = self.h.runtime
        sim = self.h.sim
        self._tasks.append(sim.spawn(self._starter(rt)))
        for task_type in TASK_TYPES:
            for index in range(self.workers_per_type):
                self._tasks.append(sim.spawn(self._worker(rt, task_type, f"{task_type}-{index}")))
        late, self.late = self.late, []
        if late:
            self._tasks.append(sim.spawn(self._late(rt, late)))
        if self.ops_per_s > 0:
            self._tasks.append(sim.spawn(self._operator(rt)))
        if self.sweeps_per_s > 0:
            self._tasks.append(sim.spawn(self._sweeper(rt)))

    def settle(self) -> None:
        """Once the faults stop: resume the runs the operator paused (call it until none is left).

        A pause may still be in flight (messages are delayed), so a run
        that is not paused yet stays on the list for the next call.
        """
        if not self.paused:
            return
        rt = self.h.runtime

        async def resume_all() -> None:
            for run_id in sorted(self.paused):
                run = await rt.get(run_id)
                if run.status.value == "PAUSED":
                    with contextlib.suppress(InvalidOperation, NotFound):
                        await rt.resume(run_id)
                elif run.status.terminal:
                    self.paused.discard(run_id)

        self.h.sim.run(resume_all())

    def stop(self) -> None:
        """Cancel this incarnation's drivers; what they held becomes late work."""
        tasks, self._tasks = self._tasks, []
        cancel_all(self.h.sim, tasks)
        for task_id, n in self.held.items():
            if self.rng.random() < self.late_p:
                self.late.append((task_id, n))
        self.held.clear()

    async def _starter(self, rt: Runtime) -> None:
        while self.starting:
            priority = self.rng.choice(PRIORITIES)
            try:
                run_id = await rt.start("three_steps", {"n": self.started}, priority=priority)
                self.run_ids.append(run_id)
            except CadenzaError:
                self.crashed_calls += 1  # the process crashed under the call
            self.started += 1
            await asyncio.sleep(self.rng.expovariate(self.rate_per_s))

    async def _worker(self, rt: Runtime, task_type: str, worker_id: str) -> None:
        lives = 0
        while True:
            task = await rt.poll(task_type, worker_id=f"{worker_id}.{lives}", wait=1.0)
            if task is None:
                continue
            n = int(task.input.get("n") or 0)
            if self.faults and self.rng.random() < self.die_p:
                self.died += 1  # gone with the task; a fresh worker comes back later
                lives += 1
                await asyncio.sleep(self.rng.uniform(0.5, 3.0))
                continue
            self.held[task.id] = n
            service_s = self.rng.random() * self.service_max_s
            if self.faults and self.rng.random() < self.slow_p:
                service_s += self.lease_s * self.rng.uniform(1.1, 2.0)  # past its lease
            await asyncio.sleep(service_s)
            try:
                if self.faults and self.rng.random() < self.fail_p:
                    await rt.fail(task.id, "a random failure")
                    self.failed += 1
                else:
                    await rt.complete(task.id, {"n": n + 1})
                    self.completed += 1
                    if self.faults and self.rng.random() < self.duplicate_p:
                        await self._duplicate(rt, task.id, n)
            except StaleTask:
                self.stale += 1
            except CadenzaError:
                self.crashed_calls += 1
                continue  # the process crashed under the call: the task stays held
            self.held.pop(task.id, None)

    async def _operator(self, rt: Runtime) -> None:
        """Pause, resume and terminate random runs, racing the workers."""
        while True:
            await asyncio.sleep(self.rng.expovariate(self.ops_per_s))
            if not self.faults or not self.run_ids:
                continue
            run_id = self.rng.choice(self.run_ids[-200:])
            op = self.rng.choices(("pause", "resume", "terminate"), (4, 4, 1))[0]
            if op == "resume" and self.paused:
                run_id = self.rng.choice(sorted(self.paused))
            try:
                if op == "pause":
                    self.paused.add(run_id)  # before it lands: settle() must know of it
                    await rt.pause(run_id)
                elif op == "resume":
                    await rt.resume(run_id)
                    self.paused.discard(run_id)
                else:
                    await rt.terminate(run_id, "terminated by the simulated operator")
                    self.paused.discard(run_id)
                self.operations += 1
            except (InvalidOperation, NotFound):
                pass
            except CadenzaError:
                self.crashed_calls += 1

    async def _sweeper(self, rt: Runtime) -> None:
        """Repair (a spurious wake-up) and verify (a read) random recent runs."""
        while True:
            await asyncio.sleep(self.rng.expovariate(self.sweeps_per_s))
            if not self.run_ids:
                continue
            run_id = self.rng.choice(self.run_ids[-200:])
            try:
                await rt._engine._runs.ref(run_id).tell(Wake(rt._engine.clock.now()))
                run = await rt.get(run_id)
            except NotFound:
                continue  # its start was lost in a crash
            except CadenzaError:
                self.crashed_calls += 1
                continue
            self.sweeps += 1
            status = run.status.value
            seen = self.seen_terminal.get(run_id)
            if seen is not None and status != seen:
                self.regressed.append(f"{run_id}: read {seen}, then {status}")
            elif run.status.terminal:
                self.seen_terminal[run_id] = status

    async def _duplicate(self, rt: Runtime, task_id: str, n: int) -> None:
        try:
            await rt.complete(task_id, {"n": -n})
        except StaleTask:
            self.stale += 1
            return
        except CadenzaError:
            self.crashed_calls += 1
            return
        self.duplicates_accepted.append(task_id)

    async def _late(self, rt: Runtime, late: list[tuple[str, int]]) -> None:
        for task_id, n in late:
            await asyncio.sleep(self.rng.random() * 2.0)
            try:
                await rt.complete(task_id, {"n": n + 1})
            except (StaleTask, NotFound):
                self.stale += 1
            except CadenzaError:
                self.crashed_calls += 1
