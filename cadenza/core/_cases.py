"""Small terms of Conductor's flow language the walker and the decider share: a loop
iteration's reference, a failed run's reason, a case value as text, a switch's outcome, a
branch taken, a finished loop's output."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cadenza.core._state import TaskState
from cadenza.language._definition import TaskSpec, walk


def iteration_ref(ref: str, iteration: int) -> str:
    """Conductor's name for `ref` in loop iteration `iteration` (0: not in a loop)."""
    return f"{ref}__{iteration}" if iteration else ref


def failure_reason(task_id: str, status: str, reason: str | None) -> str:
    """Conductor's reason for a run a task ended: `Task <id> failed with status: <S> and
    reason: '<r>'`, a missing reason printed as Java prints null."""
    return f"Task {task_id} failed with status: {status} and reason: '{reason or 'null'}'"


def case_text(value: Any) -> str:
    """A case value as Conductor compares it: as text, `"" + value` in Java (a missing
    value is "null"; SwitchTaskMapper and DecisionTaskMapper.getEvaluatedCaseValue)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def chosen_branch(spec: TaskSpec, task: TaskState) -> tuple[TaskSpec, ...]:
    """The branch a completed SWITCH or DECISION took: a SWITCH's `selectedCase` (an empty
    case list is taken as it is), a DECISION's `caseOutput[0]` (an empty case list falls to
    the default case, DecisionTaskMapper.java:94-96)."""
    if "selectedCase" in task.output:  # a SWITCH, or a DECISION journaled before issue 12
        case = task.output["selectedCase"]
    else:
        case = (task.output.get("caseOutput") or [None])[0]
    branch = spec.branch_for(case)
    return branch or spec.default_case if spec.type == "DECISION" else branch


def switch_outcome(
    spec: TaskSpec, task_input: dict[str, Any], value: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A SWITCH's or DECISION's input and output once its case `value` is known: a DECISION's
    input is `case` (and `hasChildren`), its output `caseOutput` (DecisionTaskMapper.java:84-88,
    :107); a SWITCH's input gains `case`, its output is `evaluationResult` and `selectedCase`
    (SwitchTaskMapper.java:104-107)."""
    case = case_text(value)
    if spec.type == "DECISION":
        has_children = bool(spec.branch_for(case) or spec.default_case)
        decided = {"case": case, **({"hasChildren": "true"} if has_children else {})}
        return decided, {"caseOutput": [case]}
    return {**task_input, "case": case}, {"evaluationResult": [case], "selectedCase": case}


def loop_output(spec: TaskSpec, current: Mapping[str, TaskState], iteration: int) -> dict[str, Any]:
    """A finished DO_WHILE's output: `iteration`, and each iteration's body outputs under
    `"1"`, `"2"`... (`current` maps references, `ref__n` in a loop, to current attempts)."""
    result: dict[str, Any] = {"iteration": iteration}
    body = [t.ref for t in walk(spec.loop_over)]
    for n in range(1, iteration + 1):
        result[str(n)] = {
            ref: current[iteration_ref(ref, n)].output
            for ref in body
            if iteration_ref(ref, n) in current
        }
    return result
