"""The face's manners: typed argument errors before anything is queued, no kernel words."""

from __future__ import annotations

import math
from typing import Any

import pytest

import cadenza
from cadenza.actors import ActorCrashed, ActorSystemStopped, AskTimeout
from cadenza.runtime._calls import calls_translated
from cadenza.testing import VirtualClock
from tests.conftest import three_steps

BAD_CALLS: list[tuple[str, str, dict[str, Any]]] = [
    ("start", "priority", {"name": "three_steps", "priority": 150}),
    ("start", "priority", {"name": "three_steps", "priority": True}),
    ("start", "name", {"name": 7}),
    ("start", "key", {"name": "three_steps", "key": ""}),
    ("start", "correlation_id", {"name": "three_steps", "correlation_id": b"x"}),
    ("start", "task_to_group['step_a']", {"name": "three_steps", "task_to_group": {"step_a": 3}}),
    ("start", "version", {"name": "three_steps", "version": -1}),
    ("get", "run_id", {"run_id": 12}),
    ("get", "run_id", {"run_id": "\ud800"}),
    ("wait", "timeout", {"run_id": "r", "timeout": math.nan}),
    ("wait", "timeout", {"run_id": "r", "timeout": -1.0}),
    ("runs", "limit", {"limit": -1}),
    ("runs", "limit", {"limit": 10**9}),
    ("complete", "task_id", {"task_id": None}),
    ("fail", "reason", {"task_id": "r-1", "reason": 3}),
    ("update", "callback_after_s", {"task_id": "r-1", "callback_after_s": math.inf}),
    ("poll", "wait", {"task_type": "step_a", "wait": math.nan}),
    ("poll", "task_type", {"task_type": ["step_a"]}),
    ("terminate", "reason", {"run_id": "r", "reason": None}),
    ("rerun", "from_ref", {"run_id": "r", "from_ref": 1}),
    ("signal", "ref", {"run_id": "r", "ref": ""}),
]


@pytest.mark.parametrize(("call", "argument", "kwargs"), BAD_CALLS)
async def test_a_bad_argument_is_invalid_argument_naming_it_and_changes_nothing(
    rt: cadenza.Runtime, call: str, argument: str, kwargs: dict[str, Any]
) -> None:
    """Each bad argument raises InvalidArgument naming it; no run is started; the engine still works."""
    await rt.register(three_steps())
    with pytest.raises(cadenza.InvalidArgument) as caught:
        await getattr(rt, call)(**kwargs)
    assert caught.value.argument == argument
    assert argument in str(caught.value)
    assert await rt.runs() == []
    for task_type in ("step_a", "step_b", "step_c"):
        rt.worker(task_type, _add_one)
    run = await rt.wait(await rt.start("three_steps", {"n": 1}))
    assert run.output == {"result": 4}


async def _add_one(data: dict[str, Any]) -> dict[str, Any]:
    return {"n": data["n"] + 1}


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"durability": "fast"}, "durability"),
        ({"max_timers_per_run": 0}, "max_timers_per_run"),
        ({"shutdown_grace_s": math.inf}, "shutdown_grace_s"),
        ({"default_group": ""}, "default_group"),
    ],
)
def test_a_bad_runtime_parameter_is_refused_at_construction(
    kwargs: dict[str, Any], argument: str
) -> None:
    """The constructor checks its parameters before opening anything."""
    with pytest.raises(cadenza.InvalidArgument) as caught:
        cadenza.Runtime(":memory:", **kwargs)
    assert caught.value.argument == argument


async def test_a_worker_with_a_bad_concurrency_is_refused(rt: cadenza.Runtime) -> None:
    """`concurrency` outside 1 to 10,000 is an InvalidArgument, also a ValueError."""
    with pytest.raises(ValueError, match="concurrency"):
        rt.worker("step_a", _add_one, concurrency=0)


async def test_entering_an_open_runtime_again_is_refused_and_keeps_it_open(
    db_path: str, clock: VirtualClock
) -> None:
    """A second `async with` on the same Runtime raises and does not close the first."""
    runtime = cadenza.Runtime(db_path, clock=clock)
    async with runtime as rt:
        with pytest.raises(cadenza.RuntimeClosed, match="already entered"):
            async with rt:
                pass  # pragma: no cover
        await rt.register(three_steps())
        assert (await rt.definition("three_steps"))["name"] == "three_steps"


async def test_a_call_on_a_closed_runtime_is_runtime_closed(
    db_path: str, clock: VirtualClock
) -> None:
    """After the block, calls raise RuntimeClosed (an InvalidOperation), not a kernel error."""
    async with cadenza.Runtime(db_path, clock=clock) as rt:
        pass
    with pytest.raises(cadenza.RuntimeClosed):
        await rt.get("any")
    assert issubclass(cadenza.RuntimeClosed, cadenza.InvalidOperation)


@pytest.mark.parametrize(
    ("kernel", "face"),
    [
        (AskTimeout("run/x", 1.0), TimeoutError),
        (ActorSystemStopped("cadenza"), cadenza.RuntimeClosed),
        (ActorCrashed("run/x", "GetRun"), cadenza.InternalError),
    ],
)
def test_kernel_errors_become_the_faces_own(kernel: Exception, face: type[Exception]) -> None:
    """No actor name, mailbox or kernel class reaches a caller."""
    with pytest.raises(face) as caught, calls_translated("get of run 'x'"):
        raise kernel
    assert type(caught.value) is face
    assert "actor" not in str(caught.value)
    assert "get of run 'x'" in str(caught.value)
