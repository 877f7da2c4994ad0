"""JavaScript is evaluated off the event loop: a slow expression never stalls other runs.

Issue 12 §3: SWITCH `javascript`, DECISION `caseExpression`, DO_WHILE
`loopCondition`, INLINE and LAMBDA were evaluated inside `decide`, on the
run actor's event loop, so one slow expression held up every other run's
timers, leases and workers. They are evaluated in a worker thread now, the
run's actor awaiting the result and deciding again; the decision (the
task's output) is journaled, so recovery never evaluates again.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

import cadenza
from cadenza.core._decide import decide
from cadenza.core._events import WorkflowStarted
from cadenza.core._schedule import Environment
from cadenza.core._state import WorkflowState, apply
from cadenza.language import _script
from cadenza.language._parse import parse_workflow_def
from cadenza.language._script import Evaluations
from tests.language._defs import simple, workflow

pytestmark = pytest.mark.skipif(not _script.engine_available(), reason="needs mini-racer")

SLOW = "/* slow */ 40 + 2"
GATE_S = 3.0  # a safety net only: the test releases the gate itself


def inline(ref: str, expression: str) -> dict[str, Any]:
    return {"name": ref, "taskReferenceName": ref, "type": "INLINE",
            "inputParameters": {"evaluatorType": "javascript", "expression": expression}}  # fmt: skip


async def test_a_slow_expression_does_not_stall_another_runs_worker(
    rt: cadenza.Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While run A's INLINE expression is evaluating, run B's local worker runs and B completes.

    The expression is held (a gate on the V8 call) until B has completed: if
    the evaluation ran on the event loop, B could never complete first.
    """
    evaluating, release, evaluated = threading.Event(), threading.Event(), threading.Event()
    real_run = _script._ENGINE.run

    def gated(script: str, *args: Any) -> Any:
        if "/* slow */" in script:
            evaluating.set()
            release.wait(GATE_S)
            evaluated.set()
        return real_run(script, *args)

    monkeypatch.setattr(_script._ENGINE, "run", gated)
    await rt.register(workflow("slow", inline("js", SLOW)))
    await rt.register(workflow("work", simple("w", "work")))

    @rt.worker("work")
    async def work(data: dict[str, Any]) -> dict[str, Any]:
        return {"done": True}

    # start answers once the decisions it led to are durable: here, after the evaluation
    starting = asyncio.create_task(rt.start("slow", {}))
    assert await asyncio.to_thread(evaluating.wait, GATE_S), "the expression never started"
    work_run = await rt.wait(await rt.start("work", {}), timeout=GATE_S)
    held = not evaluated.is_set()
    release.set()
    slow_id = await starting
    assert work_run.status == "COMPLETED"
    assert held, "run B completed only once the slow expression was let go"
    slow = await rt.wait(slow_id, timeout=GATE_S)
    assert slow.status == "COMPLETED"
    assert slow.tasks[0].output == {"result": 42}


async def test_a_spinning_expression_lets_the_loop_run_until_its_time_limit(
    rt: cadenza.Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real `while (true) {}` runs into its 1-s time limit off the loop: meanwhile another
    run's worker completes and an asyncio task keeps making progress."""
    monkeypatch.setattr(_script, "TIMEOUT_S", 1.0)
    ended = threading.Event()
    real_run = _script._ENGINE.run

    def watched(*args: Any) -> Any:
        try:
            return real_run(*args)
        finally:
            ended.set()

    monkeypatch.setattr(_script._ENGINE, "run", watched)
    await rt.register(workflow("spin", inline("spin", "while (true) {}")))
    await rt.register(workflow("work", simple("w", "work")))

    @rt.worker("work")
    async def work(data: dict[str, Any]) -> dict[str, Any]:
        return {}

    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while not ended.is_set():
            ticks += 1
            await asyncio.sleep(0)

    starting = asyncio.create_task(rt.start("spin", {}))  # answered once the script ends
    ticking = asyncio.create_task(ticker())
    work_run = await rt.wait(await rt.start("work", {}), timeout=10)
    during = ended.is_set()
    spin = await rt.wait(await starting, timeout=10)
    await ticking
    assert work_run.status == "COMPLETED"
    assert not during, "the other run completed only after the expression's time limit"
    assert ticks > 100
    assert spin.status == "FAILED"
    assert "timed out" in (spin.reason or "")


def test_decide_with_an_evaluations_book_asks_instead_of_evaluating() -> None:
    """With `Environment.scripts`, decide never evaluates: it records what it needs and decides
    nothing; once the evaluation is made, the same state decides the task's completion."""
    definition = parse_workflow_def(workflow("one", inline("js", "$.a * 2") | {
        "inputParameters": {"evaluatorType": "javascript", "expression": "$.a * 2",
                            "a": "${workflow.input.a}"}}))  # fmt: skip
    state = WorkflowState(id="r")
    apply(state, WorkflowStarted(at=1.0, run_id="r", name="one", version=1, digest="d",
                                 input={"a": 21}))  # fmt: skip
    book = Evaluations()
    env = Environment(scripts=book)
    assert decide(definition, state, env) == []
    assert len(book.wanted) == 1
    book.make()
    assert not book.wanted
    decisions = decide(definition, state, env)
    assert [type(d).__name__ for d in decisions] == ["TaskScheduled", "TaskCompleted"]
    assert decisions[1].output == {"result": 42}  # type: ignore[attr-defined]


def test_a_round_that_wants_results_one_after_another_is_decided_whole() -> None:
    """A round (core/_round.py) wants every result it can see in one walk, and the book keeps
    what it made until the round is decided: a SWITCH's javascript, then the INLINE its
    branch starts with, are two asks; the third decide makes the whole round, in order.
    (Were the first result dropped at the second `make`, the round would ask for ever.)"""
    choose = {"name": "sw", "taskReferenceName": "sw", "type": "SWITCH",
              "evaluatorType": "javascript", "expression": "'a'",
              "decisionCases": {"a": [inline("in", "1 + 1")]}}  # fmt: skip
    definition = parse_workflow_def(workflow("chain", choose, inline("both", "2 + 2")))
    state = WorkflowState(id="r")
    apply(state, WorkflowStarted(at=1.0, run_id="r", name="chain", version=1, digest="d", input={}))
    book = Evaluations()
    env = Environment(scripts=book)
    for _ in range(2):
        assert decide(definition, state, env) == []
        assert len(book.wanted) == 1
        book.make()
    decisions = decide(definition, state, env)
    assert [(type(d).__name__, getattr(d, "ref", None)) for d in decisions] == [
        ("TaskScheduled", "sw"), ("TaskCompleted", None),
        ("TaskScheduled", "in"), ("TaskCompleted", None),
    ]  # fmt: skip
    assert decisions[3].output == {"result": 2}  # type: ignore[attr-defined]
