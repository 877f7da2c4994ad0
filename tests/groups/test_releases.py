"""Every way an attempt ends frees what it held; a cancelled task is never handed out."""

from __future__ import annotations

from typing import Any

import cadenza
from cadenza.testing import VirtualClock

ONE = {"name": "one", "tasks": [{"name": "work", "taskReferenceName": "work"}]}


async def test_a_timed_out_attempt_frees_its_concurrency_slot(
    rt: cadenza.Runtime, clock: VirtualClock
) -> None:
    """timeoutSeconds ends the attempt; the concurrentExecLimit slot it held goes to the next task."""
    await rt.register(ONE)
    await rt.register_task(
        {
            "name": "work",
            "concurrentExecLimit": 1,
            "timeoutSeconds": 10,
            "timeoutPolicy": "RETRY",
            "retryCount": 1,
            "retryDelaySeconds": 0,
        }
    )
    first = await rt.start("one")
    second = await rt.start("one")
    held = await rt.poll("work")
    assert held is not None
    assert held.run_id == first
    assert await rt.poll("work") is None  # the limit holds the second back
    await clock.advance(10)
    assert (await rt.get(first)).tasks[0].status == "TIMED_OUT"
    freed = await rt.poll("work")
    assert freed is not None
    assert freed.run_id in (first, second)


async def test_a_task_cancelled_during_its_retry_delay_never_runs(
    rt: cadenza.Runtime, clock: VirtualClock
) -> None:
    """Terminating a run while its retry waits out the delay: the retry is never handed to a worker."""
    await rt.register(ONE)
    await rt.register_task({"name": "work", "retryCount": 3, "retryDelaySeconds": 60})
    calls: list[dict[str, Any]] = []

    async def flaky(data: dict[str, Any]) -> None:
        calls.append(data)
        raise ConnectionError("down")

    rt.worker("work", flaky)
    run_id = await rt.start("one")
    await rt.settle()
    assert len(calls) == 1
    await rt.terminate(run_id, "customer cancelled")
    await clock.advance(120)
    assert len(calls) == 1
    run = await rt.get(run_id)
    assert [t.status for t in run.tasks] == ["FAILED", "CANCELED"]
