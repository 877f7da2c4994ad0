"""`Runtime.wait`, which outlives its run's actor being dropped when the run changes process.

With several processes on one journal (`_partitions`), the run's actor in
this process is dropped when its partition moves away; the waiters it held
are then failed (`InternalError`, or `ActorStopped` for a wait still
queued). `wait_run` asks again: the run is now answered by its stand-in
(`cadenza.engine.shared._foreign`), which waits on the journal for the new
owner's end of the run. With one process, nothing is retried.
"""

from __future__ import annotations

from cadenza._errors import InternalError
from cadenza.actors import ActorStopped
from cadenza.core._views import WorkflowRun
from cadenza.engine._host import Engine
from cadenza.engine._messages import WaitRun


async def wait_run(engine: Engine, run_id: str, timeout_s: float | None) -> WorkflowRun:
    """Run `run_id` once terminal (`TimeoutError` past `timeout_s` on the engine's clock)."""
    deadline = None if timeout_s is None else engine.clock.now() + timeout_s
    while True:
        left = None if deadline is None else max(0.0, deadline - engine.clock.now())
        try:
            run: WorkflowRun = await engine.run(run_id).ask(WaitRun, timeout_s=left)
            return run
        except (InternalError, ActorStopped):
            if engine.ownership is None or not engine.is_open:
                raise
