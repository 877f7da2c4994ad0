"""Differences from Conductor found by reading its core (issue 12, section 2), part two.

Every test names the Conductor source it follows (conductor-oss/conductor,
core/src/main/java/com/netflix/conductor/core/execution/...).
"""

from __future__ import annotations

from typing import Any

import cadenza
from tests.language._defs import fork, join, quick, simple, workflow


def permissive(ref: str, **extra: Any) -> dict[str, Any]:
    return simple(ref, permissive=True, **quick(), **extra)


async def fail(rt: cadenza.Runtime, name: str, reason: str) -> str:
    task = await rt.poll(name)
    assert task is not None, name
    await rt.fail(task.id, reason)
    await rt.settle()
    return task.id


async def complete(rt: cadenza.Runtime, name: str) -> str:
    task = await rt.poll(name)
    assert task is not None, name
    await rt.complete(task.id, {"done": name})
    await rt.settle()
    return task.id


def shape(run: cadenza.WorkflowRun) -> list[tuple[str, str]]:
    return [(t.ref, t.status) for t in run.tasks]


# -- 1. permissive tasks -----------------------------------------------------------


async def test_a_permissive_task_out_of_retries_lets_the_run_go_on_then_fails_it(
    rt: cadenza.Runtime,
) -> None:
    """DeciderService.decide (~:227-235): `retry` returns empty for a permissive task
    (DeciderService.retry ~:585, `workflowTask.isOptional() || workflowTask.isPermissive()`),
    the task stays FAILED (only a non-permissive optional one becomes COMPLETED_WITH_ERRORS)
    and `getNextTask` schedules what follows; once nothing is left to schedule and
    `checkForWorkflowCompletion` holds (~:278-306), each permissive non-optional task that
    ended unsuccessful fails the run: TerminateWorkflowException with their reasons,
    `Task %s failed with status: %s and reason: '%s'` joined by ". ", status FAILED, no
    failed task."""
    await rt.register(
        workflow("perm", permissive("p1"), permissive("p2"), simple("last", **quick()))
    )
    run_id = await rt.start("perm", {})
    await rt.settle()
    p1 = await fail(rt, "p1", "NETWORK ERROR")
    run = await rt.get(run_id)
    assert run.status == "RUNNING"
    assert shape(run) == [("p1", "FAILED"), ("p2", "SCHEDULED")]
    p2 = await fail(rt, "p2", "DISK FULL")
    run = await rt.get(run_id)
    assert run.status == "RUNNING"
    assert shape(run) == [("p1", "FAILED"), ("p2", "FAILED"), ("last", "SCHEDULED")]
    await complete(rt, "last")
    run = await rt.wait(run_id)
    assert run.status == "FAILED"
    assert run.reason == (
        f"Task {p1} failed with status: FAILED and reason: 'NETWORK ERROR'. "
        f"Task {p2} failed with status: FAILED and reason: 'DISK FULL'"
    )
    assert shape(run) == [("p1", "FAILED"), ("p2", "FAILED"), ("last", "COMPLETED")]


async def test_a_permissive_optional_task_completes_with_errors(rt: cadenza.Runtime) -> None:
    """DeciderService.decide (~:231-235): an exhausted task that is optional, permissive or
    not, is set COMPLETED_WITH_ERRORS, and the completion check (~:280-285) skips optional
    tasks: the run completes."""
    await rt.register(
        workflow("perm_opt", permissive("p", optional=True), simple("last", **quick()))
    )
    run_id = await rt.start("perm_opt", {})
    await rt.settle()
    await fail(rt, "p", "NETWORK ERROR")
    await complete(rt, "last")
    run = await rt.wait(run_id)
    assert run.status == "COMPLETED"
    assert shape(run) == [("p", "COMPLETED_WITH_ERRORS"), ("last", "COMPLETED")]


