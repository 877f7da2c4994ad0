"""What a caller passes in is copied at the boundary: mutating it later changes nothing.

DESIGN invariant 8: a payload given to `start`, `complete`, `fail`, `update`,
`signal` or `rerun`, or returned by a local worker, is the engine's own copy
from the call on. Each test mutates the caller's nested objects after the
call and checks that the live run (`rt.get`) shows what was passed, and that
its replay after a restart is equal to it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import cadenza
from cadenza.testing import VirtualClock


def two_tasks(name: str = "two", optional: bool = False) -> dict[str, Any]:
    """A SIMPLE task fed the nested `cfg` of the workflow input, then one fed its output.

    Nothing serves `next`, so the run stays RUNNING and live in its actor.
    """
    return {
        "name": name,
        "tasks": [
            {
                "name": "work",
                "taskReferenceName": "work",
                "inputParameters": {"cfg": "${workflow.input.cfg}"},
                "optional": optional,
            },
            {
                "name": "next",
                "taskReferenceName": "next",
                "inputParameters": {"in": "${work.output.deep}"},
            },
        ],
    }


def nested() -> dict[str, Any]:
    return {"deep": {"v": 1, "items": [1, 2]}}


def scribble(payload: dict[str, Any]) -> None:
    """Mutate every nested level of a `nested()` payload in place."""
    payload["deep"]["v"] = 999
    payload["deep"]["items"].append(3)
    payload["deep"]["extra"] = {"x": 1}


async def replayed(db_path: str, clock: VirtualClock, run_id: str) -> cadenza.WorkflowRun:
    async with cadenza.Runtime(db_path, clock=clock) as rt:
        return await rt.get(run_id)


async def test_start_copies_the_workflow_input(db_path: str, clock: VirtualClock) -> None:
    cfg = nested()
    async with cadenza.Runtime(db_path, clock=clock) as rt:
        await rt.register(two_tasks())
        run_id = await rt.start("two", {"cfg": cfg})
        scribble(cfg)
        await rt.settle()
        live = await rt.get(run_id)
        assert live.input == {"cfg": nested()}
        assert live.tasks[0].input == {"cfg": nested()}
    assert await replayed(db_path, clock, run_id) == live


async def test_complete_copies_the_output(db_path: str, clock: VirtualClock) -> None:
    async with cadenza.Runtime(db_path, clock=clock) as rt:
        await rt.register(two_tasks())
        run_id = await rt.start("two", {"cfg": {}})
        task = await rt.poll("work")
        assert task is not None
        output = nested()
        await rt.complete(task.id, output)
        scribble(output)
        await rt.settle()
        live = await rt.get(run_id)
        assert live.tasks[0].output == nested()
        assert live.tasks[1].input == {"in": nested()["deep"]}
    assert await replayed(db_path, clock, run_id) == live


async def test_fail_copies_the_output(db_path: str, clock: VirtualClock) -> None:
    async with cadenza.Runtime(db_path, clock=clock) as rt:
        await rt.register(two_tasks())
        await rt.register_task({"name": "work", "retryCount": 1, "retryDelaySeconds": 0})
        run_id = await rt.start("two", {"cfg": {}})
        task = await rt.poll("work")
        assert task is not None
        output = nested()
        await rt.fail(task.id, "no", output=output)
        scribble(output)
        await rt.settle()
        live = await rt.get(run_id)
        assert live.status == "RUNNING"
        assert live.tasks[0].status == "FAILED"
        assert live.tasks[0].output == nested()
    assert await replayed(db_path, clock, run_id) == live


async def test_update_copies_the_output(db_path: str, clock: VirtualClock) -> None:
    async with cadenza.Runtime(db_path, clock=clock) as rt:
        await rt.register(two_tasks())
        run_id = await rt.start("two", {"cfg": {}})
        task = await rt.poll("work")
        assert task is not None
        output = nested()
        await rt.update(task.id, output=output)
        scribble(output)
        await rt.settle()
        live = await rt.get(run_id)
        assert live.tasks[0].status == "IN_PROGRESS"
        assert live.tasks[0].output == nested()
    assert (await replayed(db_path, clock, run_id)).tasks[0].output == nested()


async def test_signal_copies_the_output(db_path: str, clock: VirtualClock) -> None:
    definition = {
        "name": "waits",
        "tasks": [
            {"name": "pause", "taskReferenceName": "w", "type": "WAIT"},
            {
                "name": "next",
                "taskReferenceName": "next",
                "inputParameters": {"in": "${w.output.deep}"},
            },
        ],
    }
    async with cadenza.Runtime(db_path, clock=clock) as rt:
        await rt.register(definition)
        run_id = await rt.start("waits")
        output = nested()
        await rt.signal(run_id, "w", output)
        scribble(output)
        await rt.settle()
        live = await rt.get(run_id)
        assert live.tasks[0].output == nested()
        assert live.tasks[1].input == {"in": nested()["deep"]}
    assert await replayed(db_path, clock, run_id) == live


async def test_rerun_copies_the_new_input(db_path: str, clock: VirtualClock) -> None:
    async with cadenza.Runtime(db_path, clock=clock) as rt:
        await rt.register(two_tasks())
        run_id = await rt.start("two", {"cfg": {}})
        task = await rt.poll("work")
        assert task is not None
        await rt.fail(task.id, "no", terminal=True)
        await rt.wait(run_id)
        cfg = nested()
        await rt.rerun(run_id, "work", input={"cfg": cfg})
        scribble(cfg)
        await rt.settle()
        live = await rt.get(run_id)
        assert live.input == {"cfg": nested()}
        assert live.tasks[-1].input == {"cfg": nested()}
    assert await replayed(db_path, clock, run_id) == live


async def test_a_local_worker_mutating_its_input_afterwards_changes_nothing(
    db_path: str, clock: VirtualClock
) -> None:
    kept: list[dict[str, Any]] = []

    async def keeps_its_input(data: dict[str, Any]) -> dict[str, Any]:
        kept.append(data)
        return {"deep": data["cfg"]["deep"]}

    async with cadenza.Runtime(db_path, clock=clock) as rt:
        await rt.register(two_tasks())
        rt.worker("work", keeps_its_input)
        run_id = await rt.start("two", {"cfg": nested()})
        await rt.settle()
        scribble(kept[0]["cfg"])
        live = await rt.get(run_id)
        assert live.tasks[0].input == {"cfg": nested()}
        assert live.tasks[0].output == nested()
        assert live.input == {"cfg": nested()}
    assert await replayed(db_path, clock, run_id) == live


async def test_a_local_worker_returning_a_shared_dict_it_mutates_later_changes_nothing(
    db_path: str, clock: VirtualClock
) -> None:
    """A module-level dict returned, then changed by the next call, stays as it was returned."""
    shared: dict[str, Any] = {"deep": {"calls": []}}

    async def returns_shared(data: dict[str, Any]) -> dict[str, Any]:
        shared["deep"]["calls"].append(data["cfg"]["n"])
        return shared

    async with cadenza.Runtime(db_path, clock=clock) as rt:
        await rt.register(two_tasks())
        rt.worker("work", returns_shared)
        first = await rt.start("two", {"cfg": {"n": 1}})
        await rt.settle()
        second = await rt.start("two", {"cfg": {"n": 2}})
        await rt.settle()
        live = await rt.get(first)
        assert live.tasks[0].output == {"deep": {"calls": [1]}}
        assert live.tasks[1].input == {"in": {"calls": [1]}}
        assert (await rt.get(second)).tasks[1].input == {"in": {"calls": [1, 2]}}
    assert await replayed(db_path, clock, first) == live


async def test_a_local_worker_mutating_its_output_from_a_background_task_changes_nothing(
    db_path: str, clock: VirtualClock
) -> None:
    returned = asyncio.Event()
    output = nested()
    background: list[asyncio.Task[None]] = []

    async def mutate_later() -> None:
        await returned.wait()
        scribble(output)

    async def leaves_a_task_behind(data: dict[str, Any]) -> dict[str, Any]:
        background.append(asyncio.create_task(mutate_later()))
        return output

    async with cadenza.Runtime(db_path, clock=clock) as rt:
        await rt.register(two_tasks())
        rt.worker("work", leaves_a_task_behind)
        run_id = await rt.start("two", {"cfg": {}})
        await rt.settle()
        returned.set()
        await background[0]
        assert output["deep"]["v"] == 999
        live = await rt.get(run_id)
        assert live.tasks[0].output == nested()
        assert live.tasks[1].input == {"in": nested()["deep"]}
    assert await replayed(db_path, clock, run_id) == live


async def test_a_terminal_error_output_is_copied_too(db_path: str, clock: VirtualClock) -> None:
    output = nested()

    async def gives_up(data: dict[str, Any]) -> dict[str, Any]:
        raise cadenza.TerminalError("gave up", output=output)

    async with cadenza.Runtime(db_path, clock=clock) as rt:
        await rt.register(two_tasks(optional=True))  # the run goes on after it
        rt.worker("work", gives_up)
        run_id = await rt.start("two", {"cfg": {}})
        await rt.settle()
        scribble(output)
        live = await rt.get(run_id)
        assert live.status == "RUNNING"
        assert live.tasks[0].output == nested()
        assert live.tasks[1].input == {"in": nested()["deep"]}
    assert await replayed(db_path, clock, run_id) == live


async def test_a_tuple_is_a_list_live_as_in_the_replay(db_path: str, clock: VirtualClock) -> None:
    """The copy is what the journal replays: a tuple comes back a list, an int key a string."""
    async with cadenza.Runtime(db_path, clock=clock) as rt:
        await rt.register(two_tasks())
        run_id = await rt.start("two", {"cfg": {"pair": (1, 2), 7: "seven"}})
        await rt.settle()
        live = await rt.get(run_id)
        assert live.input == {"cfg": {"pair": [1, 2], "7": "seven"}}
    assert await replayed(db_path, clock, run_id) == live


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
async def test_nan_and_infinity_are_still_refused_naming_the_payload(
    rt: cadenza.Runtime, bad: float
) -> None:
    await rt.register(two_tasks())
    with pytest.raises(cadenza.PayloadError, match="workflow input"):
        await rt.start("two", {"cfg": {"deep": [bad]}})
    run_id = await rt.start("two", {"cfg": {}})
    task = await rt.poll("work")
    assert task is not None
    with pytest.raises(cadenza.PayloadError, match="task output"):
        await rt.complete(task.id, {"deep": {"x": bad}})
    with pytest.raises(cadenza.PayloadError, match="signal output"):
        await rt.signal(run_id, "work", {"x": bad})
    assert (await rt.get(run_id)).tasks[0].status == "IN_PROGRESS"


async def test_a_local_worker_output_with_nan_fails_its_task_for_good(rt: cadenza.Runtime) -> None:
    async def returns_nan(data: dict[str, Any]) -> dict[str, Any]:
        return {"deep": {"x": float("nan")}}

    await rt.register(two_tasks())
    rt.worker("work", returns_nan)
    run_id = await rt.start("two", {"cfg": {}})
    run = await rt.wait(run_id)
    assert run.tasks[0].status == "FAILED_WITH_TERMINAL_ERROR"
    assert "not JSON-serialisable" in (run.tasks[0].reason or "")


async def test_a_terminal_error_output_that_is_not_json_is_dropped_and_said(
    rt: cadenza.Runtime,
) -> None:
    async def gives_up(data: dict[str, Any]) -> dict[str, Any]:
        raise cadenza.TerminalError("gave up", output={"when": object()})

    await rt.register(two_tasks())
    rt.worker("work", gives_up)
    run_id = await rt.start("two", {"cfg": {}})
    run = await rt.wait(run_id)
    assert run.status == "FAILED"
    assert run.tasks[0].status == "FAILED_WITH_TERMINAL_ERROR"
    assert run.tasks[0].output == {}
    assert (run.tasks[0].reason or "").startswith("gave up (its output was dropped: ")
