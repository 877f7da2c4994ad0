"""`rt.system_task`: a service's own task types, run by the engine as Conductor's system tasks.

Conductor runs a task type it does not know (USER_DEFINED) by the
`WorkflowSystemTask` registered under that name (UserDefinedTaskMapper.java,
AsyncSystemTaskExecutor.java); these pin the same for cadenza.
"""

from __future__ import annotations

import threading
from typing import Any

import anyio
import pytest

import cadenza
from cadenza.testing import VirtualClock

ENRICH = "ENRICH"


def flow(*, async_complete: bool = False, name: str = "orders", **task: Any) -> dict[str, Any]:
    """A SIMPLE task `a`, then the system task `e` (type ENRICH, name `enrich`)."""
    return {
        "name": name,
        "tasks": [
            {"name": "step_a", "taskReferenceName": "a"},
            {
                "name": "enrich",
                "taskReferenceName": "e",
                "type": ENRICH,
                "asyncComplete": async_complete,
                "inputParameters": {"customer": "${workflow.input.customer}"},
                **task,
            },
        ],
        "outputParameters": {"score": "${e.output.score}"},
    }


def only(definition: dict[str, Any]) -> dict[str, Any]:
    """`definition` without its SIMPLE task: the system task alone."""
    return {**definition, "tasks": definition["tasks"][1:]}


async def test_a_plain_function_runs_the_task_and_its_return_is_the_output(
    rt: cadenza.Runtime,
) -> None:
    """A sync system task completes its task with what it returned; it shows no worker group."""
    seen: list[dict[str, Any]] = []

    def enrich(task_input: dict[str, Any]) -> dict[str, Any]:
        seen.append(task_input)
        return {"score": len(task_input["customer"])}

    rt.system_task(ENRICH, enrich)
    await rt.register(only(flow()))
    run = await rt.wait(await rt.start("orders", {"customer": "ada"}))
    assert run.status == "COMPLETED"
    assert run.output == {"score": 3}
    task = run.tasks[0]
    assert (task.type, task.name, task.status, task.group) == (ENRICH, "enrich", "COMPLETED", None)
    assert seen == [{"customer": "ada"}]


async def test_an_async_function_with_a_context_is_told_its_attempt(rt: cadenza.Runtime) -> None:
    """The decorator form; an async system task taking a TaskContext gets its task's identity."""

    @rt.system_task(ENRICH)
    async def enrich(task_input: dict[str, Any], task: cadenza.TaskContext) -> dict[str, Any]:
        return {"score": 1, "ref": task.ref, "type": task.task_type, "run": task.run_id}

    await rt.register(only(flow()))
    run_id = await rt.start("orders", {"customer": "ada"})
    run = await rt.wait(run_id)
    assert run.tasks[0].output == {"score": 1, "ref": "e", "type": ENRICH, "run": run_id}


async def test_a_sync_function_runs_off_the_event_loop(rt: cadenza.Runtime) -> None:
    """A plain function blocking its thread leaves the loop free to serve other calls."""
    started, release = threading.Event(), threading.Event()

    def blocking(task_input: dict[str, Any]) -> dict[str, Any]:
        started.set()
        return {"released": release.wait(10)}  # on the loop, nobody could set it: False

    rt.system_task(ENRICH, blocking)
    await rt.register(only(flow()))
    run_id = await rt.start("orders", {"customer": "ada"})
    assert await anyio.to_thread.run_sync(started.wait, 10)
    running = await rt.get(run_id)  # answered while the function blocks its thread
    assert running.tasks[0].status == "IN_PROGRESS"
    release.set()
    run = await rt.wait(run_id)
    assert run.tasks[0].output == {"released": True}


async def test_async_complete_in_the_definition_waits_for_a_signal(rt: cadenza.Runtime) -> None:
    """With asyncComplete the task is IN_PROGRESS once run, its output kept, until signalled;
    waiting costs no re-run (SystemTaskSpec: "sweeper evaluates the workflow", unchanged)."""
    calls: list[str] = []

    async def enrich(task_input: dict[str, Any]) -> dict[str, Any]:
        calls.append(task_input["customer"])
        return {"requested": True}

    rt.system_task(ENRICH, enrich)
    await rt.register(only(flow(async_complete=True)))
    run_id = await rt.start("orders", {"customer": "ada"})
    await rt.settle()
    await rt.settle()
    task = (await rt.get(run_id)).tasks[0]
    assert (task.status, task.output, task.group) == ("IN_PROGRESS", {"requested": True}, None)
    await rt.signal(run_id, "e", {"score": 7})
    run = await rt.wait(run_id)
    assert (run.status, run.output, calls) == ("COMPLETED", {"score": 7}, ["ada"])