async def test_a_join_over_a_failed_permissive_branch_waits_for_every_branch_then_fails(
    rt: cadenza.Runtime,
) -> None:
    """Join.execute: a forked task that failed is a join failure at once unless it is
    permissive, then only once every joined task is terminal (`allTasksTerminal`); the JOIN
    ends FAILED with the failed tasks' reasons joined by " ", and DeciderService.retry ends
    the run FAILED naming the JOIN (a built-in task, never retried)."""
    await rt.register(
        workflow(
            "perm_fork",
            fork("f", [permissive("a")], [simple("b", **quick())]),
            join("j", "a", "b"),
            simple("after", **quick()),
        )
    )
    run_id = await rt.start("perm_fork", {})
    await rt.settle()
    await fail(rt, "a", "Failed...")
    run = await rt.get(run_id)
    assert run.status == "RUNNING"
    assert shape(run) == [("f", "COMPLETED"), ("a", "FAILED"), ("b", "SCHEDULED"),
                          ("j", "IN_PROGRESS")]  # fmt: skip
    await complete(rt, "b")
    run = await rt.wait(run_id)
    assert shape(run) == [("f", "COMPLETED"), ("a", "FAILED"), ("b", "COMPLETED"),
                          ("j", "FAILED")]  # fmt: skip
    join_task = run.tasks[3]
    assert join_task.reason == "Failed..."
    assert run.status == "FAILED"
    assert run.reason == (f"Task {join_task.id} failed with status: FAILED and reason: 'Failed...'")


# -- 2. a DO_WHILE carries its iteration ---------------------------------------------


def loop(ref: str, condition: str, *body: dict[str, Any]) -> dict[str, Any]:
    return {"name": ref, "taskReferenceName": ref, "type": "DO_WHILE",
            "loopCondition": condition, "loopOver": list(body)}  # fmt: skip


async def test_a_do_while_task_carries_its_current_iteration(rt: cadenza.Runtime) -> None:
    """DoWhile.execute: the first run sets `doWhileTaskModel.setIteration(1)` (DoWhile.java
    ~:109) and each further iteration `setIteration(getIteration() + 1)` (~:171), with
    `iteration` in the output too; the loop task keeps its count once done."""
    await rt.register(
        workflow(
            "looping",
            loop(
                "lp",
                "if ($.lp['iteration'] < 2) { true; } else { false; }",
                simple("body", **quick()),
            ),
        )
    )
    run_id = await rt.start("looping", {})
    await rt.settle()
    run = await rt.get(run_id)
    assert (run.tasks[0].ref, run.tasks[0].iteration) == ("lp", 1)
    await complete(rt, "body")
    run = await rt.get(run_id)
    assert [(t.ref, t.iteration) for t in run.tasks] == [("lp", 2), ("body__1", 1),
                                                         ("body__2", 2)]  # fmt: skip
    await complete(rt, "body")
    run = await rt.wait(run_id)
    assert run.status == "COMPLETED"
    assert (run.tasks[0].status, run.tasks[0].iteration) == ("COMPLETED", 2)


async def test_a_body_task_input_reads_the_loops_iteration(rt: cadenza.Runtime) -> None:
    """ParametersUtils.getTaskInputV2 puts each task's `iteration` among its parameters
    (`taskParams.put("iteration", task.getIteration())`, ParametersUtils.java ~:156), and the
    path is Jayway JsonPath, so `${lp['iteration']}` and `${lp.iteration}` are the loop
    task's current iteration."""
    await rt.register(
        workflow(
            "looping",
            loop(
                "lp",
                "if ($.lp['iteration'] < 2) { true; } else { false; }",
                simple(
                    "body",
                    inputParameters={"i": "${lp['iteration']}", "j": "${lp.iteration}"},
                    **quick(),
                ),
            ),
        )
    )
    run_id = await rt.start("looping", {})
    await rt.settle()
    await complete(rt, "body")
    await complete(rt, "body")
    run = await rt.wait(run_id)
    assert run.status == "COMPLETED"
    assert [t.input for t in run.tasks[1:]] == [{"i": 1, "j": 1}, {"i": 2, "j": 2}]
