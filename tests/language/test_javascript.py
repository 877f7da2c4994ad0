"""JavaScript in Conductor's language: SWITCH/DECISION expressions, DO_WHILE conditions, INLINE, LAMBDA."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from typing import Any

import pytest

import cadenza
from cadenza.language import _script
from cadenza.language._parse import parse_workflow_def
from cadenza.language._script import ScriptError, evaluate, truthy
from tests.conductor_defs import CONDUCTOR_DEFS
from tests.language._defs import simple, workflow


async def echo(data: dict[str, Any]) -> dict[str, Any]:
    return {"echo": data}


def conductor_def(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((CONDUCTOR_DEFS / f"{name}.json").read_text())
    return loaded


def js_switch(
    ref: str, expression: str, cases: dict[str, list[Any]], **inputs: Any
) -> dict[str, Any]:
    return {"name": ref, "taskReferenceName": ref, "type": "SWITCH", "evaluatorType": "javascript",
            "expression": expression, "inputParameters": inputs, "decisionCases": cases,
            "defaultCase": [simple("fallback")]}  # fmt: skip


def inline(
    ref: str, expression: str, evaluator: str = "javascript", **inputs: Any
) -> dict[str, Any]:
    return {"name": ref, "taskReferenceName": ref, "type": "INLINE",
            "inputParameters": {"evaluatorType": evaluator, "expression": expression, **inputs}}  # fmt: skip


# -- the evaluator ---------------------------------------------------------------


def test_an_expression_sees_its_input_as_dollar_and_returns_json() -> None:
    """`$` is the input; objects, arrays and scalars come back as JSON values."""
    assert evaluate("$.a + $.b", {"a": 1, "b": 2}) == 3
    assert evaluate("({x: [$.a, null, 'y'], u: undefined})", {"a": 1}) == {"x": [1, None, "y"]}
    assert evaluate("if ($.a > 0) { 'pos'; } else { 'neg'; }", {"a": -1}) == "neg"
    assert evaluate("undefined", {}) is None


def test_an_evaluation_leaves_no_state_behind_for_the_next() -> None:
    """Variables, undeclared globals and changed built-ins do not outlive one evaluation."""
    assert evaluate("var kept = 1; leaked = 2; Math.max = null; kept + leaked", {}) == 3
    assert evaluate("[typeof kept, typeof leaked, typeof Math.max]", {}) == [
        "undefined", "undefined", "function"
    ]  # fmt: skip


@pytest.mark.parametrize("script", ["Date.now()", "new Date()", "Math.random()"])
def test_the_clock_and_randomness_are_not_exposed(script: str) -> None:
    """Expressions stay pure: reading the clock or randomness is an error."""
    with pytest.raises(ScriptError, match="clock"):
        evaluate(script, {})
    assert evaluate("new Date(0).toISOString()", {}) == "1970-01-01T00:00:00.000Z"


def test_a_runaway_script_hits_the_time_limit() -> None:
    """An endless loop ends as a ScriptError after the time limit."""
    with pytest.raises(ScriptError, match="timed out"):
        evaluate("while (true) {}", {}, timeout_s=0.05)
    assert evaluate("1 + 1", {}) == 2


def test_a_script_hoarding_memory_hits_the_memory_limit_and_the_engine_recovers() -> None:
    """A heap overrun is a ScriptError; the next evaluation runs in a fresh context."""
    hog = "var a = []; while (true) { a.push(new Array(100000).fill(1)); }"
    with pytest.raises(ScriptError, match="memory limit"):
        evaluate(hog, {}, max_memory_bytes=32 * 1024 * 1024, timeout_s=10)
    assert evaluate("$.n * 2", {"n": 21}) == 42


@pytest.mark.parametrize(("script", "words"), [("if (", "SyntaxError"), ("null.x", "TypeError"),
                                               ("1n", "BigInt")])  # fmt: skip
def test_a_script_error_is_reported_with_the_engines_message(script: str, words: str) -> None:
    """Syntax errors, runtime errors and values JSON cannot hold are ScriptErrors."""
    with pytest.raises(ScriptError, match=words):
        evaluate(script, {})


def test_truthiness_follows_conductors_script_evaluator() -> None:
    """toBoolean: booleans as they are, numbers when > 0, anything else false."""
    assert [truthy(v) for v in (True, False, 1, 0, -2, 0.5, "true", None, [1])] == [
        True, False, True, False, False, True, False, False, False
    ]  # fmt: skip


# -- registration ----------------------------------------------------------------


def test_without_the_engine_a_definition_needing_javascript_is_rejected(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No mini-racer: registration refuses JavaScript, naming the task and the extra."""
    monkeypatch.setitem(sys.modules, "py_mini_racer", None)  # the import now fails
    assert not _script.engine_available()
    with pytest.raises(cadenza.DefinitionError, match=r"cadenza\[js\]") as caught:
        parse_workflow_def(conductor_def("do_while_integration_test"))
    assert caught.value.ref == "loopTask"
    parse_workflow_def(workflow("plain", inline("i", "x", evaluator="value-param", x=1)))


