"""Running workflows through the public face, on a virtual clock."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

import cadenza
from cadenza.testing import VirtualClock
from tests.conftest import three_steps


async def add_one(data: dict[str, Any]) -> dict[str, Any]:
    return {"n": data["n"] + 1}


def register_adders(rt: cadenza.Runtime) -> None:
    for task_type in ("step_a", "step_b", "step_c"):
        rt.worker(task_type, add_one)


async def test_a_three_step_workflow_runs_to_completion_with_local_workers(
    rt: cadenza.Runtime,
) -> None:
    """Each task gets the previous output; the run's output is resolved from outputParameters."""
    await rt.register(three_steps())
    register_adders(rt)
    run_id = await rt.start("three_steps", {"n": 1})
    run = await rt.wait(run_id)
    assert run.status == "COMPLETED"
    assert run.output == {"result": 4}
    assert [task.ref for task in run.tasks] == ["a", "b", "c"]
    assert [task.input["n"] for task in run.tasks] == [1, 2, 3]
    assert all(task.status == cadenza.TaskStatus.COMPLETED for task in run.tasks)
    assert all(task.started_at is not None and task.ended_at is not None for task in run.tasks)


async def test_empty_output_parameters_give_the_last_tasks_output(rt: cadenza.Runtime) -> None:
    """Conductor: without outputParameters the run's output is its last task's output."""
    definition = three_steps()
    definition["outputParameters"] = {}
    await rt.register(definition)
    register_adders(rt)
    run = await rt.wait(await rt.start("three_steps", {"n": 10}))
    assert run.output == {"n": 13}


async def test_the_decorator_form_registers_a_worker(rt: cadenza.Runtime) -> None:
    """`@rt.worker(task_type)` is the same as `rt.worker(task_type, fn)`."""
    await rt.register(three_steps())

    @rt.worker("step_a")
    async def a(data: dict[str, Any]) -> dict[str, Any]:
        return {"n": data["n"] * 10}

    rt.worker("step_b", add_one)
    rt.worker("step_c", add_one)
    run = await rt.wait(await rt.start("three_steps", {"n": 2}))
    assert run.output == {"result": 22}


async def test_starting_with_the_same_key_returns_the_same_run(rt: cadenza.Runtime) -> None:
    """An idempotency key starts one run however often, or however concurrently, it is used."""
    await rt.register(three_steps())
    ids: list[str] = []

    async def start() -> None:
        ids.append(await rt.start("three_steps", {"n": 1}, key="order-1"))

    async with anyio.create_task_group() as tg:
        for _ in range(5):
            tg.start_soon(start)
    ids.append(await rt.start("three_steps", {"n": 1}, key="order-1"))
    assert len(set(ids)) == 1
    assert len(await rt.runs(name="three_steps")) == 1


async def test_retries_wait_for_the_retry_delay_on_the_clock(
    rt: cadenza.Runtime, clock: VirtualClock
) -> None:
    """A failed attempt is retried after retryDelaySeconds, never before."""
    await rt.register(three_steps())
    await rt.register_task({"name": "step_a", "retryCount": 2, "retryDelaySeconds": 10})
    calls = 0

    async def flaky(data: dict[str, Any]) -> dict[str, Any]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("gateway down")
        return {"n": data["n"]}

    rt.worker("step_a", flaky)
    rt.worker("step_b", add_one)
    rt.worker("step_c", add_one)
    run_id = await rt.start("three_steps", {"n": 0})
    await rt.settle()
    assert calls == 1
    await clock.advance(9.999)
    assert calls == 1
    run = await rt.get(run_id)
    assert run.status == "RUNNING"
    assert [(t.attempt, t.status) for t in run.tasks] == [(0, "FAILED"), (1, "SCHEDULED")]
    await clock.advance(0.001)
    run = await rt.wait(run_id)
    assert calls == 2
    assert run.status == "COMPLETED"
    assert run.tasks[0].reason == "ConnectionError: gateway down"
    assert run.tasks[0].retried


async def test_exhausted_retries_fail_the_run_naming_the_task(
    rt: cadenza.Runtime, clock: VirtualClock
) -> None:
    """After retryCount retries the run is FAILED with the last attempt's reason."""
    await rt.register(three_steps())
    await rt.register_task(
        {
            "name": "step_a",
            "retryCount": 2,
            "retryLogic": "EXPONENTIAL_BACKOFF",
            "retryDelaySeconds": 1,
        }
    )

    async def broken(data: dict[str, Any]) -> dict[str, Any]:
        raise ValueError("bad data")

    rt.worker("step_a", broken)
    run_id = await rt.start("three_steps", {"n": 0})
    await clock.advance(0.999)
    assert len((await rt.get(run_id)).tasks) == 2  # attempt 1 waits 1 s
    await clock.advance(0.001)  # attempt 1 runs at +1 s and fails; attempt 2 is due at +3 s
    assert len((await rt.get(run_id)).tasks) == 3
    await clock.advance(1.999)
    assert (await rt.get(run_id)).status == "RUNNING"
    await clock.advance(0.001)
    run = await rt.wait(run_id)
    assert run.status == "FAILED"
    assert [t.attempt for t in run.tasks] == [0, 1, 2]
    assert "bad data" in (run.reason or "")