async def test_an_async_complete_task_is_completed_by_its_task_id(rt: cadenza.Runtime) -> None:
    """`async_complete=True` at registration overrides the definition; `rt.complete` ends it
    (Conductor's spec: `workflowExecutor.updateTask(taskResult)`)."""
    rt.system_task(ENRICH, lambda task_input: None, async_complete=True)
    await rt.register(only(flow(async_complete=False)))
    run_id = await rt.start("orders", {"customer": "ada"})
    await rt.settle()
    task = (await rt.get(run_id)).tasks[0]
    assert task.status == "IN_PROGRESS"
    await rt.complete(task.id, {"score": 2})
    assert (await rt.wait(run_id)).output == {"score": 2}


async def test_the_task_input_says_async_complete_before_the_definition(
    rt: cadenza.Runtime,
) -> None:
    """WorkflowSystemTask.isAsyncComplete: an `asyncComplete` input wins over the definition's."""
    rt.system_task(ENRICH, lambda task_input: {"score": 1})
    await rt.register(only(flow(async_complete=True, inputParameters={"asyncComplete": False})))
    run = await rt.wait(await rt.start("orders", {}))
    assert (run.status, run.output) == ("COMPLETED", {"score": 1})


async def test_a_raising_system_task_is_retried_per_its_task_def(rt: cadenza.Runtime) -> None:
    """An exception fails the attempt, named; the TaskDef of the task's name retries it."""
    attempts: list[int] = []

    async def flaky(task_input: dict[str, Any], task: cadenza.TaskContext) -> dict[str, Any]:
        attempts.append(task.attempt)
        if task.attempt == 0:
            raise ValueError("the scoring service is down")
        return {"score": 5}

    rt.system_task(ENRICH, flaky)
    await rt.register_task({"name": "enrich", "retryCount": 1, "retryDelaySeconds": 0})
    await rt.register(only(flow()))
    run = await rt.wait(await rt.start("orders", {}))
    assert (run.status, run.output, attempts) == ("COMPLETED", {"score": 5}, [0, 1])
    failed = run.tasks[0]
    assert (failed.status, failed.reason) == ("FAILED", "ValueError: the scoring service is down")
    assert failed.error is not None
    assert "the scoring service is down" in failed.error


