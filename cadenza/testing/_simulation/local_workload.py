"""A workload whose middle step runs in local workers that fail, crash, hang and overrun.

Design note
-----------
`LocalWorkerLoad` is the Conductor-like load (`ConductorLoad`) with one
change: `step_b` is served by a local worker (`rt.worker`, in the
runtime's own process) instead of external pollers, and its TaskDef has a
`timeoutSeconds` with `timeoutPolicy: RETRY`. While `faults` is on, the
worker function, drawing from the seed:

- raises an `Exception` (the attempt fails and is retried),
- crashes its slot by raising a `BaseException` (`SlotCrash`): the slot is
  restarted, and past the restart intensity the type is paused until the
  worker is registered again — which `settle()` does once faults stop,
- hangs, never returning (a worker that died mid-task inside the process):
  the task's `timeoutSeconds` must rescue the task, and the runtime must
  take the slot back, or the pool drains and the type stalls,
- runs past `timeoutSeconds` (a slow worker): its late verdict must be
  refused, and the retry run once.

Workers are code, not data: each incarnation registers the worker again
when the drivers start (`start()`), as a restarted service would.
"""

from __future__ import annotations

import asyncio
from typing import Any

from cadenza.runtime import Runtime
from cadenza.testing._simulation.workloads import ConductorLoad

LOCAL_TYPE = "step_b"
LOCAL_TIMEOUT_S = 3


class SlotCrash(BaseException):
    """Raised by a local worker to kill its slot (not a task failure: a crash)."""


class LocalWorkerLoad(ConductorLoad):
    """See the module note."""

    def __init__(
        self,
        *args: Any,
        local_concurrency: int = 6,
        hang_p: float = 0.005,
        crash_p: float = 0.002,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.local_concurrency = local_concurrency
        self.hang_p = hang_p
        self.crash_p = crash_p
        self.hung = 0
        self.overran = 0
        self.slot_crashes = 0
        self.local_runs = 0

    def taskdef(self, task_type: str) -> dict[str, Any]:
        taskdef = super().taskdef(task_type)
        if task_type == LOCAL_TYPE:  # the guard against a hung or overrunning local worker
            taskdef.update(timeoutSeconds=LOCAL_TIMEOUT_S, timeoutPolicy="RETRY")
        return taskdef

    def start(self) -> None:
        self._register_local()
        super().start()

    def settle(self) -> None:
        super().settle()
        self._register_local()  # resumes the type if crashes paused it

    def _register_local(self) -> None:
        self.h.runtime.worker(LOCAL_TYPE, self._local, concurrency=self.local_concurrency)

    async def _worker(self, rt: Runtime, task_type: str, worker_id: str) -> None:
        if task_type == LOCAL_TYPE:
            return  # served in-process
        await super()._worker(rt, task_type, worker_id)

    async def _local(self, input: dict[str, Any]) -> dict[str, Any]:
        self.local_runs += 1
        n = int(input.get("n") or 0)
        service_s = self.rng.random() * self.service_max_s
        if self.faults:
            draw = self.rng.random()
            if draw < self.hang_p:
                self.hung += 1
                await asyncio.Event().wait()  # never set: only cancellation ends it
            elif draw < self.hang_p + self.crash_p:
                self.slot_crashes += 1
                raise SlotCrash("a simulated slot crash")
            elif draw < self.hang_p + self.crash_p + self.slow_p:
                self.overran += 1
                service_s += LOCAL_TIMEOUT_S * self.rng.uniform(1.1, 2.0)
            elif draw < self.hang_p + self.crash_p + self.slow_p + self.fail_p:
                await asyncio.sleep(service_s)
                self.failed += 1
                raise RuntimeError("a random failure")
        await asyncio.sleep(service_s)
        self.completed += 1
        return {"n": n + 1}
