"""A definition's graph, shaped as Conductor's UI draws it (`WorkflowDAG.js`), and its colours."""

from __future__ import annotations

from typing import Any

from cadenza.http.ui._graph import build, last_statuses, loop_iterations
from cadenza.runtime import TaskRun, TaskStatus


def simple(ref: str) -> dict[str, Any]:
    return {"name": ref, "taskReferenceName": ref, "type": "SIMPLE"}


def edges(graph: dict[str, Any]) -> set[tuple[str, str]]:
    return {(e["source"], e["target"]) for e in graph["edges"]}


def test_switch_fans_out_to_its_cases_and_without_default_is_an_end_itself() -> None:
    graph = build(
        {
            "tasks": [
                {
                    "name": "sw", "taskReferenceName": "sw", "type": "SWITCH",
                    "decisionCases": {"x": [simple("x1"), simple("x2")], "y": [simple("y1")]},
                },
                simple("after"),
            ]
        }
    )  # fmt: skip
    assert edges(graph) == {
        ("__start", "sw"),
        ("sw", "x1"),
        ("x1", "x2"),
        ("sw", "y1"),
        ("sw", "after"),  # no default case: the switch itself leads on
        ("x2", "after"),
        ("y1", "after"),
        ("after", "__final"),
    }
    labels = {(e["source"], e["target"]): e.get("label") for e in graph["edges"]}
    assert labels[("sw", "x1")] == "x"
    assert labels[("sw", "y1")] == "y"
    assert labels[("x1", "x2")] is None
    assert labels[("sw", "after")] is None


def test_fork_branches_meet_at_the_join() -> None:
    graph = build(
        {
            "tasks": [
                {
                    "name": "fork", "taskReferenceName": "fork", "type": "FORK_JOIN",
                    "forkTasks": [[simple("a1"), simple("a2")], [simple("b1")]],
                },
                {"name": "join", "taskReferenceName": "join", "type": "JOIN", "joinOn": ["a2", "b1"]},
            ]
        }
    )  # fmt: skip
    assert edges(graph) == {
        ("__start", "fork"),
        ("fork", "a1"),
        ("a1", "a2"),
        ("fork", "b1"),
        ("a2", "join"),
        ("b1", "join"),
        ("join", "__final"),
    }


def test_do_while_has_a_bottom_bar_and_a_loop_edge() -> None:
    graph = build(
        {
            "tasks": [
                {
                    "name": "loop", "taskReferenceName": "loop", "type": "DO_WHILE",
                    "loopOver": [simple("body")], "loopCondition": "false",
                }
            ]
        }
    )  # fmt: skip
    assert edges(graph) == {
        ("__start", "loop"),
        ("loop", "body"),
        ("body", "loop-END"),
        ("loop", "loop-END"),
        ("loop-END", "__final"),
    }
    assert [e["kind"] for e in graph["edges"] if e["target"] == "loop-END"] == ["", "loop"]


def test_terminate_ends_its_branch_and_final_goes_when_every_branch_terminates() -> None:
    graph = build({"tasks": [{"name": "t", "taskReferenceName": "t", "type": "TERMINATE"}]})
    assert [n["id"] for n in graph["nodes"]] == ["__start", "t"]


def _task(ref: str, status: TaskStatus, attempt: int = 0, type_: str = "SIMPLE") -> TaskRun:
    return TaskRun(
        id=f"r-{ref}-{attempt}", ref=ref, type=type_, status=status, attempt=attempt,
        input={}, output={}, group=None, reason=None, scheduled_at=0.0, started_at=None, ended_at=None,
    )  # fmt: skip


def test_a_node_takes_its_latest_attempts_status_and_loop_iterations_count_for_their_task() -> None:
    tasks = [
        _task("a", TaskStatus.FAILED),
        _task("a", TaskStatus.COMPLETED, attempt=1),
        _task("body__1", TaskStatus.COMPLETED),
        _task("body__2", TaskStatus.IN_PROGRESS),
    ]
    statuses = last_statuses(tasks, "RUNNING")
    assert statuses["a"] == "COMPLETED"
    assert statuses["body"] == "IN_PROGRESS"
    assert statuses["__start"] == "COMPLETED"
    assert "__final" not in statuses
    graph = build({"tasks": [simple("a"), simple("b")]}, statuses=statuses, run_status="RUNNING")
    by_id = {n["id"]: n["status"] for n in graph["nodes"]}
    assert by_id == {
        "__start": "COMPLETED",
        "a": "COMPLETED",
        "b": "NOT_STARTED",
        "__final": "NOT_STARTED",
    }
    executed = {(e["source"], e["target"]): e["executed"] for e in graph["edges"]}
    assert executed == {("__start", "a"): True, ("a", "b"): False, ("b", "__final"): False}
    assert graph["terminal"] is False


def test_a_sub_workflow_node_links_to_its_child() -> None:
    graph = build(
        {"tasks": [{"name": "sub", "taskReferenceName": "sub", "type": "SUB_WORKFLOW"}]},
        children={"sub": "child-run-1"},
    )
    (sub,) = [n for n in graph["nodes"] if n["id"] == "sub"]
    assert sub["child"] == "child-run-1"


def test_a_dynamic_fork_fans_out_to_what_it_forked_or_to_a_placeholder() -> None:
    """As Conductor's processForkJoinDynamic: the forked tasks lead to the JOIN."""
    definition = {
        "tasks": [
            {"name": "df", "taskReferenceName": "df", "type": "FORK_JOIN_DYNAMIC"},
            {"name": "join", "taskReferenceName": "join", "type": "JOIN"},
        ]
    }
    before = build(definition)
    assert edges(before) == {
        ("__start", "df"),
        ("df", "df_DF_EMPTY_PLACEHOLDER"),
        ("df_DF_EMPTY_PLACEHOLDER", "join"),
        ("join", "__final"),
    }
    spawned = {"df": [simple("x1"), simple("x2")]}
    after = build(definition, spawned=spawned, statuses={"x1": "COMPLETED"})
    assert edges(after) == {
        ("__start", "df"),
        ("df", "x1"),
        ("df", "x2"),
        ("x1", "join"),
        ("x2", "join"),
        ("join", "__final"),
    }
    assert {n["id"]: n["status"] for n in after["nodes"]}["x1"] == "COMPLETED"


def test_a_loop_body_node_says_how_many_iterations_it_ran() -> None:
    tasks = [
        _task("loop", TaskStatus.IN_PROGRESS, type_="DO_WHILE"),
        _task("body__1", TaskStatus.COMPLETED),
        _task("body__2", TaskStatus.COMPLETED),
        _task("body__3", TaskStatus.IN_PROGRESS),
    ]
    assert loop_iterations(tasks) == {"body": 3}
    definition = {
        "tasks": [
            {
                "name": "loop",
                "taskReferenceName": "loop",
                "type": "DO_WHILE",
                "loopOver": [simple("body")],
            }
        ]
    }
    graph = build(
        definition, statuses=last_statuses(tasks, "RUNNING"), iterations=loop_iterations(tasks)
    )
    labels = {n["id"]: n["label"] for n in graph["nodes"]}
    assert labels["body"] == "body\nSIMPLE\n3 iterations"
    assert labels["loop"] == "loop\nDO_WHILE"
