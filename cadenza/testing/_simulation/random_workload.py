"""The random-definitions workload: seeded nested definitions under operators and restarts.

Design note
-----------
`RandomDefinitions` registers a family of definitions drawn from the seed
(`random_defs.py`: nested SWITCH, FORK_JOIN/JOIN, DO_WHILE, SUB_WORKFLOW,
TERMINATE, WAIT, SET_VARIABLE and SIMPLE tasks, `optional` and `permissive`
at random) and starts runs of them. Its workers and drivers, all drawing
from the one seeded `random.Random`:

- external pollers serve `r_ext`, a local worker `r_local` and `r_flaky`.
  `r_flaky` fails as often as the run's `fails` input says before it
  passes; its TaskDef retries thousands of times with EXPONENTIAL_BACKOFF
  and a cap (`deep_fail_p` of the runs fail past the 1,024th retry, where
  an uncapped `2**n` overflows). Workers fail at random while faults are on
  (now and then terminally), and every worker changes the input it got and
  the output it returned after returning — at once, and again later — as
  does the starter with the input it passed: the checker
  (`conductor_checks.py`) holds the journal to what was returned and passed;
- an operator reads a random run and acts on what it sees: pause or resume,
  terminate, skip a task not yet scheduled, signal a WAIT it waits on, and,
  once the run ended, retry, rerun from one of its tasks or restart it (at
  most `reopens_max` times a run, so runs still finish);
- a sweeper wakes a random run for nothing and reads it (Conductor's
  sweeper), checking the read and the timer service's heap (a parked run's
  read must arm nothing);
- a chaos driver restarts, at random instants at least `chaos_gap_s` apart
  (the supervisor allows three restarts in five seconds: 1.7 s apart is safe), the
  timer service — by crashing it, as `tests/timers/test_timer_restart.py`
  does — or a worker group, through its supervisor's restart request.

Everything else — crashes between incarnations, late completions, the
liveness phase — is `ConductorLoad`'s and `sweep.run_seed`'s.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import random
from typing import Any, cast

from cadenza._errors import CadenzaError, InvalidOperation, NotFound, StaleTask
from cadenza.dispatch._timers import Arm
from cadenza.engine._messages import Wake
from cadenza.runtime import Runtime, WorkflowRun
from cadenza.testing._simulation.conductor_checks import TOKEN, ConductorChecks
from cadenza.testing._simulation.harness import SimRuntime
from cadenza.testing._simulation.random_defs import (
    EXTERNAL,
    FLAKY,
    LOCAL,
    random_definitions,
    refs_of,
    run_input,
)
from cadenza.testing._simulation.workloads import PRIORITIES, ConductorLoad

REFUSED = (InvalidOperation, NotFound, StaleTask)
CHILD = "rand_child_"


class _Exploding:
    """A timer target whose delivery raises: the timer service crashes handing it over."""

    async def tell(self, message: Any) -> None:
        raise RuntimeError(f"simulated crash of the timer service at {message!r}")


class RandomDefinitions(ConductorLoad):
    """See the module note."""

    def __init__(
        self,
        harness: SimRuntime,
        rng: random.Random,
        *,
        rate_per_s: float = 20.0,
        ops_per_s: float = 10.0,
        deep_fail_p: float = 0.002,
        reopens_max: int = 2,
        chaos_gap_s: tuple[float, float] = (1.7, 4.0),
        chaos: bool = True,
        terminate_fresh_p: float = 0.0,
        pollers: int = 2,
        sweep_window: int = 200,
        timer_restart_p: float = 0.5,
        flaky_weight: int = 1,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("sweeps_per_s", 5.0)
        super().__init__(harness, rng, rate_per_s=rate_per_s, ops_per_s=ops_per_s, **kwargs)
        self.definitions = random_definitions(rng, flaky_weight=flaky_weight)
        self.parents = [d["name"] for d in self.definitions if not d["name"].startswith(CHILD)]
        self.refs = {d["name"]: refs_of(d["tasks"]) for d in self.definitions}
        self.deep_fail_p = deep_fail_p
        self.reopens_max = reopens_max
        self.chaos_gap_s = chaos_gap_s
        self.chaos = chaos
        self.terminate_fresh_p = terminate_fresh_p
        self.pollers = pollers
        self.sweep_window = sweep_window
        self.timer_restart_p = timer_restart_p
        self.checks: ConductorChecks | None = None
        self.reopens: dict[str, int] = {}
        self.calls: dict[tuple[Any, Any], int] = {}
        self.deep_passed: set[Any] = set()  # runs (by number) a task failed deep for
        self.tokens = itertools.count()
        self.mutations = 0
        self.local_runs = 0
        self.timer_restarts = 0
        self.next_chaos_at: float | None = None  # simulated second of the next restart
        self.group_restarts = 0
        self.reopened_runs = 0
        self.signals = 0
        self.skips = 0

    def attach(self, checks: ConductorChecks) -> None:
        self.checks = checks

    # -- registration and drivers ---------------------------------------------------

    def install(self) -> None:
        async def register(rt: Runtime) -> None:
            for task_type in (EXTERNAL, LOCAL, FLAKY):
                await rt.register_task(self.taskdef(task_type))
            for definition in self.definitions:  # children first: parents name them
                await rt.register(definition)

        self.h.sim.run(register(self.h.runtime))

    def taskdef(self, task_type: str) -> dict[str, Any]:
        if task_type == FLAKY:
            return {
                "name": FLAKY,
                "retryCount": 5000,
                "retryLogic": "EXPONENTIAL_BACKOFF",
                "retryDelaySeconds": 0,  # 0 * 2**n: 0, or OverflowError uncapped past n = 1,023
                "maxRetryDelaySeconds": 1,
            }
        taskdef = super().taskdef(task_type)
        taskdef["name"] = task_type
        return taskdef

    def start(self) -> None:
        rt = self.h.runtime
        sim = self.h.sim
        self._tasks.append(sim.spawn(self._starter(rt)))
        for index in range(self.pollers):
            self._tasks.append(sim.spawn(self._poller(rt, f"{EXTERNAL}-{index}")))
        late, self.late = self.late, []
        if late:
            self._tasks.append(sim.spawn(self._late(rt, late)))
        if self.ops_per_s > 0:
            self._tasks.append(sim.spawn(self._operator(rt)))
        if self.sweeps_per_s > 0:
            self._tasks.append(sim.spawn(self._sweeper(rt)))
        if self.chaos:
            self._tasks.append(sim.spawn(self._chaos(rt)))

    def settle(self) -> None:
        super().settle()
        rt = self.h.runtime

        async def register() -> None:  # resumes a type its crashes paused
            for task_type in (LOCAL, FLAKY):
                rt.worker(task_type, self._local, concurrency=4)

        self.h.sim.run(register())

    # -- the starter and the workers --------------------------------------------------

    async def _starter(self, rt: Runtime) -> None:
        for task_type in (LOCAL, FLAKY):  # inside the loop, as a service registers them
            rt.worker(task_type, self._local, concurrency=4)
        while self.starting:
            name = self.rng.choice(self.parents)
            passed = run_input(self.rng, self.started, deep_fail_p=self.deep_fail_p)
            kept = copy.deepcopy(passed)
            try:
                run_id = await rt.start(name, passed, priority=self.rng.choice(PRIORITIES))
                if self.checks is not None:
                    self.checks.inputs[run_id] = kept
                self.run_ids.append(run_id)
                self._mutate(passed)
                if self.faults and self.rng.random() < self.terminate_fresh_p:
                    await self._terminate(rt, run_id)
            except REFUSED:
                pass
            except CadenzaError:
                self.crashed_calls += 1
            self.started += 1
            await asyncio.sleep(self.rng.expovariate(self.rate_per_s))

    def _output(self, task_input: dict[str, Any]) -> dict[str, Any]:
        """A fresh output, recorded (a copy) under its token before anyone sees it."""
        n = task_input.get("n")
        token = f"o{next(self.tokens)}"
        output: dict[str, Any] = {TOKEN: token, "n": n, "list": [1, {"x": [n]}]}
        if self.checks is not None:
            self.checks.returned[token] = copy.deepcopy(output)
        return output

    def _mutate(self, *values: dict[str, Any]) -> None:
        """Change what was passed or returned: at once, and again a moment later."""

        def change() -> None:
            for value in values:
                self.mutations += 1
                value["n"] = "changed after it was handed over"
                nested = value.get("list") or value.get("items") or value.get("payload")
                if isinstance(nested, list):
                    nested.append("changed")
                elif isinstance(nested, dict):
                    nested["changed"] = True

        loop = self.h.sim.loop
        loop.call_soon(change)
        loop.call_later(self.rng.random() * 0.05, change)

    async def _local(self, task_input: dict[str, Any]) -> dict[str, Any]:
        self.local_runs += 1
        n = task_input.get("n")
        key = (n, task_input.get("ref"))
        count = self.calls[key] = self.calls.get(key, 0) + 1
        fails = task_input.get("fails")
        if isinstance(fails, int) and fails > 3 and n in self.deep_passed:
            fails = 3  # one task of a run fails past the 1,024th retry, the rest pass sooner
        self._mutate(task_input)
        await asyncio.sleep(self.rng.random() * self.service_max_s)
        if isinstance(fails, int) and count <= fails:
            raise RuntimeError(f"flaky: failure {count} of {fails}")
        if isinstance(fails, int) and fails > 3:
            self.deep_passed.add(n)
        if self.faults and self.rng.random() < self.fail_p:
            self.failed += 1
            raise RuntimeError("a random failure")
        output = self._output(task_input)
        self._mutate(output)
        self.completed += 1
        return output

    async def _poller(self, rt: Runtime, worker_id: str) -> None:
        while True:
            task = await rt.poll(EXTERNAL, worker_id=worker_id, wait=1.0)
            if task is None:
                continue
            if self.checks is not None:
                self.checks.handed(task.id, rt._engine.clock.now())
            self._mutate(task.input)
            self.held[task.id] = 0
            await asyncio.sleep(self.rng.random() * self.service_max_s)
            try:
                draw = self.rng.random() if self.faults else 1.0
                if draw < self.fail_p:
                    await rt.fail(task.id, "a random failure", terminal=draw < self.fail_p / 5)
                    self.failed += 1
                else:
                    output = self._output(task.input)
                    await rt.complete(task.id, output)
                    self._mutate(output)
                    self.completed += 1
            except StaleTask:
                self.stale += 1
            except CadenzaError:
                self.crashed_calls += 1
                continue  # the process crashed under the call: the task stays held
            self.held.pop(task.id, None)

    # -- the operator -------------------------------------------------------------------

    async def _operator(self, rt: Runtime) -> None:
        while True:
            await asyncio.sleep(self.rng.expovariate(self.ops_per_s))
            if not self.faults or not self.run_ids:
                continue
            run_id = self.rng.choice(self.run_ids[-100:])
            try:
                run = await rt.get(run_id)
                self._read(run)
                await self._operate(rt, run)
                self.operations += 1
            except REFUSED:
                pass
            except CadenzaError:
                self.crashed_calls += 1

    async def _operate(self, rt: Runtime, run: WorkflowRun) -> None:
        status = run.status.value
        rng = self.rng
        if status == "PAUSED":
            await rt.resume(run.id)
            self.paused.discard(run.id)
        elif status == "RUNNING":
            op = rng.choices(("pause", "terminate", "skip", "signal"), (3, 1, 2, 4))[0]
            if op == "pause":
                self.paused.add(run.id)  # before it lands: settle() must know of it
                await rt.pause(run.id)
            elif op == "terminate":
                await self._terminate(rt, run.id)
            elif op == "skip":
                scheduled = {task.ref for task in run.tasks}
                left = [ref for ref in self.refs[run.name] if ref not in scheduled]
                if left:
                    await rt.skip(run.id, rng.choice(left))
                    self.skips += 1
            else:
                waits = [t for t in run.tasks if t.type == "WAIT" and not t.status.terminal]
                if waits:
                    wait = rng.choice(waits)
                    self.h_checker_signalled(wait.id)
                    await rt.signal(run.id, wait.ref, {"signalled": True})
                    self.signals += 1
        elif self.reopens.get(run.id, 0) < self.reopens_max:
            op = rng.choices(("retry", "rerun", "restart"), (4, 2, 1))[0]
            if op == "retry" and status not in ("FAILED", "TIMED_OUT"):
                return
            self.reopens[run.id] = self.reopens.get(run.id, 0) + 1
            if self.checks is not None:
                self.checks.reopened.add(run.id)  # before it lands
            if op == "retry":
                await rt.retry(run.id)
            elif op == "restart":
                await rt.restart(run.id)
            else:
                refs = sorted({task.ref for task in run.tasks})
                if not refs:
                    return
                await rt.rerun(run.id, rng.choice(refs))
            self.reopened_runs += 1

    def h_checker_signalled(self, task_id: str) -> None:
        if self.checks is not None:
            self.checks.checker.signalled.add(task_id)  # before it lands: it may be early

    async def _terminate(self, rt: Runtime, run_id: str) -> None:
        if self.checks is not None:
            self.checks.terminated.add(run_id)  # before it lands
        await rt.terminate(run_id, "terminated by the simulated operator")
        self.paused.discard(run_id)

    def _read(self, run: WorkflowRun) -> None:
        if self.checks is not None:
            self.checks.read(run)

    # -- the sweeper and the chaos --------------------------------------------------------

    async def _sweeper(self, rt: Runtime) -> None:
        """Wake a random run for nothing and read it; then audit the timer service's heap."""
        while True:
            await asyncio.sleep(self.rng.expovariate(self.sweeps_per_s))
            if not self.run_ids:
                continue
            run_id = self.rng.choice(self.run_ids[-self.sweep_window :])
            try:
                if self.rng.random() < 0.5:
                    await rt._engine._runs.ref(run_id).tell(Wake(rt._engine.clock.now()))
                run = await rt.get(run_id)
            except NotFound:
                continue  # its start was lost in a crash
            except CadenzaError:
                self.crashed_calls += 1
                continue
            self.sweeps += 1
            self._read(run)
            if self.checks is not None:
                self.checks.check_timers(rt)

    async def _chaos(self, rt: Runtime) -> None:
        """Restart the timer service (a crash) or a worker group (its supervisor's request)."""
        sim = self.h.sim
        while True:
            if self.next_chaos_at is None:
                self.next_chaos_at = sim.time + self.rng.uniform(*self.chaos_gap_s)
            await asyncio.sleep(max(0.0, self.next_chaos_at - sim.time))  # across crashes
            self.next_chaos_at = None
            if not self.faults:
                continue
            engine = rt._engine
            if self.rng.random() < self.timer_restart_p:
                crash = Arm(engine.clock.now(), cast(Any, _Exploding()), "boom")
                try:
                    await engine._timers.tell(crash)
                except CadenzaError:
                    continue
                self.timer_restarts += 1
            elif engine._groups:
                _state, ref = engine._groups[self.rng.choice(sorted(engine._groups))]
                ref._resolve()._request_restart()
                self.group_restarts += 1
