"""SWITCH and DECISION tasks as Conductor's mappers make them (issue 12, item 2)."""

from __future__ import annotations

from typing import Any

from cadenza.core._decide import decide
from cadenza.core._events import TaskCompleted, TaskScheduled, WorkflowStarted
from cadenza.core._schedule import Environment
from cadenza.core._state import WorkflowState, fold
from cadenza.language._definition import WorkflowDef
from cadenza.language._parse import parse_workflow_def


def _conditional(kind: str, cases: dict[str, Any], default: list[Any]) -> WorkflowDef:
    task: dict[str, Any] = {
        "name": "c", "taskReferenceName": "c", "type": kind,
        "inputParameters": {"v": "${workflow.input.v}", "other": 1},
        "decisionCases": cases, "defaultCase": default,
    }  # fmt: skip
    task.update({"caseValueParam": "v"} if kind == "DECISION" else {"expression": "v"})
    return parse_workflow_def({"name": kind.lower(), "tasks": [task]})


def _simple(ref: str) -> dict[str, Any]:
    return {"name": ref, "taskReferenceName": ref}


def _started(definition: WorkflowDef, input_: dict[str, Any]) -> WorkflowState:
    return fold("r", [WorkflowStarted(at=1.0, run_id="r", name=definition.name, version=1,
                                      digest="d", input=input_)])  # fmt: skip


def _decided(definition: WorkflowDef, state: WorkflowState) -> WorkflowState:
    while events := decide(definition, state, Environment()):
        fold(state.id, events, state)
    return state


def test_a_decision_has_input_case_and_output_case_output() -> None:
    """DecisionTaskMapper.java:84-88, :107: input `case` (and `hasChildren` when a branch
    has tasks), output `caseOutput: [case]`; its inputParameters are not kept."""
    definition = _conditional("DECISION", {"a": [_simple("ta")]}, [])
    state = _decided(definition, _started(definition, {"v": "a"}))
    decision = state.tasks[0]
    assert (decision.type, decision.input, decision.output) == (
        "DECISION", {"case": "a", "hasChildren": "true"}, {"caseOutput": ["a"]}
    )  # fmt: skip
    assert [t.ref for t in state.tasks] == ["c", "ta"]
    state = _decided(definition, _started(definition, {"v": "zzz"}))
    assert (state.tasks[0].input, state.status) == ({"case": "zzz"}, "COMPLETED")


def test_a_switch_keeps_its_input_and_adds_case() -> None:
    """SwitchTaskMapper.java:104-107: the task input plus `case`; output evaluationResult
    and selectedCase."""
    definition = _conditional("SWITCH", {"a": [_simple("ta")]}, [])
    state = _decided(definition, _started(definition, {"v": "a"}))
    switch = state.tasks[0]
    assert switch.input == {"v": "a", "other": 1, "case": "a"}
    assert switch.output == {"evaluationResult": ["a"], "selectedCase": "a"}


def test_an_empty_case_falls_to_the_default_in_a_decision_but_not_in_a_switch() -> None:
    """DecisionTaskMapper.java:94-96 (`null || isEmpty()` -> defaultCase); SwitchTaskMapper
    falls back only when no case key matched."""
    for kind, expected in (("DECISION", ["c", "dflt"]), ("SWITCH", ["c"])):
        definition = _conditional(kind, {"a": []}, [_simple("dflt")])
        state = _decided(definition, _started(definition, {"v": "a"}))
        assert [t.ref for t in state.tasks] == expected, kind


def test_a_decision_journaled_with_selected_case_still_takes_its_branch() -> None:
    """A journal from before DECISION output caseOutput: its `selectedCase` is followed."""
    definition = _conditional("DECISION", {"a": [_simple("ta")]}, [_simple("dflt")])
    state = _started(definition, {"v": "a"})
    fold("r", [
        TaskScheduled(at=1.0, task_id="r-0", ref="c", name="c", type="DECISION",
                      input={"v": "a"}, group="-"),
        TaskCompleted(at=1.0, task_id="r-0",
                      output={"evaluationResult": ["a"], "selectedCase": "a"}),
    ], state)  # fmt: skip
    assert [t.ref for t in _decided(definition, state).tasks] == ["c", "ta"]
