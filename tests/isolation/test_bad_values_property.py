"""Issue 13, "done when": random bad values thrown at every public call.

For any public call and any of its parameters, a value of the wrong type
or out of range raises `InvalidArgument` naming that parameter, before
anything is queued: the journal gains no record, and afterwards a normal
workflow still completes on the same runtime. The other arguments of each
call are valid (real run and task ids), so the bad one is what is refused.
"""

from __future__ import annotations

import inspect
import math
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cadenza
from tests.conftest import three_steps
from tests.isolation._support import open_rt, records, serve

# -- bad values, by the kind of parameter they are thrown at ---------------------------

_NOT_TEXT: st.SearchStrategy[Any] = st.one_of(
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.binary(min_size=1, max_size=8),
    st.lists(st.text(max_size=3), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.sets(st.integers(), max_size=2),
    st.builds(object),
    st.just(b"run-1"),
)
_BAD_TEXT = st.one_of(
    _NOT_TEXT,
    st.just(""),
    st.text(min_size=1, max_size=4).map(lambda s: s + "\ud800"),  # a lone surrogate
    st.just("x" * 100_000),
)
_BAD_OPTIONAL_TEXT = _NOT_TEXT | st.text(min_size=1, max_size=4).map(lambda s: "\udfff" + s)
_BAD_SECONDS = st.one_of(
    st.just(math.nan),
    st.just(math.inf),
    st.just(-math.inf),
    st.floats(max_value=-1e-9, allow_nan=False, allow_infinity=False),
    st.integers(max_value=-1),
    st.integers(min_value=10**20),
    st.text(max_size=3),
    st.binary(max_size=3),
    st.lists(st.integers(), max_size=1),
)
_BAD_INT = st.one_of(
    st.integers(min_value=2**63),
    st.integers(max_value=-(2**63) - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=3),
    st.just(None),
    st.binary(max_size=2),
)
_BAD_FLAG = st.one_of(
    st.integers(),
    st.text(max_size=3),
    st.floats(allow_nan=True),
    st.lists(st.booleans(), max_size=1),
)
_BAD_PAYLOAD = st.one_of(
    st.lists(st.integers(), max_size=2),
    st.text(max_size=3),
    st.integers(),
    st.binary(max_size=3),
    st.builds(
        lambda v: {"x": v}, st.floats(allow_nan=False).filter(math.isinf) | st.just(math.nan)
    ),
    st.builds(
        lambda v: {"x": v}, st.integers(min_value=2**63) | st.integers(max_value=-(2**63) - 1)
    ),
    st.builds(lambda v: {"x": v}, st.binary(max_size=3) | st.sets(st.integers(), max_size=2)),
    st.builds(lambda k: {k: 1}, st.tuples(st.integers())),  # int keys become "1", by design
    st.integers(min_value=600, max_value=2000).map(lambda depth: _nested(depth)),
)


_BAD_INSTANT = st.one_of(  # an instant is a datetime or finite epoch seconds
    st.just(math.nan),
    st.just(math.inf),
    st.just(-math.inf),
    st.booleans(),
    st.text(max_size=3),
    st.binary(max_size=3),
    st.lists(st.integers(), max_size=1),
)


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth):
        value = {"a": value}
    return value


async def _noop(data: dict[str, Any]) -> dict[str, Any]:
    return {}


# -- the calls: each parameter, its kind, and the call with valid other arguments ------

Ids = dict[str, str]
Call = Callable[[cadenza.Runtime, Ids, Any], Any]

