"""Conductor WorkflowDef / TaskDef parsing, validation, defaults and round-trips."""

from __future__ import annotations

import copy
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cadenza._errors import DefinitionError
from cadenza.language._definition import SUPPORTED_TYPES, to_conductor_json
from cadenza.language._parse import parse_workflow_def
from cadenza.language._taskdef import RetryLogic, TaskDef, TimeoutPolicy, parse_task_def
from tests.conductor_defs import CONDUCTOR_DEFS


def minimal() -> dict[str, Any]:
    return {"name": "wf", "tasks": [{"name": "a", "taskReferenceName": "a"}]}


def rich() -> dict[str, Any]:
    return {
        "name": "rich",
        "description": "every field we know",
        "version": 4,
        "schemaVersion": 2,
        "restartable": False,
        "ownerEmail": "me@example.com",
        "timeoutPolicy": "TIME_OUT_WF",
        "timeoutSeconds": 600,
        "failureWorkflow": "cleanup",
        "inputParameters": ["url", "n"],
        "outputParameters": {"out": "${b.output.result}"},
        "variables": {"v": 1},
        "inputTemplate": {"n": 3},
        "tasks": [
            {
                "name": "fetch",
                "taskReferenceName": "a",
                "inputParameters": {"url": "${workflow.input.url}"},
                "optional": True,
                "startDelay": 5,
                "retryCount": 1,
                "description": "first",
            },
            {
                "name": "parse",
                "taskReferenceName": "b",
                "type": "SIMPLE",
                "inputParameters": {"body": "${a.output.body}"},
                "taskDefinition": {
                    "retryCount": 2,
                    "retryLogic": "EXPONENTIAL_BACKOFF",
                    "retryDelaySeconds": 2,
                    "maxRetryDelaySeconds": 30,
                    "backoffJitterMs": 100,
                },
            },
        ],
    }


def _types(tasks: list[dict[str, Any]]) -> set[str]:
    found: set[str] = set()
    for task in tasks:
        found.add(task.get("type") or "SIMPLE")
        for branch in task.get("forkTasks") or []:
            found |= _types(branch)
        for branch in (task.get("decisionCases") or {}).values():
            found |= _types(branch)
        found |= _types(task.get("defaultCase") or [])
        found |= _types(task.get("loopOver") or [])
    return found