def test_an_inline_task_without_an_evaluator_or_expression_is_rejected() -> None:
    """INLINE needs evaluatorType and expression inputs, LAMBDA its scriptExpression."""
    bad = {"name": "i", "taskReferenceName": "i", "type": "INLINE",
           "inputParameters": {"expression": "1"}}  # fmt: skip
    with pytest.raises(cadenza.DefinitionError, match="evaluatorType"):
        parse_workflow_def(workflow("w", bad))
    with pytest.raises(cadenza.DefinitionError, match="scriptExpression"):
        parse_workflow_def(workflow("w", {"name": "l", "taskReferenceName": "l", "type": "LAMBDA"}))
    sw = js_switch("s", "1", {"a": []})
    sw["evaluatorType"] = "python"
    with pytest.raises(cadenza.DefinitionError, match="evaluatorType"):
        parse_workflow_def(workflow("w", sw))


# -- running ---------------------------------------------------------------------


async def test_the_conductor_do_while_loop_condition_runs_while_it_holds(
    rt: cadenza.Runtime,
) -> None:
    """do_while_integration_test: `$.loopTask['iteration'] < $.value` runs `value` iterations."""
    await rt.register(conductor_def("do_while_integration_test"))
    for name in ("integration_task_0", "integration_task_1", "integration_task_2"):
        rt.worker(name, echo)
    run = await rt.wait(await rt.start("Do_While_Workflow", {"loop": 3}))
    assert run.status == "COMPLETED"
    refs = [t.ref for t in run.tasks]
    assert {"integration_task_0__3", "join__3"} <= set(refs)
    assert "integration_task_0__4" not in refs
    loop = run.tasks[0]
    assert loop.output["iteration"] == 3
    assert set(loop.output["3"]) >= {"integration_task_0", "integration_task_1", "join"}


async def test_a_loop_condition_sees_the_body_outputs_of_the_iteration(rt: cadenza.Runtime) -> None:
    """`$.<body ref>` is that task's output in the iteration just finished."""
    await rt.register(workflow("count", {
        "name": "loop", "taskReferenceName": "loop", "type": "DO_WHILE",
        "loopCondition": "$.step.n < 4", "loopOver": [simple("step")],
    }))  # fmt: skip
    counter = {"n": 0}

    async def step(data: dict[str, Any]) -> dict[str, Any]:
        counter["n"] += 1
        return {"n": counter["n"]}

    rt.worker("step", step)
    run = await rt.wait(await rt.start("count", {}))
    assert run.status == "COMPLETED"
    assert run.tasks[0].output["iteration"] == 4


async def test_a_failing_loop_condition_fails_the_loop_and_the_run_naming_the_task(
    rt: cadenza.Runtime,
) -> None:
    """A JavaScript error in loopCondition: the loop FAILED_WITH_TERMINAL_ERROR, never stuck."""
    await rt.register(workflow("bad_loop", {
        "name": "loop", "taskReferenceName": "loop", "type": "DO_WHILE",
        "loopCondition": "$.nothing.here > 1", "loopOver": [simple("step")],
    }))  # fmt: skip
    rt.worker("step", echo)
    run = await rt.wait(await rt.start("bad_loop", {}))
    assert run.status == "FAILED"
    loop = run.tasks[0]
    assert loop.status == "FAILED_WITH_TERMINAL_ERROR"
    assert "'loop'" in (run.reason or "")
    assert "TypeError" in (run.reason or "")


async def test_a_javascript_switch_takes_the_case_its_expression_names(rt: cadenza.Runtime) -> None:
    """SWITCH evaluatorType javascript: the expression's value (as text) picks the case."""
    await rt.register(workflow("jsw", js_switch(
        "s", "$.amount > 100 ? 'big' : 'small'",
        {"big": [simple("big")], "small": [simple("small")]}, amount="${workflow.input.amount}",
    ), simple("after")))  # fmt: skip
    for name in ("big", "small", "fallback", "after"):
        rt.worker(name, echo)
    run = await rt.wait(await rt.start("jsw", {"amount": 500}))
    assert [t.ref for t in run.tasks] == ["s", "big", "after"]
    assert run.tasks[0].output["evaluationResult"] == ["big"]
    run = await rt.wait(await rt.start("jsw", {"amount": 5}))
    assert [t.ref for t in run.tasks] == ["s", "small", "after"]


