"""System tasks across a restart: code, not data, like workers (`rt.system_task`).

A restarted process that has not registered a system task still opens and
recovers every run; only the runs that need that type notice, each with a
reason naming it.
"""

from __future__ import annotations

from typing import Any

import cadenza
from cadenza.testing import VirtualClock

ENRICH = "ENRICH"


def system_flow(name: str, task_name: str, *, simple_first: bool, async_complete: bool) -> dict:  # type: ignore[type-arg]
    tasks: list[dict[str, Any]] = [{"name": "step_a", "taskReferenceName": "a"}]
    tasks = tasks if simple_first else []
    tasks.append(
        {"name": task_name, "taskReferenceName": "e", "type": ENRICH,
         "asyncComplete": async_complete, "inputParameters": {"run": name}}
    )  # fmt: skip
    return {"name": name, "tasks": tasks}


FORKED = {  # an awaiting system task beside a queued task: the run is not parked, it is loaded
    "name": "forked",
    "tasks": [
        {"name": "fork", "taskReferenceName": "f", "type": "FORK_JOIN", "forkTasks": [
            [{"name": "enrich", "taskReferenceName": "e", "type": ENRICH, "asyncComplete": True,
              "inputParameters": {"run": "forked"}}],
            [{"name": "step_x", "taskReferenceName": "x"}],
        ]},
        {"name": "join", "taskReferenceName": "j", "type": "JOIN", "joinOn": ["e", "x"]},
    ],
}  # fmt: skip


async def register_all(rt: cadenza.Runtime) -> None:
    await rt.register(FORKED)
    await rt.register(system_flow("held", "enrich", simple_first=False, async_complete=True))
    await rt.register(system_flow("orders", "enrich", simple_first=True, async_complete=False))
    await rt.register(
        system_flow("limited", "slow_enrich", simple_first=False, async_complete=False)
    )
    await rt.register({"name": "plain", "tasks": [{"name": "step_a", "taskReferenceName": "a"}]})
    await rt.register_task(
        {"name": "slow_enrich", "rateLimitPerFrequency": 1, "rateLimitFrequencyInSeconds": 3600}
    )


async def test_a_restart_without_the_system_task_fails_only_the_runs_that_reach_it(
    db_path: str, clock: VirtualClock
) -> None:
    """Reopened without ENRICH registered: every run recovers; an awaiting task is not run again;
    a queued one waits; a run reaching ENRICH fails that task naming the type; the others go on.
    Once registered, the queued task runs and the failed run can be retried."""
    first_calls: list[str] = []

    async def enrich(task_input: dict[str, Any]) -> dict[str, Any]:
        first_calls.append(task_input["run"])
        return {"by": "first"}

    async with cadenza.Runtime(db_path, clock=clock, seed=1) as rt:
        rt.system_task(ENRICH, enrich)
        await register_all(rt)
        held = await rt.start("held", {})
        forked = await rt.start("forked", {})
        orders = await rt.start("orders", {})
        plain = await rt.start("plain", {})
        done, queued = await rt.start("limited", {}), await rt.start("limited", {})
        await rt.settle()
        assert (await rt.get(held)).tasks[0].status == "IN_PROGRESS"
        assert (await rt.get(done)).status == "COMPLETED"
        assert (await rt.get(queued)).tasks[0].status == "SCHEDULED"
    assert sorted(first_calls) == ["forked", "held", "limited"]

    again_calls: list[str] = []

    async def enrich_again(task_input: dict[str, Any]) -> dict[str, Any]:
        again_calls.append(task_input["run"])
        return {"by": "again"}

    async with cadenza.Runtime(db_path, clock=clock, seed=1) as rt:
        assert rt.damaged == []
        assert (await rt.definition("held"))["tasks"][0]["type"] == ENRICH
        for _ in range(2):  # orders' and plain's step_a
            task = await rt.poll("step_a", worker_id="w")
            assert task is not None
            await rt.complete(task.id, {})
        await rt.settle()
        assert (await rt.get(plain)).status == "COMPLETED"
        failed = await rt.get(orders)
        assert failed.status == "FAILED"
        enrich_task = failed.tasks[1]
        assert enrich_task.status == "FAILED_WITH_TERMINAL_ERROR"
        assert enrich_task.reason == (
            "task 'e': no system task of type 'ENRICH' is registered on this runtime "
            "(register it with rt.system_task('ENRICH', fn), then retry the run)"
        )
        assert (await rt.get(held)).tasks[0].status == "IN_PROGRESS"  # awaiting, not re-queued
        assert [(t.ref, t.status) for t in (await rt.get(forked)).tasks] == [
            ("f", "COMPLETED"), ("e", "IN_PROGRESS"), ("x", "SCHEDULED"), ("j", "IN_PROGRESS"),
        ]  # fmt: skip
        assert (await rt.get(queued)).tasks[0].status == "SCHEDULED"  # waits for its system task

        rt.system_task(ENRICH, enrich_again)  # registered after opening
        await rt.settle()
        assert (await rt.wait(queued)).tasks[0].output == {"by": "again"}
        assert (await rt.get(held)).tasks[0].status == "IN_PROGRESS"
        await rt.signal(held, "e", {"by": "signal"})
        await rt.signal(forked, "e", {"by": "signal"})
        step_x = await rt.poll("step_x", worker_id="w")
        assert step_x is not None
        await rt.complete(step_x.id, {})
        assert (await rt.wait(forked)).status == "COMPLETED"
        await rt.retry(orders)
        assert (await rt.wait(held)).status == "COMPLETED"
        retried = await rt.wait(orders)
        assert (retried.status, retried.tasks[-1].output) == ("COMPLETED", {"by": "again"})
    assert sorted(again_calls) == ["limited", "orders"]  # the awaiting task never ran again


async def test_an_awaiting_task_still_holds_its_concurrency_slot_after_a_restart(
    db_path: str, clock: VirtualClock
) -> None:
    """concurrentExecLimit 1: a task awaiting its completion from outside when the process
    stopped still holds the slot after the restart (Conductor counts IN_PROGRESS tasks in its
    store: ExecutionDAOFacade.exceedsInProgressLimit), so a new run's task waits, and runs
    once the awaiting one is completed."""
    calls: list[str] = []

    def enrich(task_input: dict[str, Any]) -> None:
        calls.append(task_input["run"])

    held = system_flow("held", "enrich", simple_first=False, async_complete=True)
    async with cadenza.Runtime(db_path, clock=clock, seed=1) as rt:
        rt.system_task(ENRICH, enrich)
        await rt.register(held)
        await rt.register_task({"name": "enrich", "concurrentExecLimit": 1})
        first = await rt.start("held", {})
        await rt.settle()
        assert (await rt.get(first)).tasks[0].status == "IN_PROGRESS"
    async with cadenza.Runtime(db_path, clock=clock, seed=2) as rt:
        rt.system_task(ENRICH, enrich)
        await rt.settle()
        second = await rt.start("held", {})
        await rt.settle()
        assert (await rt.get(second)).tasks[0].status == "SCHEDULED"  # the slot is held
        assert calls == ["held"]
        await rt.signal(first, "e", {})
        assert (await rt.wait(first)).status == "COMPLETED"
        await rt.settle()
        assert (await rt.get(second)).tasks[0].status == "IN_PROGRESS"
        assert calls == ["held", "held"]
        await rt.signal(second, "e", {})
        assert (await rt.wait(second)).status == "COMPLETED"