PROBES: dict[tuple[str, str], tuple[st.SearchStrategy[Any], Call]] = {
    ("start", "name"): (_BAD_TEXT, lambda rt, ids, v: rt.start(v, {"n": 1})),
    ("start", "input"): (_BAD_PAYLOAD, lambda rt, ids, v: rt.start("three_steps", v)),
    ("start", "version"): (_BAD_INT, lambda rt, ids, v: rt.start("three_steps", {}, version=v)),
    ("start", "priority"): (
        _BAD_INT | st.integers(101, 10**6) | st.integers(max_value=-1),
        lambda rt, ids, v: rt.start("three_steps", {}, priority=v),
    ),
    ("start", "key"): (_BAD_OPTIONAL_TEXT, lambda rt, ids, v: rt.start("three_steps", {}, key=v)),
    ("start", "correlation_id"): (
        _BAD_OPTIONAL_TEXT,
        lambda rt, ids, v: rt.start("three_steps", {}, correlation_id=v),
    ),
    ("get", "run_id"): (_BAD_TEXT, lambda rt, ids, v: rt.get(v)),
    ("wait", "run_id"): (_BAD_TEXT, lambda rt, ids, v: rt.wait(v, timeout=1)),
    ("wait", "timeout"): (_BAD_SECONDS, lambda rt, ids, v: rt.wait(ids["run"], timeout=v)),
    ("runs", "name"): (_BAD_OPTIONAL_TEXT, lambda rt, ids, v: rt.runs(name=v)),
    ("runs", "status"): (
        _BAD_OPTIONAL_TEXT | st.just("BOGUS"),
        lambda rt, ids, v: rt.runs(status=v),
    ),
    ("runs", "correlation_id"): (
        _BAD_OPTIONAL_TEXT,
        lambda rt, ids, v: rt.runs(correlation_id=v),
    ),
    ("runs", "limit"): (
        _BAD_INT | st.integers(max_value=0) | st.integers(min_value=10**7),
        lambda rt, ids, v: rt.runs(limit=v),
    ),
    ("poll", "task_type"): (_BAD_TEXT, lambda rt, ids, v: rt.poll(v)),
    ("poll", "group"): (_BAD_OPTIONAL_TEXT, lambda rt, ids, v: rt.poll("step_a", group=v)),
    ("poll", "worker_id"): (
        _BAD_OPTIONAL_TEXT,
        lambda rt, ids, v: rt.poll("step_a", worker_id=v),
    ),
    ("poll", "wait"): (_BAD_SECONDS, lambda rt, ids, v: rt.poll("step_a", wait=v)),
    ("complete", "task_id"): (_BAD_TEXT, lambda rt, ids, v: rt.complete(v, {})),
    ("complete", "output"): (_BAD_PAYLOAD, lambda rt, ids, v: rt.complete(ids["task"], v)),
    ("fail", "task_id"): (_BAD_TEXT, lambda rt, ids, v: rt.fail(v, "r")),
    ("fail", "reason"): (_NOT_TEXT, lambda rt, ids, v: rt.fail(ids["task"], v)),
    ("fail", "output"): (_BAD_PAYLOAD, lambda rt, ids, v: rt.fail(ids["task"], "r", output=v)),
    ("fail", "terminal"): (_BAD_FLAG, lambda rt, ids, v: rt.fail(ids["task"], "r", terminal=v)),
    ("heartbeat", "task_id"): (_BAD_TEXT, lambda rt, ids, v: rt.heartbeat(v)),
    ("update", "task_id"): (_BAD_TEXT, lambda rt, ids, v: rt.update(v, output={})),
    ("update", "output"): (_BAD_PAYLOAD, lambda rt, ids, v: rt.update(ids["task"], output=v)),
    ("update", "callback_after_s"): (
        _BAD_SECONDS,
        lambda rt, ids, v: rt.update(ids["task"], callback_after_s=v),
    ),
    ("pause", "run_id"): (_BAD_TEXT, lambda rt, ids, v: rt.pause(v)),
    ("resume", "run_id"): (_BAD_TEXT, lambda rt, ids, v: rt.resume(v)),
    ("terminate", "run_id"): (_BAD_TEXT, lambda rt, ids, v: rt.terminate(v)),
    ("terminate", "reason"): (_NOT_TEXT, lambda rt, ids, v: rt.terminate(ids["run"], v)),
    ("retry", "run_id"): (_BAD_TEXT, lambda rt, ids, v: rt.retry(v)),
    ("restart", "run_id"): (_BAD_TEXT, lambda rt, ids, v: rt.restart(v)),
    ("restart", "latest"): (_BAD_FLAG, lambda rt, ids, v: rt.restart(ids["run"], latest=v)),
    ("rerun", "run_id"): (_BAD_TEXT, lambda rt, ids, v: rt.rerun(v, "a")),
    ("rerun", "from_ref"): (_BAD_TEXT, lambda rt, ids, v: rt.rerun(ids["run"], v)),
    ("rerun", "input"): (_BAD_PAYLOAD, lambda rt, ids, v: rt.rerun(ids["run"], "a", input=v)),
    ("reset_callbacks", "run_id"): (_BAD_TEXT, lambda rt, ids, v: rt.reset_callbacks(v)),
    ("start", "definition"): (
        _BAD_PAYLOAD.filter(lambda v: not isinstance(v, dict) or "x" in v or 1 in v),
        lambda rt, ids, v: rt.start("three_steps", {}, definition=v),
    ),
    ("skip", "run_id"): (_BAD_TEXT, lambda rt, ids, v: rt.skip(v, "b")),
    ("skip", "ref"): (_BAD_TEXT, lambda rt, ids, v: rt.skip(ids["run"], v)),
    ("signal", "run_id"): (_BAD_TEXT, lambda rt, ids, v: rt.signal(v, "w", {})),
    ("signal", "ref"): (_BAD_TEXT, lambda rt, ids, v: rt.signal(ids["run"], v, {})),
    ("signal", "output"): (_BAD_PAYLOAD, lambda rt, ids, v: rt.signal(ids["run"], "w", v)),
    ("worker", "task_type"): (_BAD_TEXT, lambda rt, ids, v: rt.worker(v, _noop)),
    ("worker", "group"): (_BAD_OPTIONAL_TEXT, lambda rt, ids, v: rt.worker("x", _noop, group=v)),
    ("worker", "concurrency"): (
        _BAD_INT | st.integers(max_value=0) | st.integers(min_value=10**6),
        lambda rt, ids, v: rt.worker("x", _noop, concurrency=v),
    ),
    ("system_task", "task_type"): (
        _BAD_TEXT | st.sampled_from(["HTTP", "SIMPLE", "WAIT", "USER_DEFINED"]),  # built in
        lambda rt, ids, v: rt.system_task(v, _noop),
    ),
    ("system_task", "async_complete"): (
        _BAD_FLAG,
        lambda rt, ids, v: rt.system_task("x", _noop, async_complete=v),
    ),
    ("system_task", "concurrency"): (
        _BAD_INT | st.integers(max_value=0) | st.integers(min_value=10**6),
        lambda rt, ids, v: rt.system_task("x", _noop, concurrency=v),
    ),
    ("definition", "name"): (_BAD_TEXT, lambda rt, ids, v: rt.definition(v)),
    ("definition", "version"): (_BAD_INT, lambda rt, ids, v: rt.definition("three_steps", v)),
    ("register", "definition"): (
        _BAD_PAYLOAD.filter(lambda v: not isinstance(v, dict) or "x" in v or 1 in v),
        lambda rt, ids, v: rt.register(v),
    ),
    ("register_task", "taskdef"): (
        _BAD_PAYLOAD.filter(lambda v: not isinstance(v, dict) or "x" in v or 1 in v),
        lambda rt, ids, v: rt.register_task(v),
    ),
    # schedules (API.md, Schedules): a valid call is rt.schedule("s", "three_steps", every_s=60)
    ("schedule", "name"): (_BAD_TEXT, lambda rt, ids, v: rt.schedule(v, "three_steps", every_s=60)),
    ("schedule", "workflow"): (_BAD_TEXT, lambda rt, ids, v: rt.schedule("s", v, every_s=60)),
    ("schedule", "cron"): (
        _NOT_TEXT | st.just(None) | st.text(max_size=4) | st.just("61 * * * *"),
        lambda rt, ids, v: rt.schedule("s", "three_steps", cron=v),
    ),
    ("schedule", "every_s"): (
        (_BAD_SECONDS | st.just(0)).filter(lambda v: v is not None),
        lambda rt, ids, v: rt.schedule("s", "three_steps", every_s=v),
    ),
    ("schedule", "input"): (
        _BAD_PAYLOAD,
        lambda rt, ids, v: rt.schedule("s", "three_steps", every_s=60, input=v),
    ),
    ("schedule", "zone"): (
        _NOT_TEXT | st.sampled_from(["", "Mars/Olympus", "utc/", "../etc"]),
        lambda rt, ids, v: rt.schedule("s", "three_steps", every_s=60, zone=v),
    ),
    ("schedule", "start_at"): (
        _BAD_INSTANT,
        lambda rt, ids, v: rt.schedule("s", "three_steps", every_s=60, start_at=v),
    ),
    ("schedule", "end_at"): (
        _BAD_INSTANT,
        lambda rt, ids, v: rt.schedule("s", "three_steps", every_s=60, end_at=v),
    ),
    ("schedule", "overlap"): (
        _NOT_TEXT | st.text(max_size=4),
        lambda rt, ids, v: rt.schedule("s", "three_steps", every_s=60, overlap=v),
    ),
    ("schedule", "catchup_window_s"): (
        _BAD_SECONDS,
        lambda rt, ids, v: rt.schedule("s", "three_steps", every_s=60, catchup_window_s=v),
    ),
    ("schedule", "jitter_s"): (
        _BAD_SECONDS,
        lambda rt, ids, v: rt.schedule("s", "three_steps", every_s=60, jitter_s=v),
    ),
    ("schedule", "paused"): (
        _BAD_FLAG,
        lambda rt, ids, v: rt.schedule("s", "three_steps", every_s=60, paused=v),
    ),
    ("schedule", "priority"): (
        _BAD_INT | st.integers(100, 10**6) | st.integers(max_value=-1),
        lambda rt, ids, v: rt.schedule("s", "three_steps", every_s=60, priority=v),
    ),
    ("unschedule", "name"): (_BAD_TEXT, lambda rt, ids, v: rt.unschedule(v)),
    ("pause_schedule", "name"): (_BAD_TEXT, lambda rt, ids, v: rt.pause_schedule(v)),
    ("resume_schedule", "name"): (_BAD_TEXT, lambda rt, ids, v: rt.resume_schedule(v)),
    ("trigger", "name"): (_BAD_TEXT, lambda rt, ids, v: rt.trigger(v)),
    ("get_schedule", "name"): (_BAD_TEXT, lambda rt, ids, v: rt.get_schedule(v)),
    ("backfill", "name"): (_BAD_TEXT, lambda rt, ids, v: rt.backfill(v, 0, 60)),
    ("backfill", "start"): (_BAD_INSTANT, lambda rt, ids, v: rt.backfill("s", v, 60)),
    ("backfill", "end"): (_BAD_INSTANT, lambda rt, ids, v: rt.backfill("s", 0, v)),
}

