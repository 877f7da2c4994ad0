"""Forks and joins as Conductor's mappers make them: type FORK, a JOIN's `joinOn` input,
and journals written before a fork ran as FORK still replay (issue 12)."""

from __future__ import annotations

from typing import Any

from cadenza.core._decide import decide
from cadenza.core._events import TaskCompleted, TaskFailed, TaskScheduled, WorkflowStarted
from cadenza.core._schedule import Environment
from cadenza.core._state import WorkflowState, fold
from cadenza.language._parse import parse_workflow_def
from cadenza.language._taskdef import TaskDef

DYNAMIC = {
    "name": "dyn",
    "tasks": [
        {"name": "fork", "taskReferenceName": "fork", "type": "FORK_JOIN_DYNAMIC",
         "dynamicForkTasksParam": "tasks", "dynamicForkTasksInputParamName": "inputs",
         "inputParameters": {"tasks": "${workflow.input.tasks}",
                             "inputs": "${workflow.input.inputs}"}},
        {"name": "join", "taskReferenceName": "join", "type": "JOIN",
         "inputParameters": {"note": "${workflow.input.note}"}},
    ],
}  # fmt: skip
STATIC = {
    "name": "static",
    "tasks": [
        {"name": "fork", "taskReferenceName": "fork", "type": "FORK_JOIN",
         "forkTasks": [[{"name": "a", "taskReferenceName": "a"}],
                       [{"name": "b", "taskReferenceName": "b"}]]},
        {"name": "join", "taskReferenceName": "join", "type": "JOIN", "joinOn": ["a", "b"],
         "inputParameters": {"ignored": "${workflow.input.x}"}},
    ],
}  # fmt: skip
RETRY_ONCE = Environment(task_defs={"x": TaskDef(name="x", retry_count=1, retry_delay_s=0.0)})
FORKED = {"tasks": [{"name": "x", "taskReferenceName": "x1"}], "inputs": {"x1": {"k": 1}}}


def _run(raw: dict[str, Any], input_: dict[str, Any]) -> tuple[Any, WorkflowState]:
    definition = parse_workflow_def(raw)
    state = fold("r", [WorkflowStarted(at=1.0, run_id="r", name=raw["name"], version=1,
                                       digest="d", input=input_)])  # fmt: skip
    return definition, state


def _decide_all(
    definition: Any, state: WorkflowState, env: Environment | None = None
) -> WorkflowState:
    while events := decide(definition, state, env or Environment()):
        fold(state.id, events, state)
    return state


def test_a_static_fork_runs_as_fork_and_its_join_takes_only_join_on() -> None:
    """ForkJoinTaskMapper.java:75 (FORK); JoinTaskMapper.java:60-61 (input = joinOn only)."""
    definition, state = _run(STATIC, {"x": 1})
    state = _decide_all(definition, state)
    assert [(t.ref, t.type) for t in state.tasks] == [
        ("fork", "FORK"), ("a", "a"), ("b", "b"), ("join", "JOIN")
    ]  # fmt: skip
    assert state.tasks[3].input == {"joinOn": ["a", "b"]}


def test_a_dynamic_fork_runs_as_fork_and_its_join_gets_the_forked_refs() -> None:
    """ForkJoinDynamicTaskMapper.java:273-274: the JOIN's own inputParameters (unresolved,
    as Conductor copies them) plus joinOn, the forked references."""
    definition, state = _run(DYNAMIC, {**FORKED, "note": "n"})
    state = _decide_all(definition, state)
    assert [(t.ref, t.type) for t in state.tasks] == [
        ("fork", "FORK"), ("x1", "x"), ("join", "JOIN")
    ]  # fmt: skip
    assert state.tasks[2].input == {"note": "${workflow.input.note}", "joinOn": ["x1"]}


def test_a_dynamic_fork_journaled_as_fork_join_dynamic_still_runs_its_branches() -> None:
    """A journal from before forks ran as FORK: its fork's branches are still found, so the
    replayed run goes on to its JOIN and completes once the forked task does."""
    definition, state = _run(DYNAMIC, FORKED)
    forked_defs = [{"name": "x", "taskReferenceName": "x1", "inputParameters": {"k": 1}}]
    fold("r", [
        TaskScheduled(at=1.0, task_id="r-0", ref="fork", name="fork",
                      type="FORK_JOIN_DYNAMIC", input={}, group="-"),
        TaskCompleted(at=1.0, task_id="r-0",
                      output={"forkedTasks": ["x1"], "forkedTaskDefs": forked_defs}),
    ], state)  # fmt: skip
    state = _decide_all(definition, state)
    assert [(t.ref, t.type) for t in state.tasks] == [
        ("fork", "FORK_JOIN_DYNAMIC"), ("x1", "x"), ("join", "JOIN")
    ]  # fmt: skip
    assert state.tasks[1].input == {"k": 1}
    fold("r", [TaskFailed(at=2.0, task_id="r-1", reason="flaky")], state)
    state = _decide_all(definition, state, RETRY_ONCE)  # the forked task's spec is found
    retried = state.tasks[3]
    assert (retried.ref, retried.attempt, retried.retried_from) == ("x1", 1, "r-1")
    fold("r", [TaskCompleted(at=3.0, task_id=retried.id, output={"done": True})], state)
    state = _decide_all(definition, state)
    assert state.tasks[2].output == {"x1": {"done": True}}
    assert state.status == "COMPLETED"
