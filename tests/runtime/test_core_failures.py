"""A bug in the pure core fails its run, named; it never leaves the run RUNNING.

Issue 12, section 4, item 3: EXPONENTIAL_BACKOFF computed `delay * 2**n`
before the cap, so the 1,024th retry overflowed inside `decide`, the run
actor crash-looped and the run stayed RUNNING for ever.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

import cadenza
from cadenza.core._decide import decide
from cadenza.core._state import WorkflowState
from cadenza.core._state import apply as core_apply
from cadenza.engine.run import _actor as _run_actor
from cadenza.language import RetryLogic, TaskDef
from cadenza.testing import VirtualClock
from tests._logs import capture_logs
from tests.language._defs import fork, join, simple, workflow

MAX_DELAY_S = 2**31 - 1  # Conductor's reset for an overflowing delay: Integer.MAX_VALUE seconds


@pytest.mark.parametrize("retry", [1023, 1024, 1100, 5000, 10**6])
def test_an_exponential_delay_is_capped_before_it_can_overflow(retry: int) -> None:
    capped = TaskDef(
        name="t", retry_logic=RetryLogic.EXPONENTIAL_BACKOFF, retry_delay_s=1, max_retry_delay_s=60
    )
    assert capped.retry_delay_for(retry) == 60
    uncapped = TaskDef(name="t", retry_logic=RetryLogic.EXPONENTIAL_BACKOFF, retry_delay_s=0.5)
    assert uncapped.retry_delay_for(retry) == MAX_DELAY_S


@pytest.mark.parametrize("logic", list(RetryLogic))
def test_a_huge_delay_is_reset_to_conductors_maximum(logic: RetryLogic) -> None:
    """Conductor resets an overflowing delay to Integer.MAX_VALUE seconds: so do we, finitely."""
    task_def = TaskDef(name="t", retry_logic=logic, retry_delay_s=1e308, backoff_scale_factor=10)
    assert task_def.retry_delay_for(3) == MAX_DELAY_S
    assert TaskDef(name="t", retry_logic=logic, retry_delay_s=0).retry_delay_for(5000) == 0


def test_small_exponential_delays_are_exact() -> None:
    task_def = TaskDef(name="t", retry_logic=RetryLogic.EXPONENTIAL_BACKOFF, retry_delay_s=0.25)
    assert [task_def.retry_delay_for(n) for n in range(6)] == [0.25, 0.5, 1, 2, 4, 8]
    assert task_def.retry_delay_for(32) == 2**30
    assert task_def.retry_delay_for(33) == MAX_DELAY_S  # 0.25 * 2**33 > 2**31 - 1


async def test_a_task_failing_1030_times_retries_at_the_capped_delay_and_fails_the_run(
    clock: VirtualClock,
) -> None:
    """Past the 1,024th retry (where 2**n overflowed a float) the delay stays the cap; the
    1,031st failure ends the run. In memory: 3,000 fsyncs would be most of the test's time."""
    async with cadenza.Runtime(":memory:", clock=clock, seed=1) as rt:
        await _fail_1030_times(rt, clock)


async def _fail_1030_times(rt: cadenza.Runtime, clock: VirtualClock) -> None:
    await rt.register(workflow("flaky", simple("a", "always_fails")))
    await rt.register_task(
        {
            "name": "always_fails",
            "retryCount": 1030,
            "retryLogic": "EXPONENTIAL_BACKOFF",
            "retryDelaySeconds": 1,
            "maxRetryDelaySeconds": 2,
        }
    )

    @rt.worker("always_fails")
    async def always_fails(data: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("no luck")

    run_id = await rt.start("flaky")
    await clock.advance(1 + 2 * 1030)
    run = await rt.get(run_id)
    assert run.status == "FAILED"
    assert len(run.tasks) == 1031
    assert [t.attempt for t in run.tasks[-2:]] == [1029, 1030]
    pairs = zip(run.tasks, run.tasks[1:], strict=False)
    gaps = [(b.started_at or 0) - (a.ended_at or 0) for a, b in pairs]
    assert gaps[:2] == [1, 2]
    assert set(gaps[2:]) == {2}
    assert "no luck" in (run.reason or "")


def _decide_breaking(name: str, original: Any) -> Any:
    """`decide`, raising for runs of workflow `name` once their task `a` completed."""

    def decide(definition: Any, state: WorkflowState, env: Any) -> Any:
        if state.name == name and any(
            t.ref == "a" and t.status.value == "COMPLETED" for t in state.tasks
        ):
            raise OverflowError("int too large to convert to float")
        return original(definition, state, env)

    return decide


async def test_an_exception_in_decide_fails_the_run_named_and_the_runtime_goes_on(
    rt: cadenza.Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_run_actor, "decide", _decide_breaking("doomed", decide))
    await rt.register(
        workflow("doomed", fork("f", [simple("a")], [simple("b")]), join("j", "a", "b"))
    )
    await rt.register(workflow("fine", simple("c")))

    @rt.worker("c")
    async def c(data: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True}

    doomed = await rt.start("doomed")
    a = await rt.poll("a")
    assert a is not None
    b = await rt.poll("b")
    assert b is not None
    with capture_logs(logging.ERROR) as logs:
        await rt.complete(a.id, {"x": 1})  # the decide after it raises
    run = await rt.get(doomed)
    assert run.status == "FAILED"
    assert (
        run.reason == "internal error in decide: OverflowError: int too large to convert to float"
    )
    statuses = {t.ref: t.status for t in run.tasks}
    assert statuses["a"] == "COMPLETED"
    assert statuses["b"] == "CANCELED"  # in flight: cancelled
    with pytest.raises(cadenza.StaleTask):
        await rt.complete(b.id, {})
    (logged,) = [e for e in logs if e["event"] == "run.failed_inside"]
    assert logged["log_level"] == "error"
    assert logged["run_id"] == doomed
    assert logged["where"] == "decide"
    fine = await rt.wait(await rt.start("fine"))
    assert fine.status == "COMPLETED"


async def test_a_run_failed_inside_is_failed_in_its_replay_too(
    tmp_path: Path, clock: VirtualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    db_path = str(tmp_path / "journal.db")
    monkeypatch.setattr(_run_actor, "decide", _decide_breaking("doomed", decide))
    async with cadenza.Runtime(db_path, clock=clock) as rt:
        await rt.register(workflow("doomed", simple("a"), simple("b")))
        run_id = await rt.start("doomed")
        task = await rt.poll("a")
        assert task is not None
        await rt.complete(task.id, {})
        live = await rt.get(run_id)
    monkeypatch.undo()
    async with cadenza.Runtime(db_path, clock=clock) as rt:
        again = await rt.get(run_id)
        assert again.status == "FAILED"
        assert again == live
        assert rt._engine.recovered == 0


async def test_an_exception_in_apply_fails_the_run_named(
    rt: cadenza.Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Any core function, not only decide: here the fold of a worker's update."""
    original = core_apply

    def apply(state: WorkflowState, event: Any) -> WorkflowState:
        if event.kind == "task_updated":
            raise KeyError("boom")
        return original(state, event)

    monkeypatch.setattr(_run_actor, "apply", apply)
    await rt.register(workflow("doomed", simple("a")))
    run_id = await rt.start("doomed")
    task = await rt.poll("a")
    assert task is not None
    await rt.update(task.id, output={"progress": 1})
    run = await rt.get(run_id)
    assert run.status == "FAILED"
    assert run.reason == "internal error in apply: KeyError: 'boom'"
    assert run.tasks[0].status == "CANCELED"
