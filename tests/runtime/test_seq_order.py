"""The task list in Conductor's `seq` order, decided round by round (core/_round.py).

Conductor's WorkflowExecutorOps.decide runs in rounds: DeciderService.decide collects the
next tasks of what ended before the round (a fork's mapper adds its heads and its JOIN at
once), scheduleTask numbers them, then the synchronous system tasks run (a DO_WHILE
schedules its iteration there); what those lead to is the next round. Each expected list
below is the one Conductor's `seq` gives, worked out from that code.
"""

from __future__ import annotations

from typing import Any

import cadenza
from cadenza.core._decide import decide
from cadenza.core._events import TaskCompleted, WorkflowStarted
from cadenza.core._schedule import Environment
from cadenza.core._state import WorkflowState, fold
from cadenza.language._parse import parse_workflow_def
from cadenza.testing import VirtualClock


def _lambda(ref: str) -> dict[str, Any]:
    return {"name": ref, "taskReferenceName": ref, "type": "LAMBDA",
            "inputParameters": {"scriptExpression": "return 1;"}}  # fmt: skip


def _simple(ref: str) -> dict[str, Any]:
    return {"name": ref, "taskReferenceName": ref, "type": "SIMPLE"}


def _fork(branches: list[list[dict[str, Any]]], join_on: list[str]) -> list[dict[str, Any]]:
    return [
        {"name": "fork", "taskReferenceName": "fork", "type": "FORK_JOIN", "forkTasks": branches},
        {"name": "join", "taskReferenceName": "join", "type": "JOIN", "joinOn": join_on},
    ]


LAMBDA_FORK = {"name": "lf", "tasks": _fork([[_lambda("l1"), _simple("s1")],
                                             [_lambda("l2"), _simple("s2")]], ["s1", "s2"])}  # fmt: skip
LOOP = {"name": "loop", "taskReferenceName": "loop", "type": "DO_WHILE",
        "loopCondition": "false", "loopOver": [_lambda("l1"), _simple("z")]}  # fmt: skip
LOOP_FORK = {"name": "lpf", "tasks": _fork([[LOOP], [_lambda("l2"), _simple("y")]], ["y"])}
TERMINATE = {"name": "end", "taskReferenceName": "end", "type": "TERMINATE",
             "inputParameters": {"terminationStatus": "COMPLETED"}}  # fmt: skip
TERMINATE_FORK = {"name": "tf", "tasks": _fork([[TERMINATE], [_simple("s")]], ["s"])}


def _decided(raw: dict[str, Any]) -> WorkflowState:
    definition = parse_workflow_def(raw)
    state = fold("r", [WorkflowStarted(at=1.0, run_id="r", name=raw["name"], version=1,
                                       digest="d", input={})])  # fmt: skip
    _settle(definition, state)
    return state


def _settle(definition: Any, state: WorkflowState) -> None:
    while events := decide(definition, state, Environment()):
        fold(state.id, events, state)


def test_a_fork_lists_its_heads_and_join_before_what_its_lambdas_lead_to() -> None:
    """Round 1: [fork, l1, l2, join] (ForkJoinTaskMapper), the LAMBDAs run; round 2: their
    next tasks, s1 then s2 (in the order of l1 and l2)."""
    state = _decided(LAMBDA_FORK)
    assert [t.ref for t in state.tasks] == ["fork", "l1", "l2", "join", "s1", "s2"]
    assert [t.id for t in state.tasks] == [f"r-{n}" for n in range(6)]


def test_a_loop_in_a_fork_starts_its_body_after_the_rounds_tasks() -> None:
    """Round 1: [fork, loop, l2, join], then the DO_WHILE runs and schedules l1__1
    (WorkflowExecutorOps.scheduleNextIteration); round 2: y, the next task of l2 (place 2),
    comes before z__1, the next task of l1__1 (place 4)."""
    state = _decided(LOOP_FORK)
    assert [t.ref for t in state.tasks] == ["fork", "loop", "l2", "join", "l1__1", "y", "z__1"]