_OPTIONAL = {"version", "key", "correlation_id", "name", "status", "group", "worker_id"}


def _probe() -> st.SearchStrategy[tuple[tuple[str, str], Any]]:
    return st.sampled_from(sorted(PROBES)).flatmap(
        lambda which: (
            PROBES[which][0]
            .filter(lambda v: not (v is None and which[1] in _OPTIONAL))
            .map(lambda v: (which, v))
        )
    )


async def _call(call: Call, rt: cadenza.Runtime, ids: Ids, value: Any) -> None:
    outcome = call(rt, ids, value)
    if inspect.isawaitable(outcome):
        await outcome


async def _throw(db: Path, probes: list[tuple[tuple[str, str], Any]]) -> None:
    async with open_rt(db) as rt:
        await rt.register(three_steps())
        run_id = await rt.start("three_steps", {"n": 1})
        task = await rt.poll("step_a")
        assert task is not None
        ids = {"run": run_id, "task": task.id}
        await rt.settle()
        before = records(db)
        for (call, argument), value in probes:
            with pytest.raises(cadenza.InvalidArgument) as refused:  # shown: the probe
                await _call(PROBES[(call, argument)][1], rt, ids, value)
            named = re.split(r"[\s\[\]]", refused.value.argument)  # "task output", "input['x']"
            assert argument in named, f"{call}({argument}=...) named {refused.value.argument!r}"
        await rt.settle()
        assert records(db) == before, "a refused call wrote to the journal"
        await rt.complete(task.id, {"n": 2})
        serve(rt)
        done = await rt.wait(run_id)
        assert done.output == {"result": 4}
        fresh = await rt.wait(await rt.start("three_steps", {"n": 1}))
        assert fresh.output == {"result": 4}


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(probes=st.lists(_probe(), min_size=1, max_size=10))
def test_random_bad_values_at_every_call_are_refused_naming_them(
    probes: list[tuple[tuple[str, str], Any]],
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        anyio.run(_throw, Path(folder) / "j.db", probes)


def test_every_public_call_with_parameters_is_probed() -> None:
    """The probe table covers each public call of `Runtime` that takes a value."""
    probed = {call for call, _ in PROBES}
    public = {
        name
        for name in dir(cadenza.Runtime)
        if not name.startswith("_") and callable(getattr(cadenza.Runtime, name))
    }
    unprobed = public - probed - {"settle", "start_many", "schedules"}  # no parameter
    assert not unprobed, f"calls with no bad-value probe: {sorted(unprobed)}"


async def test_a_status_filter_is_a_real_status_in_any_case(tmp_path: Path) -> None:
    """`runs(status=...)` takes a WorkflowStatus name in any case and refuses others (it
    silently matched nothing for "BOGUS")."""
    async with open_rt(tmp_path / "j.db") as rt:
        await rt.register(three_steps())
        serve(rt)
        run_id = await rt.start("three_steps", {"n": 1})
        await rt.wait(run_id)
        assert [run.id for run in await rt.runs(status="completed")] == [run_id]
        assert await rt.runs(status=cadenza.WorkflowStatus.FAILED) == []
        with pytest.raises(cadenza.InvalidArgument, match="COMPLETED") as caught:
            await rt.runs(status="DONE")
        assert caught.value.argument == "status"