async def test_a_system_task_out_of_retries_fails_the_run_naming_the_exception(
    rt: cadenza.Runtime,
) -> None:
    """With no retries left the run fails, its reason carrying the exception."""

    def broken(task_input: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("no score")

    rt.system_task(ENRICH, broken)
    await rt.register_task({"name": "enrich", "retryCount": 0})
    await rt.register(only(flow()))
    run = await rt.wait(await rt.start("orders", {}))
    assert run.status == "FAILED"
    assert run.reason is not None
    assert "RuntimeError: no score" in run.reason


async def test_an_output_json_cannot_hold_fails_as_a_local_workers_does(
    rt: cadenza.Runtime,
) -> None:
    """The same strict JSON check, and the same FAILED_WITH_TERMINAL_ERROR, as a local worker."""

    async def odd(task_input: dict[str, Any]) -> dict[str, Any]:
        return {"when": {1, 2}}

    rt.system_task(ENRICH, odd)
    rt.worker("step_a", odd)
    await rt.register(flow())
    run = await rt.wait(await rt.start("orders", {}))
    local = run.tasks[0]
    assert local.status == "FAILED_WITH_TERMINAL_ERROR"
    await rt.register(only(flow(name="alone")))
    plugin = (await rt.wait(await rt.start("alone", {}))).tasks[0]
    assert plugin.status == "FAILED_WITH_TERMINAL_ERROR"
    assert plugin.reason == local.reason.replace("'step_a'", f"'{ENRICH}'")  # type: ignore[union-attr]
    assert "not JSON-serialisable" in (plugin.reason or "")


async def test_a_type_neither_built_in_nor_registered_is_refused(rt: cadenza.Runtime) -> None:
    """`register` (and an inline definition at `start`) refuse an unregistered type, naming it;
    once registered on the runtime, the same definition is accepted."""
    with pytest.raises(cadenza.DefinitionError, match=r"unknown task type 'ENRICH'.*system_task"):
        await rt.register(flow())
    with pytest.raises(cadenza.DefinitionError, match="unknown task type 'ENRICH'"):
        await rt.start("orders", {}, definition=flow())
    rt.system_task(ENRICH, lambda task_input: None)
    await rt.register(flow())


async def test_bad_registrations_are_refused(rt: cadenza.Runtime) -> None:
    """A built-in type cannot be replaced; `fn` must be callable; `async_complete` a bool."""
    with pytest.raises(cadenza.InvalidArgument, match="'HTTP' is a task type Conductor knows"):
        rt.system_task("HTTP", lambda task_input: None)
    with pytest.raises(cadenza.DefinitionError, match="must be a function"):
        rt.system_task(ENRICH, 42)  # type: ignore[call-overload]
    with pytest.raises(cadenza.InvalidArgument, match="async_complete"):
        rt.system_task(ENRICH, lambda task_input: None, async_complete="yes")  # type: ignore[call-overload]
    with pytest.raises(cadenza.InvalidArgument, match="concurrency"):
        rt.system_task(ENRICH, lambda task_input: None, concurrency=0)


async def test_the_rate_limit_of_the_task_name_holds_a_system_task_back(
    rt: cadenza.Runtime, clock: VirtualClock
) -> None:
    """rateLimitPerFrequency applies before the function runs (AsyncSystemTaskExecutor)."""
    rt.system_task(ENRICH, lambda task_input: {"score": 1})
    await rt.register_task(
        {"name": "enrich", "rateLimitPerFrequency": 1, "rateLimitFrequencyInSeconds": 10}
    )
    await rt.register(only(flow()))
    first = await rt.start("orders", {})
    assert (await rt.wait(first)).status == "COMPLETED"
    second = await rt.start("orders", {})
    await rt.settle()
    assert (await rt.get(second)).tasks[0].status == "SCHEDULED"
    await clock.advance(10)
    assert (await rt.wait(second)).status == "COMPLETED"


async def test_an_awaiting_task_holds_its_concurrency_slot_until_it_ends(
    rt: cadenza.Runtime,
) -> None:
    """concurrentExecLimit counts an async-complete task until it is completed from outside."""
    rt.system_task(ENRICH, lambda task_input: None, async_complete=True)
    await rt.register_task({"name": "enrich", "concurrentExecLimit": 1})
    await rt.register(only(flow()))
    first, second = await rt.start("orders", {}), await rt.start("orders", {})
    await rt.settle()
    statuses = [(await rt.get(r)).tasks[0].status for r in (first, second)]
    assert statuses == ["IN_PROGRESS", "SCHEDULED"]
    await rt.signal(first, "e", {})
    await rt.settle()
    assert (await rt.get(second)).tasks[0].status == "IN_PROGRESS"


async def test_an_awaiting_task_times_out_and_is_retried_per_its_task_def(
    rt: cadenza.Runtime, clock: VirtualClock
) -> None:
    """timeoutSeconds (RETRY) applies to a task awaiting its completion: it is run again."""
    calls: list[int] = []

    async def enrich(task_input: dict[str, Any], task: cadenza.TaskContext) -> None:
        calls.append(task.attempt)

    rt.system_task(ENRICH, enrich, async_complete=True)
    await rt.register_task(
        {"name": "enrich", "timeoutSeconds": 30, "retryCount": 1, "retryDelaySeconds": 0,
         "timeoutPolicy": "RETRY", "responseTimeoutSeconds": 30}
    )  # fmt: skip
    await rt.register(only(flow()))
    run_id = await rt.start("orders", {})
    await rt.settle()
    await clock.advance(31)
    run = await rt.get(run_id)
    assert [(t.status, t.attempt) for t in run.tasks] == [("TIMED_OUT", 0), ("IN_PROGRESS", 1)]
    assert calls == [0, 1]
    await rt.signal(run_id, "e", {"score": 3})
    assert (await rt.wait(run_id)).status == "COMPLETED"


async def test_a_run_awaiting_its_system_task_is_not_in_flight(
    db_path: str, clock: VirtualClock
) -> None:
    """Waiting for a completion from outside is waiting for a signal: the run is parked, so
    `max_runs_in_flight` does not hold the next start back."""
    async with cadenza.Runtime(db_path, clock=clock, max_runs_in_flight=1) as rt:
        rt.system_task(ENRICH, lambda task_input: None, async_complete=True)
        await rt.register(only(flow()))
        first = await rt.start("orders", {})
        await rt.settle()
        with anyio.fail_after(10):  # a bound on a hang, not a timing
            second = await rt.start("orders", {})
        await rt.settle()
        for run_id in (first, second):
            assert (await rt.get(run_id)).tasks[0].status == "IN_PROGRESS"
            await rt.signal(run_id, "e", {})
            assert (await rt.wait(run_id)).status == "COMPLETED"


async def test_task_to_group_does_not_route_a_system_task(rt: cadenza.Runtime) -> None:
    """WorkflowExecutorOps.setTaskDomains skips every task whose type is a system task
    (`systemTaskRegistry.isSystemTask`), for `*` and for its own type: a registered system
    task is run by the engine whatever `task_to_group` says, and shows no group; the SIMPLE
    task beside it is routed."""
    rt.system_task(ENRICH, lambda task_input: {"score": 1})
    await rt.register(flow())
    routing = {"*": "remote", ENRICH: "remote", "enrich": "remote", "step_a": "remote"}
    run_id = await rt.start("orders", {"customer": "ada"}, task_to_group=routing)
    await rt.settle()
    task = await rt.poll("step_a", group="remote")  # the SIMPLE task went where it was told
    assert task is not None
    await rt.complete(task.id, {})
    run = await rt.wait(run_id)
    assert (run.status, run.output) == ("COMPLETED", {"score": 1})
    assert [(t.ref, t.group) for t in run.tasks] == [("a", "remote"), ("e", None)]