def test_a_terminate_in_a_fork_ends_the_run_in_the_next_round() -> None:
    """Round 1 schedules [fork, end, s, join] and runs TERMINATE; the next decide finds the
    successful TERMINATE and ends the run, cancelling s and the JOIN (endExecution)."""
    state = _decided(TERMINATE_FORK)
    assert [(t.ref, t.status.value) for t in state.tasks] == [
        ("fork", "COMPLETED"), ("end", "COMPLETED"), ("s", "CANCELED"), ("join", "CANCELED"),
    ]  # fmt: skip
    assert state.status.value == "COMPLETED"
    assert state.reason == "Workflow is COMPLETED by TERMINATE task: r-1"


def test_a_loop_ends_an_iteration_only_once_every_task_of_its_body_is_terminal() -> None:
    """DoWhile.isIterationComplete: a forked branch no JOIN waits for still holds the
    iteration (here `w`, after the JOIN completed on `a`)."""
    body = _fork([[_simple("a")], [_simple("w")]], ["a"])
    raw = {"name": "lj", "tasks": [{"name": "loop", "taskReferenceName": "loop",
                                    "type": "DO_WHILE", "loopCondition": "false",
                                    "loopOver": body}]}  # fmt: skip
    definition = parse_workflow_def(raw)
    state = _decided(raw)
    a = next(t for t in state.tasks if t.ref == "a__1")
    fold("r", [TaskCompleted(at=2.0, task_id=a.id, output={})], state)
    _settle(definition, state)
    assert next(t for t in state.tasks if t.ref == "join__1").status.value == "COMPLETED"
    assert state.status.value == "RUNNING"
    assert next(t for t in state.tasks if t.ref == "loop").status.value == "IN_PROGRESS"
    w = next(t for t in state.tasks if t.ref == "w__1")
    fold("r", [TaskCompleted(at=3.0, task_id=w.id, output={})], state)
    _settle(definition, state)
    assert state.status.value == "COMPLETED"


async def test_the_order_survives_a_restart_from_the_journal(db_path: str) -> None:
    """A run reloaded from its records lists its tasks in the same order: the fork's, and a
    task skipped ahead of time first (Conductor creates it without a seq)."""
    clock = VirtualClock()
    raw = {**LAMBDA_FORK, "version": 1,
           "tasks": [*LAMBDA_FORK["tasks"], _simple("after")]}  # fmt: skip
    async with cadenza.Runtime(db_path, clock=clock, seed=1) as rt:
        await rt.register(raw)
        run_id = await rt.start("lf", {})
        await rt.skip(run_id, "after")
        await rt.settle()
        before = [(t.ref, t.status) for t in (await rt.get(run_id)).tasks]
    assert before == [
        ("after", "SKIPPED"), ("fork", "COMPLETED"), ("l1", "COMPLETED"), ("l2", "COMPLETED"),
        ("join", "IN_PROGRESS"), ("s1", "SCHEDULED"), ("s2", "SCHEDULED"),
    ]  # fmt: skip
    async with cadenza.Runtime(db_path, clock=VirtualClock(), seed=1) as rt:
        assert [(t.ref, t.status) for t in (await rt.get(run_id)).tasks] == before


async def test_a_rerun_keeps_a_task_skipped_ahead_unless_it_reruns_from_it(
    rt: cadenza.Runtime,
) -> None:
    """Conductor's rerunWF removes the tasks of a greater seq: a rerun from `a` keeps `b`
    skipped (seq 0). A rerun from the skipped `b` drops every task listed after it, all of
    them: the run starts over, `b` no longer skipped."""
    await rt.register({"name": "abc", "version": 1,
                       "tasks": [_simple("a"), _simple("b"), _simple("c")]})  # fmt: skip
    for name in ("a", "b", "c"):
        rt.worker(name, _echo)
    run_id = await rt.start("abc", {})
    await rt.skip(run_id, "b")
    run = await rt.wait(run_id)
    skipped = [("b", "SKIPPED"), ("a", "COMPLETED"), ("c", "COMPLETED")]
    assert [(t.ref, t.status) for t in run.tasks] == skipped
    await rt.rerun(run_id, "a")
    run = await rt.wait(run_id)
    assert [(t.ref, t.status) for t in run.tasks] == skipped
    await rt.rerun(run_id, "b")
    run = await rt.wait(run_id)
    assert [(t.ref, t.status) for t in run.tasks] == [
        ("a", "COMPLETED"), ("b", "COMPLETED"), ("c", "COMPLETED")
    ]  # fmt: skip


async def _echo(data: dict[str, Any]) -> dict[str, Any]:
    return {}