async def test_a_terminal_error_fails_the_task_without_retries(rt: cadenza.Runtime) -> None:
    """`TerminalError` ends the task FAILED_WITH_TERMINAL_ERROR and the run FAILED at once."""
    await rt.register(three_steps())

    async def refuse(data: dict[str, Any]) -> dict[str, Any]:
        raise cadenza.TerminalError("card declined", output={"code": 51})

    rt.worker("step_a", refuse)
    run = await rt.wait(await rt.start("three_steps", {"n": 0}))
    assert run.status == "FAILED"
    assert len(run.tasks) == 1
    assert run.tasks[0].status == "FAILED_WITH_TERMINAL_ERROR"
    assert run.tasks[0].output == {"code": 51}


async def test_a_worker_returning_a_non_serialisable_output_fails_its_task_clearly(
    rt: cadenza.Runtime,
) -> None:
    """Output that JSON cannot hold fails the task for good with a reason naming the task type."""
    await rt.register(three_steps())

    async def bad(data: dict[str, Any]) -> dict[str, Any]:
        return {"when": object()}

    rt.worker("step_a", bad)
    run = await rt.wait(await rt.start("three_steps", {"n": 0}))
    assert run.tasks[0].status == "FAILED_WITH_TERMINAL_ERROR"
    assert "step_a" in (run.tasks[0].reason or "")
    assert "JSON" in (run.tasks[0].reason or "")


async def test_versions_start_the_latest_unless_told(rt: cadenza.Runtime) -> None:
    """Without a version the newest registered one starts; with one, that one."""
    await rt.register(three_steps(version=1))
    await rt.register(three_steps(version=2))
    latest = await rt.start("three_steps", {"n": 1})
    first = await rt.start("three_steps", {"n": 1}, version=1)
    assert (await rt.get(latest)).version == 2
    assert (await rt.get(first)).version == 1


async def test_definition_returns_conductor_json_with_defaults(rt: cadenza.Runtime) -> None:
    """`rt.definition` gives the registered definition with Conductor's defaults filled in."""
    await rt.register(
        {"name": "tiny", "tasks": [{"name": "t", "taskReferenceName": "t"}], "someUnknownField": 1}
    )
    body = await rt.definition("tiny")
    assert body["version"] == 1
    assert body["schemaVersion"] == 2
    assert body["timeoutPolicy"] == "ALERT_ONLY"
    assert body["tasks"][0]["type"] == "SIMPLE"
    assert "someUnknownField" not in body


async def test_bad_input_gets_typed_errors(rt: cadenza.Runtime) -> None:
    """Malformed definitions, unknown names, bad payloads and priorities each raise a typed error."""
    with pytest.raises(cadenza.DefinitionError) as bad_definition:
        await rt.register({"name": "dup", "tasks": [
            {"name": "x", "taskReferenceName": "same"}, {"name": "y", "taskReferenceName": "same"}]})  # fmt: skip
    assert bad_definition.value.ref == "same"
    with pytest.raises(cadenza.DefinitionError, match="unknown task type"):
        await rt.register(
            {"name": "odd", "tasks": [{"name": "x", "taskReferenceName": "x", "type": "TELEPORT"}]}
        )
    with pytest.raises(cadenza.NotFound):
        await rt.start("never_registered")
    await rt.register(three_steps())
    with pytest.raises(cadenza.PayloadError):
        await rt.start("three_steps", {"n": {1, 2}})
    with pytest.raises(cadenza.InvalidArgument) as bad_priority:
        await rt.start("three_steps", {"n": 1}, priority=100)
    assert bad_priority.value.argument == "priority"
    assert isinstance(bad_priority.value, ValueError)
    assert isinstance(bad_priority.value, TypeError)
    with pytest.raises(cadenza.NotFound):
        await rt.get("no-such-run")
    assert await rt.runs() == []


async def test_wait_times_out_on_the_clock(rt: cadenza.Runtime, clock: VirtualClock) -> None:
    """`wait(timeout=...)` raises TimeoutError once the clock passes the timeout."""
    await rt.register(three_steps())
    run_id = await rt.start("three_steps", {"n": 1})  # no workers: it waits
    async with anyio.create_task_group() as tg:
        tg.start_soon(clock.advance, 5.0)
        with pytest.raises(TimeoutError) as timed_out:
            await rt.wait(run_id, timeout=1.0)
    assert type(timed_out.value) is TimeoutError, "the built-in, not a kernel error"
    assert "actor" not in str(timed_out.value)
    assert (await rt.get(run_id)).status == "RUNNING"


async def test_wait_on_an_unknown_run_raises_not_found(rt: cadenza.Runtime) -> None:
    """`wait` on an id no run has raises NotFound at once instead of waiting for ever."""
    with anyio.fail_after(5):
        with pytest.raises(cadenza.NotFound):
            await rt.wait("no-such-run")


async def test_runs_lists_newest_first_with_filters(
    rt: cadenza.Runtime, clock: VirtualClock
) -> None:
    """`runs()` filters by name, status and correlation id, newest first."""
    await rt.register(three_steps())
    await rt.register(three_steps(name="other"))
    first = await rt.start("three_steps", {"n": 1}, correlation_id="c1")
    await clock.advance(1)
    second = await rt.start("three_steps", {"n": 1}, correlation_id="c2")
    await clock.advance(1)
    await rt.start("other", {"n": 1})
    assert [run.id for run in await rt.runs(name="three_steps")] == [second, first]
    assert [run.id for run in await rt.runs(correlation_id="c1")] == [first]
    assert len(await rt.runs(status="RUNNING")) == 3
    assert await rt.runs(status="COMPLETED") == []
