"""A task Conductor's mapper refuses ends the run, and the refused round leaves nothing.

Conductor's `WorkflowExecutorOps.decide` (:1298-1420) persists each round as it goes;
a mapper that throws `TerminateWorkflowException` (ForkJoinDynamicTaskMapper on bad
input, DynamicTaskMapper with no task name) escapes `DeciderService.decide`, so the
tasks that round had mapped are never added, and `terminate` cancels what earlier
rounds left in flight and ends the run FAILED with the exception's message.
"""

from __future__ import annotations

from typing import Any

from cadenza.core._decide import decide
from cadenza.core._events import TaskCompleted, WorkflowStarted
from cadenza.core._schedule import Environment
from cadenza.core._state import WorkflowState, fold
from cadenza.language._parse import parse_workflow_def


def _simple(ref: str) -> dict[str, Any]:
    return {"name": ref, "taskReferenceName": ref, "type": "SIMPLE"}


DYNAMIC_FORK = [
    {"name": "dyn", "taskReferenceName": "dyn", "type": "FORK_JOIN_DYNAMIC",
     "inputParameters": {"tasks": "${workflow.input.tasks}", "inputs": "${workflow.input.inputs}"},
     "dynamicForkTasksParam": "tasks", "dynamicForkTasksInputParamName": "inputs"},
    {"name": "dyn_join", "taskReferenceName": "dyn_join", "type": "JOIN"},
]  # fmt: skip
DYNAMIC_TASK = {"name": "pick", "taskReferenceName": "pick", "type": "DYNAMIC",
                "dynamicTaskNameParam": "taskToExecute",
                "inputParameters": {"taskToExecute": "${workflow.input.missing}"}}  # fmt: skip


def _forked(second_branch: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "name": "forked",
        "outputParameters": {"seen": "${workflow.input.tag}"},
        "tasks": [
            _simple("first"),
            {"name": "fork", "taskReferenceName": "fork", "type": "FORK_JOIN",
             "forkTasks": [[_simple("a")], second_branch]},
            {"name": "join", "taskReferenceName": "join", "type": "JOIN",
             "joinOn": ["a", second_branch[-1]["taskReferenceName"]]},
        ],
    }  # fmt: skip


BAD_INPUT = {"tag": "t", "tasks": [_simple("x")], "inputs": {"x": "not a map"}}


def _run_to_the_fork(raw: dict[str, Any]) -> tuple[Any, WorkflowState]:
    definition = parse_workflow_def(raw)
    state = fold("r", [WorkflowStarted(at=1.0, run_id="r", name=raw["name"], version=1,
                                       digest="d", input=BAD_INPUT)])  # fmt: skip
    fold(state.id, decide(definition, state, Environment()), state)
    assert [(t.ref, t.status.value) for t in state.tasks] == [("first", "SCHEDULED")]
    first = state.tasks[0].id
    fold(state.id, [TaskCompleted(at=2.0, task_id=first, output={})], state)
    return definition, state


def test_a_dynamic_fork_refused_mid_round_leaves_none_of_the_rounds_tasks() -> None:
    """Before: the round's FORK and its first branch `a` were kept (then cancelled)."""
    definition, state = _run_to_the_fork(_forked(DYNAMIC_FORK))
    fold(state.id, decide(definition, state, Environment()), state)
    assert [(t.ref, t.status.value) for t in state.tasks] == [("first", "COMPLETED")]
    assert state.status.value == "FAILED"
    assert "'dyn'" in (state.reason or "")
    assert state.output == {"seen": "t"}  # terminateWorkflow evaluates the output


def test_a_dynamic_task_refused_mid_round_leaves_none_of_the_rounds_tasks() -> None:
    """DynamicTaskMapper with no task name: the same; the reason is Conductor's."""
    definition, state = _run_to_the_fork(_forked([DYNAMIC_TASK]))
    fold(state.id, decide(definition, state, Environment()), state)
    assert [(t.ref, t.status.value) for t in state.tasks] == [("first", "COMPLETED")]
    assert state.status.value == "FAILED"
    assert (state.reason or "").startswith("Cannot map a dynamic task based on the parameter")
    assert state.output == {"seen": "t"}


def test_what_earlier_rounds_left_in_flight_is_cancelled() -> None:
    """A task scheduled in an earlier round is cancelled by the refusal, as terminate does."""
    raw = {"name": "side", "tasks": [
        {"name": "fork", "taskReferenceName": "fork", "type": "FORK_JOIN",
         "forkTasks": [[_simple("slow")], [_simple("quick"), *DYNAMIC_FORK]]},
        {"name": "join", "taskReferenceName": "join", "type": "JOIN",
         "joinOn": ["slow", "dyn_join"]},
    ]}  # fmt: skip
    definition = parse_workflow_def(raw)
    state = fold("r", [WorkflowStarted(at=1.0, run_id="r", name="side", version=1, digest="d",
                                       input=BAD_INPUT)])  # fmt: skip
    fold(state.id, decide(definition, state, Environment()), state)
    quick = next(t for t in state.tasks if t.ref == "quick")
    fold(state.id, [TaskCompleted(at=2.0, task_id=quick.id, output={})], state)
    fold(state.id, decide(definition, state, Environment()), state)
    assert [(t.ref, t.status.value) for t in state.tasks] == [
        ("fork", "COMPLETED"), ("slow", "CANCELED"), ("quick", "COMPLETED"),
        ("join", "CANCELED"),
    ]  # fmt: skip
    assert state.status.value == "FAILED"