def _all_tasks(tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for task in tasks:
        found.append(task)
        for branch in task.get("forkTasks") or []:
            found += _all_tasks(branch)
        for branch in (task.get("decisionCases") or {}).values():
            found += _all_tasks(branch)
        found += _all_tasks(task.get("defaultCase") or [])
        found += _all_tasks(task.get("loopOver") or [])
    return found


def _needs_javascript(task: dict[str, Any]) -> bool:
    """Conductor evaluates these as JavaScript (ScriptEvaluator / GraalJS)."""
    kind = task.get("type") or "SIMPLE"
    return (
        kind in ("INLINE", "LAMBDA")
        or (kind == "SWITCH" and task.get("evaluatorType", "value-param") != "value-param")
        or (kind == "DECISION" and not task.get("caseValueParam"))
        or (kind == "DO_WHILE" and not task.get("items"))
    )


def _runnable(raw: dict[str, Any]) -> bool:
    tasks = _all_tasks(raw["tasks"])
    return _types(raw["tasks"]) <= SUPPORTED_TYPES and not any(map(_needs_javascript, tasks))


ALL_FILES = sorted(CONDUCTOR_DEFS.glob("*.json"))
SIMPLE_ONLY = [f for f in ALL_FILES if _runnable(json.loads(f.read_text()))]  # no JavaScript
WITH_OTHER_TYPES = [f for f in ALL_FILES if f not in SIMPLE_ONLY]


def test_the_reference_definitions_include_both_kinds() -> None:
    """The shared Conductor definitions are found (CI keeps shared/ beside the repo)."""
    assert CONDUCTOR_DEFS / "simple_workflow_1_integration_test.json" in SIMPLE_ONLY
    assert CONDUCTOR_DEFS / "timed-out-tasks-not-removed.json" in SIMPLE_ONLY
    assert CONDUCTOR_DEFS / "simple_wait_task_workflow_integration_test.json" in SIMPLE_ONLY
    assert CONDUCTOR_DEFS / "do_while_items_one_iteration.json" in SIMPLE_ONLY
    assert CONDUCTOR_DEFS / "switch_and_fork_join_integration_test.json" in SIMPLE_ONLY
    assert CONDUCTOR_DEFS / "do_while_integration_test.json" in WITH_OTHER_TYPES
    assert len(SIMPLE_ONLY) >= 30


@pytest.mark.parametrize("path", ALL_FILES, ids=lambda p: p.stem)
def test_every_conductor_definition_parses_and_round_trips(path: Path) -> None:
    """With the `js` extra installed every reference definition registers, JavaScript included."""
    raw = json.loads(path.read_text())
    definition = parse_workflow_def(raw)
    assert definition.name == raw["name"]
    assert [t.ref for t in definition.tasks] == [t["taskReferenceName"] for t in raw["tasks"]]
    assert parse_workflow_def(to_conductor_json(definition)) == definition


@pytest.mark.parametrize("path", WITH_OTHER_TYPES, ids=lambda p: p.stem)
def test_a_definition_needing_javascript_or_an_unsupported_type_is_rejected_naming_the_task(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the `js` extra (mini-racer not importable) JavaScript is refused at registration."""
    monkeypatch.setitem(sys.modules, "py_mini_racer", None)
    raw = json.loads(path.read_text())
    culprits = {
        t["taskReferenceName"]
        for t in _all_tasks(raw["tasks"])
        if (t.get("type") or "SIMPLE") not in SUPPORTED_TYPES or _needs_javascript(t)
    }
    with pytest.raises(DefinitionError, match=r"not supported yet|JavaScript") as caught:
        parse_workflow_def(raw)
    assert caught.value.ref in culprits
    assert caught.value.workflow == raw["name"]


def test_conductor_workflow_defaults_are_filled_in() -> None:
    definition = parse_workflow_def(minimal())
    assert definition.version == 1
    assert definition.schema_version == 2
    assert definition.restartable is True
    assert definition.timeout_policy is TimeoutPolicy.ALERT_ONLY
    assert definition.timeout_s == 0
    assert definition.failure_workflow is None
    assert definition.output_parameters == {}
    assert definition.input_parameters == ()
    (task,) = definition.tasks
    assert (task.type, task.optional, task.start_delay_s) == ("SIMPLE", False, 0)
    assert (task.task_def, task.retry_count, task.input_parameters) == (None, None, {})
    normalised = to_conductor_json(definition)
    assert normalised["version"] == 1
    assert normalised["schemaVersion"] == 2
    assert normalised["restartable"] is True
    assert normalised["timeoutPolicy"] == "ALERT_ONLY"
    assert normalised["tasks"][0]["type"] == "SIMPLE"


def test_conductor_task_def_defaults_are_filled_in() -> None:
    task_def = parse_task_def({"name": "t"})
    assert task_def == TaskDef(name="t")
    assert task_def.retry_count == 3
    assert task_def.retry_logic is RetryLogic.FIXED
    assert task_def.retry_delay_s == 60
    assert task_def.response_timeout_s == 3600
    assert task_def.timeout_policy is TimeoutPolicy.TIME_OUT_WF
    assert task_def.backoff_scale_factor == 1
    assert task_def.max_retry_delay_s is None
    assert task_def.timeout_s == 0


def test_null_numbers_take_their_defaults() -> None:
    task_def = parse_task_def({"name": "t", "retryCount": None, "retryDelaySeconds": None})
    assert (task_def.retry_count, task_def.retry_delay_s) == (3, 60)


def test_task_def_fields_are_read() -> None:
    task_def = parse_task_def(
        {
            "name": "t",
            "retryCount": 5,
            "retryLogic": "LINEAR_BACKOFF",
            "retryDelaySeconds": 2,
            "backoffScaleFactor": 3,
            "maxRetryDelaySeconds": 20,
            "backoffJitterMs": 250,
            "timeoutSeconds": 100,
            "responseTimeoutSeconds": 10,
            "pollTimeoutSeconds": 7,
            "timeoutPolicy": "RETRY",
            "concurrentExecLimit": 4,
            "rateLimitPerFrequency": 9,
            "rateLimitFrequencyInSeconds": 2,
        }
    )
    assert task_def == TaskDef(
        name="t",
        retry_count=5,
        retry_logic=RetryLogic.LINEAR_BACKOFF,
        retry_delay_s=2,
        backoff_scale_factor=3,
        max_retry_delay_s=20,
        backoff_jitter_ms=250,
        timeout_s=100,
        response_timeout_s=10,
        poll_timeout_s=7,
        timeout_policy=TimeoutPolicy.RETRY,
        concurrent_exec_limit=4,
        rate_limit_per_frequency=9,
        rate_limit_frequency_s=2,
    )


def test_unknown_fields_are_ignored_at_every_level() -> None:
    noisy = minimal()
    noisy["frobnicate"] = {"x": 1}
    noisy["tasks"][0]["frobnicate"] = [1]
    noisy["tasks"][0]["taskDefinition"] = {"frobnicate": True}
    plain = minimal()
    plain["tasks"][0]["taskDefinition"] = {}
    assert parse_workflow_def(noisy) == parse_workflow_def(plain)
    normalised = to_conductor_json(parse_workflow_def(noisy))
    assert "frobnicate" not in normalised
    assert "frobnicate" not in normalised["tasks"][0]


def test_an_inline_task_definition_without_a_name_takes_the_tasks_name() -> None:
    raw = minimal()
    raw["tasks"][0]["taskDefinition"] = {"retryCount": 1}
    task_def = parse_workflow_def(raw).tasks[0].task_def
    assert task_def is not None
    assert (task_def.name, task_def.retry_count) == ("a", 1)


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A mutation that sets a dotted path (`tasks.0.type`) in a definition."""

    def mutate(raw: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = raw
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
        node[last] = value

    return mutate


def _delete(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda raw: raw.pop(key)


def _duplicate_task(raw: dict[str, Any]) -> None:
    raw["tasks"].append({"name": "b", "taskReferenceName": "a"})


def _drop_ref(raw: dict[str, Any]) -> None:
    del raw["tasks"][0]["taskReferenceName"]


def _drop_task_name(raw: dict[str, Any]) -> None:
    del raw["tasks"][0]["name"]


MALFORMED = {
    # id: (mutation, workflow named, ref named, words in the message)
    "missing name": (_delete("name"), None, None, "name"),
    "blank name": (_set("name", "  "), None, None, "name"),
    "empty tasks": (_set("tasks", []), "wf", None, "tasks"),
    "no tasks": (_delete("tasks"), "wf", None, "tasks"),
    "task not an object": (_set("tasks", ["a"]), "wf", None, "must be an object"),
    "missing taskReferenceName": (_drop_ref, "wf", None, "taskReferenceName"),
    "task without a name": (_drop_task_name, "wf", "a", "name"),
    "duplicate refs": (_duplicate_task, "wf", "a", "duplicate"),
    "unknown task type": (_set("tasks.0.type", "FROBNICATE"), "wf", "a", "unknown"),
    "non-string task type": (_set("tasks.0.type", 5), "wf", "a", "type"),
    "unsupported task type": (_set("tasks.0.type", "EVENT"), "wf", "a", "not supported yet"),
    "negative retryDelaySeconds": (
        _set("tasks.0.taskDefinition.retryDelaySeconds", -1),
        "wf",
        "a",
        "retryDelaySeconds must not be negative",
    ),
    "bad retryLogic": (
        _set("tasks.0.taskDefinition.retryLogic", "SOMETIMES"),
        "wf",
        "a",
        "retryLogic",
    ),
    "non-numeric task timeoutSeconds": (
        _set("tasks.0.taskDefinition.timeoutSeconds", "soon"),
        "wf",
        "a",
        "timeoutSeconds must be a number",
    ),
    "boolean task timeoutSeconds": (
        _set("tasks.0.taskDefinition.timeoutSeconds", True),
        "wf",
        "a",
        "timeoutSeconds must be a number",
    ),
    "non-numeric workflow timeoutSeconds": (
        _set("timeoutSeconds", "soon"),
        "wf",
        None,
        "timeoutSeconds must be a number",
    ),
    "negative startDelay": (_set("tasks.0.startDelay", -5), "wf", "a", "startDelay"),
    "negative retryCount override": (_set("tasks.0.retryCount", -1), "wf", "a", "retryCount"),
    "fractional retryCount override": (_set("tasks.0.retryCount", 1.5), "wf", "a", "retryCount"),
    "task inputParameters not an object": (
        _set("tasks.0.inputParameters", ["x"]),
        "wf",
        "a",
        "inputParameters must be an object",
    ),
    "unparseable task expression": (
        _set("tasks.0.inputParameters", {"x": "${workflow.input.[}"}),
        "wf",
        "a",
        "cannot parse expression",
    ),
    "unparseable output expression": (
        _set("outputParameters", {"x": "${a.output..}"}),
        "wf",
        None,
        "cannot parse expression",
    ),
    "outputParameters not an object": (
        _set("outputParameters", [1]),
        "wf",
        None,
        "outputParameters must be an object",
    ),
    "workflow inputParameters not a list": (
        _set("inputParameters", {"a": 1}),
        "wf",
        None,
        "inputParameters must be a list",
    ),
    "variables not an object": (_set("variables", [1]), "wf", None, "variables"),
    "workflow timeoutPolicy RETRY": (_set("timeoutPolicy", "RETRY"), "wf", None, "timeoutPolicy"),
    "unknown workflow timeoutPolicy": (
        _set("timeoutPolicy", "NEVER"),
        "wf",
        None,
        "timeoutPolicy",
    ),
    "negative version": (_set("version", -1), "wf", None, "version"),
    "boolean version": (_set("version", True), "wf", None, "version"),
    "non-numeric schemaVersion": (_set("schemaVersion", "two"), "wf", None, "schemaVersion"),
    "non-JSON input": (_set("tasks.0.inputParameters", {"x": {1, 2}}), "wf", None, "JSON"),
}


@pytest.mark.parametrize(
    ("mutate", "workflow", "ref", "words"), list(MALFORMED.values()), ids=list(MALFORMED)
)
def test_a_malformed_definition_raises_definition_error_naming_the_culprit(
    mutate: Callable[[dict[str, Any]], None], workflow: str | None, ref: str | None, words: str
) -> None:
    raw = minimal()
    mutate(raw)
    with pytest.raises(DefinitionError) as caught:
        parse_workflow_def(raw)
    error = caught.value
    assert words in error.problem
    assert (error.workflow, error.ref) == (workflow, ref)


def test_the_error_message_names_the_workflow_the_task_and_the_problem() -> None:
    raw = minimal()
    raw["tasks"][0]["type"] = "FROBNICATE"
    with pytest.raises(DefinitionError) as caught:
        parse_workflow_def(raw)
    assert str(caught.value) == (
        "workflow 'wf', task 'a': unknown task type 'FROBNICATE': neither built in nor a "
        "system task registered on this runtime (register one with "
        "rt.system_task('FROBNICATE', fn) first)"
    )


def _nest(kind: str, inner: dict[str, Any]) -> dict[str, Any]:
    """A workflow whose only task is a `kind` holding `inner` (in a case, a branch, a body)."""
    outer: dict[str, Any] = {"name": "o", "taskReferenceName": "outer", "type": kind}
    if kind == "SWITCH":
        outer.update(expression="x", decisionCases={"yes": [inner]})
    elif kind == "FORK_JOIN":
        outer["forkTasks"] = [[{"name": "b", "taskReferenceName": "b"}], [inner]]
    else:
        outer.update(loopCondition="false", loopOver=[inner])
    return {"name": "wf", "tasks": [outer]}


@pytest.mark.parametrize(
    ("kind", "inner", "error"),
    [
        (
            "SWITCH",
            {"name": "i", "taskReferenceName": "inner", "retryCount": "x"},
            "workflow 'wf', task 'inner': retryCount must be an integer, got 'x'",
        ),
        (
            "FORK_JOIN",
            {
                "name": "i",
                "taskReferenceName": "inner",
                "taskDefinition": {"retryDelaySeconds": -2},
            },
            "workflow 'wf', task 'inner': taskDefinition.retryDelaySeconds must not be negative, got -2",
        ),
        (
            "DO_WHILE",
            {
                "name": "i",
                "taskReferenceName": "inner",
                "taskDefinition": {"circuitBreaker": {"windowSize": 0}},
            },
            "workflow 'wf', task 'inner': taskDefinition.circuitBreaker.windowSize must be >= 1, got 0",
        ),
        (
            "SWITCH",
            {"name": "i"},
            "workflow 'wf', task 'outer': decisionCases['yes'][0] has no 'taskReferenceName'",
        ),
        (
            "FORK_JOIN",
            "not a task",
            "workflow 'wf', task 'outer': forkTasks[1][0] must be an object, got 'not a task'",
        ),
    ],
)
def test_an_error_in_a_nested_task_names_that_task_and_the_field(
    kind: str, inner: Any, error: str
) -> None:
    """A task in a case, a branch or a loop body is named; without a reference, where it sits."""
    with pytest.raises(DefinitionError) as caught:
        parse_workflow_def(_nest(kind, inner))
    assert str(caught.value) == error


def test_a_task_field_given_as_null_takes_its_default() -> None:
    noisy = minimal()
    noisy["tasks"][0].update(
        type=None, inputParameters=None, startDelay=None, optional=None, retryCount=None
    )
    noisy["tasks"][0]["taskDefinition"] = {"retryCount": None, "timeoutPolicy": None}
    plain = minimal()
    plain["tasks"][0]["taskDefinition"] = {}
    assert parse_workflow_def(noisy) == parse_workflow_def(plain)
    assert to_conductor_json(parse_workflow_def(noisy))["tasks"][0]["type"] == "SIMPLE"


def test_the_normalised_json_keeps_numbers_as_given() -> None:
    raw = minimal()
    raw["tasks"][0]["startDelay"] = 5
    raw["timeoutSeconds"] = 0.5
    normalised = to_conductor_json(parse_workflow_def(raw))
    assert (normalised["tasks"][0]["startDelay"], normalised["timeoutSeconds"]) == (5, 0.5)
    assert type(normalised["tasks"][0]["startDelay"]) is int


def test_a_definition_that_is_not_an_object_is_rejected() -> None:
    with pytest.raises(DefinitionError, match="must be an object"):
        parse_workflow_def(["not", "a", "dict"])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ("not a dict", "must be an object"),
        ({}, "a task definition has no 'name'"),
        ({"name": "t", "retryDelaySeconds": -1}, "retryDelaySeconds must not be negative"),
        (
            {"name": "t", "retryLogic": "SOMETIMES"},
            "retryLogic must be one of FIXED, LINEAR_BACKOFF, EXPONENTIAL_BACKOFF, got 'SOMETIMES'",
        ),
        ({"name": "t", "timeoutSeconds": "soon"}, "timeoutSeconds must be a number"),
        ({"name": "t", "timeoutPolicy": "SHRUG"}, "timeoutPolicy"),
        ({"name": "t", "concurrentExecLimit": -1}, "concurrentExecLimit"),
        (
            {"name": "t", "rateLimitPerFrequency": 5, "rateLimitFrequencyInSeconds": 0},
            "rateLimitFrequencyInSeconds must be positive",
        ),
    ],
)
def test_a_malformed_task_def_raises_definition_error(raw: Any, words: str) -> None:
    with pytest.raises(DefinitionError) as caught:
        parse_task_def(raw)
    assert words in caught.value.problem
    if isinstance(raw, dict) and raw.get("name"):
        assert caught.value.workflow == raw["name"]


@pytest.mark.parametrize(
    ("logic", "expected"),
    [
        ("FIXED", [10, 10, 10, 10]),
        ("LINEAR_BACKOFF", [30, 60, 90, 120]),  # 10 * 3 * (n + 1)
        ("EXPONENTIAL_BACKOFF", [10, 20, 40, 80]),  # 10 * 2**n
    ],
)
def test_retry_delay_follows_the_retry_logic(logic: str, expected: list[float]) -> None:
    task_def = parse_task_def(
        {"name": "t", "retryLogic": logic, "retryDelaySeconds": 10, "backoffScaleFactor": 3}
    )
    assert [task_def.retry_delay_for(n) for n in range(4)] == expected


@pytest.mark.parametrize(
    ("logic", "expected"),
    [
        ("FIXED", [10, 10, 10, 10]),
        ("LINEAR_BACKOFF", [30, 45, 45, 45]),
        ("EXPONENTIAL_BACKOFF", [10, 20, 40, 45]),
    ],
)
def test_retry_delay_is_capped_by_max_retry_delay(logic: str, expected: list[float]) -> None:
    task_def = parse_task_def(
        {
            "name": "t",
            "retryLogic": logic,
            "retryDelaySeconds": 10,
            "backoffScaleFactor": 3,
            "maxRetryDelaySeconds": 45,
        }
    )
    assert [task_def.retry_delay_for(n) for n in range(4)] == expected


@settings(max_examples=100)
@given(
    logic=st.sampled_from(list(RetryLogic)),
    delay=st.integers(0, 600),
    scale=st.integers(1, 5),
    cap=st.none() | st.integers(0, 1000),
    retry=st.integers(0, 12),
)
def test_retry_delay_is_never_negative_never_above_the_cap_and_never_shrinks(
    logic: RetryLogic, delay: int, scale: int, cap: int | None, retry: int
) -> None:
    """For every logic and policy the delay is in [0, cap] and non-decreasing in the count."""
    task_def = TaskDef(
        name="t",
        retry_logic=logic,
        retry_delay_s=delay,
        backoff_scale_factor=scale,
        max_retry_delay_s=cap,
    )
    current = task_def.retry_delay_for(retry)
    assert current >= 0
    if cap:  # 0 is no cap, as Conductor's applyMaxRetryDelayCap has it
        assert current <= cap
    assert task_def.retry_delay_for(retry + 1) >= current


@pytest.mark.parametrize("logic", ["FIXED", "LINEAR_BACKOFF", "EXPONENTIAL_BACKOFF"])
def test_a_max_retry_delay_of_zero_is_no_cap(logic: str) -> None:
    """DeciderService.applyMaxRetryDelayCap: `cap > 0 && delay > cap ? cap : delay`, so
    maxRetryDelaySeconds 0 leaves the delay as the retry logic computes it."""
    capped_at_zero = parse_task_def(
        {"name": "t", "retryLogic": logic, "retryDelaySeconds": 10, "maxRetryDelaySeconds": 0}
    )
    uncapped = parse_task_def({"name": "t", "retryLogic": logic, "retryDelaySeconds": 10})
    delays = [capped_at_zero.retry_delay_for(n) for n in range(3)]
    assert delays == [uncapped.retry_delay_for(n) for n in range(3)]
    assert delays[0] == 10


@pytest.mark.parametrize("build", [minimal, rich])
def test_to_conductor_json_round_trips_to_an_equal_definition(
    build: Callable[[], dict[str, Any]],
) -> None:
    definition = parse_workflow_def(build())
    normalised = to_conductor_json(definition)
    again = parse_workflow_def(normalised)
    assert again == definition
    assert to_conductor_json(again) == normalised
    assert json.loads(json.dumps(normalised)) == normalised


def test_to_conductor_json_keeps_what_it_understands() -> None:
    normalised = to_conductor_json(parse_workflow_def(rich()))
    assert normalised["timeoutSeconds"] == 600
    assert normalised["failureWorkflow"] == "cleanup"
    assert normalised["tasks"][0]["retryCount"] == 1
    assert normalised["tasks"][0]["optional"] is True
    assert normalised["tasks"][1]["taskDefinition"]["retryLogic"] == "EXPONENTIAL_BACKOFF"


def test_to_conductor_json_gives_a_copy_the_caller_may_change() -> None:
    definition = parse_workflow_def(rich())
    before = copy.deepcopy(definition.raw)
    to_conductor_json(definition)["tasks"][0]["name"] = "changed"
    assert definition.raw == before


def test_parsing_does_not_change_the_callers_dict() -> None:
    raw = rich()
    before = copy.deepcopy(raw)
    parse_workflow_def(raw)
    assert raw == before


def test_spec_and_position_find_a_task_by_reference() -> None:
    definition = parse_workflow_def(rich())
    assert definition.spec("b").name == "parse"
    assert definition.position("b") == 1
    with pytest.raises(KeyError):
        definition.spec("zz")
    with pytest.raises(KeyError):
        definition.position("zz")


def test_the_vendored_reference_definitions_match_shared_when_it_is_there() -> None:
    """tests/conductor_defs is a faithful copy of shared/conductor-defs (skipped without shared/)."""
    from tests.conductor_defs import SHARED_DEFS

    if not SHARED_DEFS.is_dir():
        pytest.skip("shared/ is not beside this checkout")
    shared = {p.name: p.read_bytes() for p in SHARED_DEFS.glob("*.json")}
    vendored = {p.name: p.read_bytes() for p in CONDUCTOR_DEFS.glob("*.json")}
    assert vendored == shared


def test_spec_finds_nested_tasks_and_loop_iterations_from_its_index() -> None:
    definition = parse_workflow_def(
        {
            "name": "nested",
            "tasks": [
                {"name": "a", "taskReferenceName": "a"},
                {
                    "name": "loop", "taskReferenceName": "loop", "type": "DO_WHILE",
                    "loopCondition": "false",
                    "loopOver": [{"name": "inner", "taskReferenceName": "inner"}],
                },
            ],
        }
    )  # fmt: skip
    assert definition.spec("inner").name == "inner"
    assert definition.spec("inner__3") is definition.spec("inner")  # an iteration's reference
    assert definition.spec("loop").type == "DO_WHILE"
    with pytest.raises(KeyError):
        definition.spec("inner__x")
    assert definition == parse_workflow_def(definition.raw)  # the index is not compared
