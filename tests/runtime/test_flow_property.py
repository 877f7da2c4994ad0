"""The walker under hypothesis: random nested definitions, random completion orders."""

from __future__ import annotations

import itertools
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from cadenza.core import _flow
from cadenza.core._decide import decide, settles
from cadenza.core._events import Event, TaskCompleted, TaskFailed, WorkflowStarted
from cadenza.core._schedule import Environment
from cadenza.core._state import WorkflowState, apply, fold
from cadenza.language._parse import parse_workflow_def
from cadenza.language._taskdef import TaskDef


def tasks(draw: Any, counter: Any, depth: int, in_loop: bool) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for _ in range(draw(st.integers(1, 3))):
        ref = f"t{next(counter)}"
        kind = draw(
            st.sampled_from(
                ["SIMPLE", "SIMPLE", "SET", "SWITCH", "FORK", "LOOP"]
                if depth
                else ["SIMPLE", "SET"]
            )
        )
        if kind == "SWITCH":
            out.append({"name": ref, "taskReferenceName": ref, "type": "SWITCH",
                        "evaluatorType": "value-param", "expression": "v",
                        "inputParameters": {"v": draw(st.sampled_from(["a", "b", "z"]))},
                        "decisionCases": {"a": tasks(draw, counter, depth - 1, in_loop)},
                        "defaultCase": draw(st.sampled_from([[], None])) or tasks(draw, counter, depth - 1, in_loop)})  # fmt: skip
        elif kind == "FORK":
            branches = [
                tasks(draw, counter, depth - 1, in_loop) for _ in range(draw(st.integers(1, 3)))
            ]
            out.append(
                {"name": ref, "taskReferenceName": ref, "type": "FORK_JOIN", "forkTasks": branches}
            )
            last = [b[-1]["taskReferenceName"] for b in branches]
            out.append(
                {"name": f"{ref}j", "taskReferenceName": f"{ref}j", "type": "JOIN", "joinOn": last}
            )
        elif kind == "LOOP" and not in_loop:
            out.append({"name": ref, "taskReferenceName": ref, "type": "DO_WHILE",
                        "items": "${workflow.input.items}",
                        "loopOver": tasks(draw, counter, depth - 1, True)})  # fmt: skip
        elif kind == "SET":  # a system task ending in the round that schedules it
            out.append({"name": ref, "taskReferenceName": ref, "type": "SET_VARIABLE",
                        "inputParameters": {ref: 1}})  # fmt: skip
        else:
            out.append({"name": "work", "taskReferenceName": ref, "optional": draw(st.booleans())})
    return out


@st.composite
def definitions(draw: Any) -> dict[str, Any]:
    return {"name": "random", "tasks": tasks(draw, itertools.count(), 3, False)}


ENV = Environment(task_defs={"work": TaskDef(name="work", retry_count=1, retry_delay_s=0)})


class _EveryType(frozenset[str]):
    def __contains__(self, item: object) -> bool:
        return True


def decide_checked(definition: Any, state: WorkflowState) -> list[Event]:
    """`decide`, asserted equal to the walk without its fast path past tasks that succeeded
    before the round (`_flow._WALKED_INTO`)."""
    fast = decide(definition, state, ENV)
    walked_into = _flow._WALKED_INTO
    _flow._WALKED_INTO = _EveryType()
    try:
        slow = decide(definition, state, ENV)
    finally:
        _flow._WALKED_INTO = walked_into
    assert fast == slow
    return fast


@settings(max_examples=80, deadline=None)
@given(raw=definitions(), data=st.data())
def test_random_nested_workflows_end_with_every_task_terminal_and_replay_exactly(
    raw: dict[str, Any], data: st.DataObject
) -> None:
    """Any nesting of forks, switches and loops, under any completion order, ends with every
    task terminal; folding the journal from any crash point gives the live state."""
    definition = parse_workflow_def(raw)
    state = WorkflowState(id="r")
    events: list[Event] = []

    def feed(event: Event) -> None:
        apply(state, event)
        events.append(event)
        for _ in range(10_000):
            decisions = decide_checked(definition, state)
            if not decisions:
                return
            for decision in decisions:
                apply(state, decision)
                events.append(decision)
            if settles(decisions):  # the run's actor stops here: the next round is empty
                assert decide_checked(definition, state) == []
                return
        raise AssertionError("no fixpoint")

    items = data.draw(st.lists(st.integers(), max_size=2))
    feed(
        WorkflowStarted(
            at=0.0, run_id="r", name="random", version=1, digest="d", input={"items": items}
        )
    )
    for step in range(500):
        if state.status.terminal:
            break
        pending = [t for t in state.tasks if not t.retried and not t.status.terminal]
        assert pending, "a running run at rest has nothing in flight"
        task = data.draw(st.sampled_from(pending))
        if data.draw(st.booleans()):
            feed(TaskCompleted(at=float(step), task_id=task.id, output={"s": step}))
        else:
            feed(TaskFailed(at=float(step), task_id=task.id, reason="x"))
    assert state.status.terminal
    assert all(t.status.terminal for t in state.tasks)
    live = json.dumps(state.to_json(), sort_keys=True)
    for k in range(0, len(events) + 1, max(1, len(events) // 10)):
        restored = WorkflowState.from_json(json.loads(json.dumps(fold("r", events[:k]).to_json())))
        assert json.dumps(fold("r", events[k:], restored).to_json(), sort_keys=True) == live
