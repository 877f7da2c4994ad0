"""More workloads: a worker-group outage, and a WAIT storm.

Design note
-----------
Both reuse `ConductorLoad`'s drivers (external long-polling workers, faults,
crashes between incarnations) and change one thing each:

- `GroupOutageLoad` routes `step_c` to its own group (`gpu`, through
  `task_to_group`) and takes that group's workers away for a window of
  simulated time. The other groups must keep flowing meanwhile (isolation;
  `flowed_during_outage` counts their completions in the window), and once
  the workers are back every run must finish (the checker's liveness).
- `WaitStorm` starts `storm` runs at once whose first task is a WAIT of a
  random duration, then a SIMPLE task. No WAIT may complete before its
  deadline (the checker's invariant 4), and all must complete.
"""

from __future__ import annotations

import asyncio
from typing import Any

from cadenza._errors import CadenzaError, StaleTask
from cadenza.runtime import Runtime
from cadenza.testing._simulation.workloads import PRIORITIES, TASK_TYPES, ConductorLoad, three_steps

OUTAGE_GROUP = "gpu"


class GroupOutageLoad(ConductorLoad):
    """See the module note."""

    def __init__(self, *args: Any, outage: tuple[float, float] = (0.5, 3.0), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.outage = outage
        self.flowed_during_outage = 0

    def _in_outage(self) -> bool:
        start, end = self.outage
        return start <= self.h.sim.time < end

    async def _starter(self, rt: Runtime) -> None:
        while self.starting:
            priority = self.rng.choice(PRIORITIES)
            try:
                run_id = await rt.start(
                    "three_steps",
                    {"n": self.started},
                    priority=priority,
                    task_to_group={"step_c": OUTAGE_GROUP},
                )
                self.run_ids.append(run_id)  # for the operator and the sweeper
            except CadenzaError:
                self.crashed_calls += 1
            self.started += 1
            await asyncio.sleep(self.rng.expovariate(self.rate_per_s))

    async def _worker(self, rt: Runtime, task_type: str, worker_id: str) -> None:
        if task_type != "step_c":
            before = self.completed
            await self._flowing(rt, task_type, worker_id, before)
            return
        while True:
            if self._in_outage():
                await asyncio.sleep(0.1)  # the group's workers are gone
                continue
            task = await rt.poll(task_type, group=OUTAGE_GROUP, worker_id=worker_id, wait=0.5)
            if task is not None:
                await self._finish(rt, task.id, int(task.input.get("n") or 0))

    async def _flowing(self, rt: Runtime, task_type: str, worker_id: str, before: int) -> None:
        while True:
            task = await rt.poll(task_type, worker_id=worker_id, wait=1.0)
            if task is None:
                continue
            await self._finish(rt, task.id, int(task.input.get("n") or 0))
            if self._in_outage():
                self.flowed_during_outage += 1

    async def _finish(self, rt: Runtime, task_id: str, n: int) -> None:
        self.held[task_id] = n
        await asyncio.sleep(self.rng.random() * self.service_max_s)
        try:
            await rt.complete(task_id, {"n": n + 1})
            self.completed += 1
        except StaleTask:
            self.stale += 1
        except CadenzaError:
            self.crashed_calls += 1
            return  # the process crashed under the call: the task stays held
        self.held.pop(task_id, None)


def wait_then_step(name: str = "wait_storm") -> dict[str, Any]:
    return {
        "name": name,
        "version": 1,
        "tasks": [
            {
                "name": "pause",
                "taskReferenceName": "w",
                "type": "WAIT",
                "inputParameters": {"duration": "${workflow.input.s}"},
            },
            {
                "name": "step_a",
                "taskReferenceName": "a",
                "inputParameters": {"n": "${workflow.input.n}"},
            },
        ],
    }


class WaitStorm(ConductorLoad):
    """See the module note."""

    def __init__(self, *args: Any, storm: int = 2000, spread_s: float = 4.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.storm = storm
        self.spread_s = spread_s

    def install(self) -> None:
        async def register(rt: Runtime) -> None:
            await rt.register(three_steps())
            await rt.register(wait_then_step())
            for task_type in TASK_TYPES:
                await rt.register_task(
                    {
                        "name": task_type,
                        "retryCount": 3,
                        "retryDelaySeconds": self.retry_delay_s,
                        "responseTimeoutSeconds": self.lease_s,  # rescues a dead worker's task
                    }
                )

        self.h.sim.run(register(self.h.runtime))

    async def _starter(self, rt: Runtime) -> None:
        while self.starting and self.started < self.storm:
            seconds = round(self.rng.random() * self.spread_s, 3)
            try:
                run_id = await rt.start("wait_storm", {"n": self.started, "s": seconds})
                self.run_ids.append(run_id)  # the operator and the sweeper race the timers
            except CadenzaError:
                self.crashed_calls += 1
                continue  # the process crashed under the call: start it again
            self.started += 1
