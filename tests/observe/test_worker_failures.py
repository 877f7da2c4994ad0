"""Failures visible: a worker that cannot be awaited is refused at registration."""

from __future__ import annotations

import functools
import logging
from typing import Any

import pytest

import cadenza
from cadenza.testing import VirtualClock
from tests._logs import capture_logs


def plain(data: dict[str, Any]) -> dict[str, Any]:
    return data


async def coroutine(data: dict[str, Any]) -> dict[str, Any]:
    return data


class AsyncCallable:
    async def __call__(self, data: dict[str, Any]) -> dict[str, Any]:
        return data


@pytest.mark.parametrize(
    "fn",
    [plain, lambda data: data, print, "not a function", None.__class__],
    ids=["def", "lambda", "builtin", "text", "class"],
)
def test_a_worker_that_is_not_a_coroutine_function_is_refused(fn: Any) -> None:
    """A plain function (or not a function at all) is a DefinitionError naming `fn`."""
    rt = cadenza.Runtime(":memory:")
    with pytest.raises(
        cadenza.DefinitionError, match="fn: a local worker must be an async function"
    ):
        rt.worker("t", fn)
    with pytest.raises(cadenza.InvalidArgument):  # also an argument of the wrong type
        rt.worker("t")(fn)


@pytest.mark.parametrize(
    "fn", [coroutine, AsyncCallable(), functools.partial(coroutine)], ids=["def", "obj", "partial"]
)
def test_async_workers_are_accepted(fn: Any) -> None:
    rt = cadenza.Runtime(":memory:")
    rt.worker("t", fn)
    assert rt.worker("u")(fn) is fn


# -- a worker's exception: logged with its traceback, kept on the attempt ----------------

ONE_STEP: dict[str, Any] = {
    "name": "one_step",
    "version": 1,
    "tasks": [{"name": "flaky", "taskReferenceName": "f", "inputParameters": {"n": "${workflow.input.n}"}}],
}  # fmt: skip


def explode(n: int) -> None:
    raise ValueError(f"boom {n}\nsecond line of the message")


async def test_a_worker_exception_is_logged_and_kept_with_its_traceback(
    db_path: str, clock: VirtualClock
) -> None:
    """WARNING task.worker_failed with the traceback; TaskRun.reason one line, .error the traceback,
    both durable (read back after a restart)."""

    async def flaky(data: dict[str, Any]) -> dict[str, Any]:
        explode(data["n"])
        return {}

    async with cadenza.Runtime(db_path, clock=clock, seed=1) as rt:
        await rt.register(ONE_STEP)
        await rt.register_task({"name": "flaky", "retryCount": 0})
        rt.worker("flaky", flaky)
        with capture_logs(logging.WARNING) as logs:
            run_id = await rt.start("one_step", {"n": 7})
            run = await rt.wait(run_id, timeout=5)
        assert run.status == "FAILED"
        (task,) = run.tasks
        assert task.reason == "ValueError: boom 7 second line of the message"
        assert task.error is not None
        assert task.error.startswith("Traceback (most recent call last):")
        assert "in explode" in task.error
        assert task.error.rstrip().endswith("ValueError: boom 7\nsecond line of the message")
        (logged,) = [e for e in logs if e["event"] == "task.worker_failed"]
        assert logged["log_level"] == "warning"
        assert logged["task_type"] == "flaky"
        assert logged["task_id"] == task.id
        assert logged["run_id"] == run_id
        assert logged["error"] == task.reason
        assert "in explode" in logged["exception"]
    async with cadenza.inspect(db_path) as journal:
        kept = (await journal.get(run_id)).tasks[0]
    assert (kept.reason, kept.error) == (task.reason, task.error)


async def test_a_terminal_error_keeps_its_traceback_too(rt: cadenza.Runtime) -> None:
    async def refuse(data: dict[str, Any]) -> dict[str, Any]:
        raise cadenza.TerminalError("card declined")

    await rt.register(ONE_STEP)
    rt.worker("flaky", refuse)
    run = await rt.wait(await rt.start("one_step", {"n": 1}), timeout=5)
    (task,) = run.tasks
    assert (task.status, task.reason) == ("FAILED_WITH_TERMINAL_ERROR", "card declined")
    assert task.error is not None
    assert "in refuse" in task.error


async def test_a_completed_or_externally_failed_attempt_has_no_error(rt: cadenza.Runtime) -> None:
    await rt.register(ONE_STEP)
    await rt.register_task({"name": "flaky", "retryCount": 0})
    run_id = await rt.start("one_step", {"n": 1})
    polled = await rt.poll("flaky")
    assert polled is not None
    await rt.fail(polled.id, "external reason")
    (task,) = (await rt.wait(run_id, timeout=5)).tasks
    assert (task.reason, task.error) == ("external reason", None)


# -- TaskContext --------------------------------------------------------------------


