"""Issue 13, item 2 (and 4's refusals): every public call checks every argument at the boundary.

A bad value raises `InvalidArgument` (a `PayloadError` for a payload)
naming the argument, before anything is queued: never a bare Python or
sqlite error, never a crashed actor, and nothing changes. Payloads are
limited in depth and numeric range (`cadenza._json`), so a value that
would later break every read of a run is refused at the call.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

import cadenza
from cadenza._json import MAX_DEPTH
from cadenza.testing import VirtualClock
from tests.conftest import three_steps


def nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth):
        value = {"a": value}
    return value


async def _add_one(data: dict[str, Any]) -> dict[str, Any]:
    return {"n": data["n"] + 1}


async def _still_works(rt: cadenza.Runtime) -> None:
    for task_type in ("step_a", "step_b", "step_c"):
        rt.worker(task_type, _add_one)
    run = await rt.wait(await rt.start("three_steps", {"n": 1}))
    assert run.output == {"result": 4}


BAD_PAYLOADS = {
    "nested 700 deep": nested(700),
    "nested 100,000 deep": nested(100_000),
    "a list nested 700 deep": {"x": [nested(699)]},
    "an int past 2**63": {"n": 2**63},
    "an int below -2**63": {"n": -(2**63) - 1},
    "an int of 400 digits": {"n": 10**400},
    "a lone surrogate": {"s": "\ud800"},
    "a lone surrogate as a key": {"\udfff": 1},
    "NaN": {"x": [math.nan]},
    "bytes": {"x": b"x"},
}


@pytest.mark.parametrize("what", list(BAD_PAYLOADS))
async def test_a_payload_past_the_limits_is_refused_and_reads_keep_working(
    rt: cadenza.Runtime, what: str
) -> None:
    """Before: nested 700 deep was accepted, then get/wait/runs raised RecursionError for all."""
    await rt.register(three_steps())
    with pytest.raises(cadenza.PayloadError) as caught:
        await rt.start("three_steps", BAD_PAYLOADS[what])
    assert caught.value.argument == "workflow input"
    assert await rt.runs() == []
    await _still_works(rt)
    assert len(await rt.runs()) == 1


async def test_a_payload_at_the_depth_limit_is_accepted(rt: cadenza.Runtime) -> None:
    await rt.register(three_steps())
    # MAX_DEPTH containers nested, the input itself included: nested(k) holds k + 1
    run_id = await rt.start("three_steps", {"n": 1, "deep": nested(MAX_DEPTH - 2)})
    assert (await rt.get(run_id)).input["deep"] == nested(MAX_DEPTH - 2)
    with pytest.raises(cadenza.PayloadError, match="nested deeper than 100"):
        await rt.start("three_steps", {"n": 1, "deep": nested(MAX_DEPTH - 1)})
    big = {"n": 1, "max": 2**63 - 1, "min": -(2**63), "f": 1e308}
    assert (await rt.get(await rt.start("three_steps", big))).input == big


BAD_DEFINITIONS: dict[str, Any] = {
    "nested 5000 deep": {**three_steps("deep"), "inputParameters": [nested(5000)]},
    "a version past 2**63": three_steps("huge", version=2**70),
    "a lone surrogate as the name": three_steps("\ud800"),
    "bytes in a description": {**three_steps("b"), "description": b"x"},
    "a string": "three_steps",
    "None": None,
}


@pytest.mark.parametrize("what", list(BAD_DEFINITIONS))
async def test_a_definition_json_cannot_hold_is_refused_naming_it(
    rt: cadenza.Runtime, what: str
) -> None:
    """Before: RecursionError, JournalWriteError or a bare TypeError; now both typed errors at once."""
    with pytest.raises(cadenza.InvalidArgument) as caught:
        await rt.register(BAD_DEFINITIONS[what])
    assert caught.value.argument == "definition"
    assert isinstance(caught.value, cadenza.DefinitionError)  # what register always raised
    await rt.register(three_steps())
    await _still_works(rt)


@pytest.mark.parametrize(
    "taskdef",
    [{"name": "\ud800"}, {"name": "t", "retryCount": 2**70}, {"name": "t", "x": nested(300)}],
)
async def test_a_taskdef_json_cannot_hold_is_refused(
    rt: cadenza.Runtime, taskdef: dict[str, Any]
) -> None:
    with pytest.raises(cadenza.InvalidArgument) as caught:
        await rt.register_task(taskdef)
    assert caught.value.argument == "taskdef"


BAD_CALLS: list[tuple[str, str, dict[str, Any]]] = [
    ("restart", "latest", {"run_id": "r", "latest": None}),
    ("restart", "latest", {"run_id": "r", "latest": 1}),
    ("wait", "timeout", {"run_id": "r", "timeout": 2**64}),
    ("wait", "timeout", {"run_id": "r", "timeout": 10**400}),
    ("poll", "wait", {"task_type": "step_a", "wait": 1e300}),
    ("update", "callback_after_s", {"task_id": "r-1", "callback_after_s": 10**400}),
    ("update", "callback_after_s", {"task_id": "r-1", "callback_after_s": -math.inf}),
    ("update", "callback_after_s", {"task_id": "r-1", "callback_after_s": math.nan}),
    ("update", "callback_after_s", {"task_id": "r-1", "callback_after_s": -1}),
]


@pytest.mark.parametrize(("call", "argument", "kwargs"), BAD_CALLS)
async def test_a_bad_argument_is_refused_naming_it(
    rt: cadenza.Runtime, call: str, argument: str, kwargs: dict[str, Any]
) -> None:
    await rt.register(three_steps())
    with pytest.raises(cadenza.InvalidArgument) as caught:
        await getattr(rt, call)(**kwargs)
    assert caught.value.argument == argument
    await _still_works(rt)


def _waiting(duration: Any) -> dict[str, Any]:
    return {
        "name": "waiting",
        "tasks": [
            {
                "name": "pause",
                "taskReferenceName": "w",
                "type": "WAIT",
                "inputParameters": {"duration": "${workflow.input.d}"},
            }
        ],
    }


@pytest.mark.parametrize(
    "duration", ["9" * 400 + " days", "9" * 310 + " seconds", "1" + "0" * 306 + " days 5s"]
)
async def test_a_wait_beyond_float_range_fails_that_wait_not_the_run_actor(
    rt: cadenza.Runtime, clock: VirtualClock, duration: Any
) -> None:
    """Issue 13, item 4: FAILED_WITH_TERMINAL_ERROR naming the value; the run still answers."""
    await rt.register(_waiting(duration))
    run_id = await rt.start("waiting", {"d": duration})
    await rt.settle()
    run = await rt.get(run_id)
    assert run.tasks[0].status == "FAILED_WITH_TERMINAL_ERROR"
    assert "duration" in (run.tasks[0].reason or "")
    assert run.status == "FAILED"
    await clock.advance(3600)
    await rt.register(three_steps())
    await _still_works(rt)