async def test_a_decision_case_expression_picks_the_case(rt: cadenza.Runtime) -> None:
    """DECISION caseExpression is JavaScript; a boolean result selects "true" or "false"."""
    await rt.register(workflow("dex", {
        "name": "d", "taskReferenceName": "d", "type": "DECISION",
        "caseExpression": "$.n % 2 == 0", "inputParameters": {"n": "${workflow.input.n}"},
        "decisionCases": {"true": [simple("even")], "false": [simple("odd")]},
    }))  # fmt: skip
    rt.worker("even", echo)
    rt.worker("odd", echo)
    assert [t.ref for t in (await rt.wait(await rt.start("dex", {"n": 3}))).tasks] == ["d", "odd"]
    assert [t.ref for t in (await rt.wait(await rt.start("dex", {"n": 4}))).tasks] == ["d", "even"]


async def test_a_switch_expression_error_fails_the_run_naming_the_task(rt: cadenza.Runtime) -> None:
    """A JavaScript error in a SWITCH: the task FAILED_WITH_TERMINAL_ERROR, the run FAILED."""
    await rt.register(workflow("jsbad", js_switch("s", "$.a.b.c", {"x": []}), simple("after")))
    run = await rt.wait(await rt.start("jsbad", {}))
    assert run.status == "FAILED"
    assert run.tasks[0].status == "FAILED_WITH_TERMINAL_ERROR"
    assert "and reason: 'task 's': " in (run.reason or "")
    assert "TypeError" in (run.reason or "")


async def test_an_inline_task_outputs_its_result(rt: cadenza.Runtime) -> None:
    """INLINE: `{"result": <value>}`; the value-param evaluator needs no JavaScript."""
    await rt.register(workflow(
        "inl",
        inline("js", "(function () { return {sum: $.a + $.b}; })()", a="${workflow.input.a}", b=2),
        inline("vp", "pick", evaluator="value-param", pick="${js.output.result.sum}"),
        outputParameters={"sum": "${vp.output.result}"},
    ))  # fmt: skip
    run = await rt.wait(await rt.start("inl", {"a": 40}))
    assert run.status == "COMPLETED"
    assert run.tasks[0].output == {"result": {"sum": 42}}
    assert run.output == {"sum": 42}