async def test_a_worker_taking_a_second_parameter_gets_its_task_context(
    rt: cadenza.Runtime,
) -> None:
    """run id, task id, ref, type, attempt, workflow, group, correlation id; heartbeat()
    on the current attempt succeeds, and on one no longer current raises StaleTask."""
    seen: list[cadenza.TaskContext] = []

    @rt.worker("flaky", group="gpu")
    async def work(data: dict[str, Any], task: cadenza.TaskContext) -> dict[str, Any]:
        seen.append(task)
        await task.heartbeat()
        if task.attempt == 0:
            raise RuntimeError("first attempt fails")
        return {"attempt": task.attempt}

    await rt.register(ONE_STEP)
    await rt.register_task({"name": "flaky", "retryCount": 1, "retryDelaySeconds": 0})
    run_id = await rt.start("one_step", {"n": 1}, correlation_id="order-9")
    run = await rt.wait(run_id, timeout=5)
    assert run.status == "COMPLETED"
    assert [t.status for t in run.tasks] == ["FAILED", "COMPLETED"]
    first, second = seen
    assert (first.run_id, first.task_id, first.ref, first.task_type) == (
        run_id, run.tasks[0].id, "f", "flaky",
    )  # fmt: skip
    assert (first.attempt, second.attempt, second.task_id) == (0, 1, run.tasks[1].id)
    assert (first.workflow, first.group, first.correlation_id) == ("one_step", "gpu", "order-9")
    with pytest.raises(cadenza.StaleTask):
        await first.heartbeat()  # that attempt failed: it is no longer current


async def test_a_one_parameter_worker_gets_no_context(rt: cadenza.Runtime) -> None:
    got: list[tuple[Any, ...]] = []

    async def work(*args: Any) -> None:  # *args takes the context too
        got.append(args)

    async def plain_one(data: dict[str, Any], *, extra: int = 0) -> None:
        got.append((data, extra))

    rt.worker("flaky", work)
    rt.worker("other", plain_one)
    await rt.register(ONE_STEP)
    await rt.register(
        {**ONE_STEP, "name": "other_step", "tasks": [{"name": "other", "taskReferenceName": "o"}]}
    )
    await rt.wait(await rt.start("one_step", {"n": 1}), timeout=5)
    await rt.wait(await rt.start("other_step"), timeout=5)
    assert isinstance(got[0][1], cadenza.TaskContext)
    assert got[1] == ({}, 0)


# -- unserved task types -------------------------------------------------------------


async def test_a_task_type_nobody_serves_is_warned_of_once_and_counted(
    rt: cadenza.Runtime, clock: VirtualClock
) -> None:
    """Queued with no worker or poller for 60 s: one warning and one count, not one per task;
    served and emptied, then unserved again: warned again."""
    await rt.register(ONE_STEP)
    with capture_logs(logging.WARNING) as logs:
        for n in range(3):
            await rt.start("one_step", {"n": n})
        await clock.advance(59.0)
        assert not [e for e in logs if e["event"] == "dispatch.unserved"]
        await clock.advance(1.0)
        (warned,) = [e for e in logs if e["event"] == "dispatch.unserved"]
        await clock.advance(600.0)
        assert len([e for e in logs if e["event"] == "dispatch.unserved"]) == 1
    assert (warned["task_type"], warned["group"], warned["queued"]) == ("flaky", "default", 3)
    assert warned["waited_s"] == 60.0
    assert "rt.worker" in warned["remedy"]
    assert metric(rt, "flaky", "default") == 1
    for _ in range(3):  # an external worker drains the queue
        task = await rt.poll("flaky")
        assert task is not None
        await rt.complete(task.id, {})
    with capture_logs(logging.WARNING) as logs:
        await rt.start("one_step", {"n": 9})
        await clock.advance(61.0)
        assert len([e for e in logs if e["event"] == "dispatch.unserved"]) == 1
    assert metric(rt, "flaky", "default") == 2


async def test_a_type_polled_now_and_then_is_not_unserved(
    rt: cadenza.Runtime, clock: VirtualClock
) -> None:
    """A poller that comes back (and finds nothing it can take) keeps the type served."""
    await rt.register(ONE_STEP)
    await rt.register_task({"name": "flaky", "concurrentExecLimit": 1})
    await rt.start("one_step", {"n": 1})
    await rt.start("one_step", {"n": 2})
    held = await rt.poll("flaky")
    assert held is not None  # the limit holds the second back
    with capture_logs(logging.WARNING) as logs:
        for _ in range(20):
            await clock.advance(30.0)
            assert await rt.poll("flaky") is None
    assert not [e for e in logs if e["event"] == "dispatch.unserved"]
    assert metric(rt, "flaky", "default") is None


async def test_unserved_warnings_can_be_turned_off(db_path: str, clock: VirtualClock) -> None:
    async with cadenza.Runtime(db_path, clock=clock, unserved_warning_s=None) as rt:
        await rt.register(ONE_STEP)
        with capture_logs(logging.WARNING) as logs:
            await rt.start("one_step", {"n": 1})
            await clock.advance(3600.0)
        assert not [e for e in logs if e["event"] == "dispatch.unserved"]


def metric(rt: cadenza.Runtime, task_type: str, group: str) -> float | None:
    assert rt.metrics is not None
    return rt.metrics.get_sample_value(
        "cadenza_task_unserved_total", {"task_type": task_type, "group": group}
    )