async def test_an_inline_script_that_runs_too_long_fails_the_run_naming_the_task(
    rt: cadenza.Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A timeout is the task's failure with a reason naming it, never a stuck run."""
    monkeypatch.setattr(_script, "TIMEOUT_S", 0.05)
    await rt.register(workflow("spin", inline("spin", "while (true) {}")))
    run = await rt.wait(await rt.start("spin", {}))
    assert run.status == "FAILED"
    assert run.tasks[0].status == "FAILED"
    assert "'spin'" in (run.reason or "")
    assert "timed out" in (run.reason or "")
    assert run.tasks[0].output["error"] == run.tasks[0].reason


async def test_the_conductor_lambda_and_terminate_definition_completes_with_the_lambdas_output(
    rt: cadenza.Runtime,
) -> None:
    """terminate_task_completed_workflow_integration_test: LAMBDA feeds TERMINATE's output."""
    await rt.register(conductor_def("terminate_task_completed_workflow_integration_test"))
    name = conductor_def("terminate_task_completed_workflow_integration_test")["name"]
    run = await rt.wait(await rt.start(name, {"a": 1}))
    assert run.status == "COMPLETED"
    assert run.tasks[0].output == {"result": {"testvalue": True}}
    assert run.output == {"result": {"testvalue": True}}


async def test_an_engine_first_made_inside_the_runtime_still_applies_its_limits(
    rt: cadenza.Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The V8 context is made off the runtime's loop, so a time limit works from inside it."""
    engine = _script._Engine()
    monkeypatch.setattr(_script, "_ENGINE", engine)
    monkeypatch.setattr(_script, "TIMEOUT_S", 0.05)
    try:
        await rt.register(workflow("two", inline("ok", "1 + 1"), inline("spin", "for (;;) {}")))
        run = await rt.wait(await rt.start("two", {}))
    finally:
        engine.close()
    assert [(t.ref, t.status) for t in run.tasks] == [("ok", "COMPLETED"), ("spin", "FAILED")]
    assert run.tasks[0].output == {"result": 2}


def test_an_engine_failure_is_a_script_error_and_the_engine_is_rebuilt() -> None:
    """The engine's process dying (here: SIGKILL) is a ScriptError naming it, never a crashed
    caller; the next evaluation starts a fresh engine."""
    engine = _script._Engine()
    try:
        assert _evaluate_with(engine, "1") == 1
        first = engine.process
        assert first is not None
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
        with pytest.raises(ScriptError, match=r"engine failed.*exited with -9"):
            _evaluate_with(engine, "1")
        assert engine.process is None
        assert _evaluate_with(engine, "2") == 2
        assert engine.process is not None
        assert engine.process.pid != first.pid
    finally:
        engine.close()


def test_a_hung_engine_is_killed_after_its_grace(monkeypatch: pytest.MonkeyPatch) -> None:
    """An engine that does not answer within the time limit plus the grace (here: stopped by
    SIGSTOP) is killed; the evaluation is a timeout, and the next one gets a fresh engine."""
    monkeypatch.setattr(_script, "_GRACE_S", 0.2)
    engine = _script._Engine()
    try:
        assert _evaluate_with(engine, "1") == 1
        first = engine.process
        assert first is not None
        os.kill(first.pid, signal.SIGSTOP)
        with pytest.raises(ScriptError, match=r"timed out after 0\.1 s"):
            engine.run("1", "{}", 0.1, 1 << 26)
        assert first.returncode == -signal.SIGKILL
        assert _evaluate_with(engine, "3") == 3
    finally:
        engine.close()


def test_a_ctrl_c_to_the_process_group_leaves_the_engine_to_its_parent() -> None:
    """A terminal's Ctrl-C reaches every process of its group: the engine's child ignores it
    (before: it died with a KeyboardInterrupt traceback, and the next evaluation failed)."""
    engine = _script._Engine()
    try:
        assert _evaluate_with(engine, "1") == 1
        child = engine.process
        assert child is not None
        os.kill(child.pid, signal.SIGINT)  # pending before the next request is read
        assert _evaluate_with(engine, "2") == 2
        assert engine.process is child
        assert child.poll() is None
    finally:
        engine.close()


def _evaluate_with(engine: _script._Engine, script: str) -> object:
    text = engine.run(script, "{}", 1.0, 1 << 26)
    return None if text is None else json.loads(text)


def test_a_heap_overrun_or_a_closed_engine_never_crashes_the_process() -> None:
    """Before: with mini-racer 0.14 the V8 context was freed in this process after a heap
    overrun (and on `close`), and freeing a context the prelude froze segfaulted: this very
    script died with status 139 right after its first close. The engine now lives in a child
    process; the service's process goes on and evaluates again."""
    code = """
from cadenza.language import _script
from cadenza.language._script import ScriptError, evaluate
print(evaluate("$.a + 1", {"a": 1}))
_script._ENGINE.close()
print(evaluate("$.a + 2", {"a": 1}))
try:
    evaluate("const a = []; for (;;) a.push(new Array(1e6).fill(1));", {},
             max_memory_bytes=16 * 1024 * 1024)
except ScriptError as exc:
    print("limit:", exc)
print(evaluate("$.a + 3", {"a": 1}))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:4] == [
        "2",
        "3",
        "limit: exceeded its memory limit of 16777216 bytes",
        "4",
    ]


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("$.list.get(1)", 7),
        ("$.list.size()", 2),
        ("$.list.isEmpty() || $.empty.isEmpty()", True),
        ("[$.list.contains(5), $.list.contains(6)]", [True, False]),
        ("$.list", [5, 7]),  # the methods are not part of the value
        ("Object.keys($.list)", ["0", "1"]),
    ],
)
def test_a_list_answers_java_list_methods_as_conductors_host_access_does(
    script: str, expected: Any
) -> None:
    """Conductor binds $ to Java objects with HostAccess.ALL (ScriptEvaluator.java:169), so
    Conductor's own definitions call `$.list.get(i)` (do_while_with_decision_task.json)."""
    assert evaluate(script, {"list": [5, 7], "empty": []}) == expected


def test_a_process_that_evaluated_a_script_exits_cleanly() -> None:
    """Before: freeing the V8 context at interpreter exit segfaulted (mini-racer 0.14), so
    every process that ran a LAMBDA or a JavaScript condition exited 139 — pytest included."""
    code = "from cadenza.language._script import evaluate\nprint(evaluate('$.a + 1', {'a': 1}))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout.strip()) == (0, "2"), done.stderr
