"""Conductor's DoWhileSpec, ported."""

from __future__ import annotations

import pytest

import cadenza
from tests.conductor_spec._support import (
    by_ref,
    harness,
    integration_taskdef,
    poll_and_complete,
    poll_and_fail,
    status,
    verify_polled,
)
from tests.conductor_spec._support_fork_loop import (
    DO_WHILE,
    FORK,
    JOIN,
    SUB,
    expect,
    verify_task_iteration,
)

W = "integration.test.worker"
T0, T1, T2, T3 = (f"integration_task_{i}" for i in range(4))
C, S, IP, CA, F = "COMPLETED", "SCHEDULED", "IN_PROGRESS", "CANCELED", "FAILED"
# The fork inside Do_While_Workflow's (and Do_While_Sub_Workflow's) loop, as it stands once
# integration_task_0 completed: FORK, its two branches and the JOIN.
FORKED = [(FORK, C), (T1, S), (T2, S), (JOIN, IP)]


async def _complete(rt: cadenza.Runtime, task_type: str, iteration: int) -> None:
    polled = await poll_and_complete(rt, task_type, W)
    verify_polled(polled)
    verify_task_iteration(polled, iteration)


async def test_workflow_with_2_iterations_of_five_tasks(rt: cadenza.Runtime) -> None:
    """DoWhileSpec.groovy: "Test workflow with 2 iterations of five tasks"."""
    await harness(rt, "do_while_five_loop_over_integration_test.json")
    run_id = await rt.start("do_while_five_loop_over_integration_test", {"loop": 2})
    run = await status(rt, run_id)
    expect(run, "RUNNING", [(DO_WHILE, IP), ("LAMBDA", C), ("JSON_JQ_TRANSFORM", C), (T1, S)])
    assert [t.iteration for t in run.tasks[1:]] == [1, 1, 1]
    jq = ("JSON_JQ_TRANSFORM", C)

    await _complete(rt, T1, 1)
    expect(await status(rt, run_id), "RUNNING",
           [(DO_WHILE, IP), ("LAMBDA", C), jq, (T1, C), jq, (T2, S)])  # fmt: skip

    await _complete(rt, T2, 1)
    first = [("LAMBDA", C), jq, (T1, C), jq, (T2, C)]
    run = await status(rt, run_id)
    expect(run, "RUNNING", [(DO_WHILE, IP), *first, ("LAMBDA", C), jq, (T1, S)])
    assert [t.iteration for t in run.tasks[6:]] == [2, 2, 2]

    await _complete(rt, T1, 2)
    await _complete(rt, T2, 2)
    run = await status(rt, run_id)
    expect(run, "RUNNING", [(DO_WHILE, C), *first, *first, (T3, S)])
    assert [t.iteration for t in run.tasks[6:]] == [2, 2, 2, 2, 2, 0]  # T3: outside the loop

    verify_polled(await poll_and_complete(rt, T3, W))
    run = await status(rt, run_id)
    expect(run, "COMPLETED", [(DO_WHILE, C), *first, *first, (T3, C)])
    assert run.tasks[11].iteration == 0


async def test_workflow_with_2_iterations_of_3_system_tasks(rt: cadenza.Runtime) -> None:
    """DoWhileSpec.groovy: "Test workflow with 2 iterations of 3 system tasks"."""
    await harness(rt, "do_while_system_tasks.json")
    run_id = await rt.start("do_while_system_tasks", {"loop": 2})
    run = await status(rt, run_id)
    loop = [("LAMBDA", C), ("JSON_JQ_TRANSFORM", C), ("JSON_JQ_TRANSFORM", C)]
    expect(run, "RUNNING", [(DO_WHILE, C), *loop, *loop, (T1, S)])
    assert [t.iteration for t in run.tasks[1:]] == [1, 1, 1, 2, 2, 2, 0]

    verify_polled(await poll_and_complete(rt, T1, W))
    run = await status(rt, run_id)
    expect(run, "COMPLETED", [(DO_WHILE, C), *loop, *loop, (T1, C)])
    assert run.tasks[7].iteration == 0


async def _single_iteration(rt: cadenza.Runtime, workflow: str) -> str:
    """The steps "Test workflow with a single iteration Do While task" and its variant with
    a sub workflow share, up to the JOIN of the first iteration completing."""
    run_id = await rt.start(workflow, {"loop": 1}, correlation_id="looptest")
    expect(await status(rt, run_id), "RUNNING", [(DO_WHILE, IP), (T0, S)])

    await _complete(rt, T0, 1)
    expect(await status(rt, run_id), "RUNNING", [(DO_WHILE, IP), (T0, C), *FORKED])

    await _complete(rt, T1, 1)
    expect(await status(rt, run_id), "RUNNING",
           [(DO_WHILE, IP), (T0, C), (FORK, C), (T1, C), (T2, S), (JOIN, IP)])  # fmt: skip

    await _complete(rt, T2, 1)
    return run_id


async def test_workflow_with_a_single_iteration_do_while_task(rt: cadenza.Runtime) -> None:
    """DoWhileSpec.groovy: "Test workflow with a single iteration Do While task"."""
    await harness(rt, "do_while_integration_test.json")
    run_id = await _single_iteration(rt, "Do_While_Workflow")
    expect(await status(rt, run_id), "COMPLETED",
           [(DO_WHILE, C), (T0, C), (FORK, C), (T1, C), (T2, C), (JOIN, C)])  # fmt: skip


async def test_workflow_with_a_single_iteration_do_while_task_with_sub_workflow(
    rt: cadenza.Runtime,
) -> None:
    """DoWhileSpec.groovy: "Test workflow with a single iteration Do While task with Sub
    workflow"."""
    await harness(
        rt,
        "do_while_sub_workflow_integration_test.json",
        "simple_one_task_sub_workflow_integration_test.json",
    )
    run_id = await _single_iteration(rt, "Do_While_Sub_Workflow")
    done = [(T0, C), (FORK, C), (T1, C), (T2, C), (JOIN, C)]
    run = await status(rt, run_id)
    expect(run, "RUNNING", [(DO_WHILE, IP), *done, (SUB, IP)])

    sub_id = by_ref(run, "st1__1").sub_workflow_id
    assert sub_id is not None
    expect(await status(rt, sub_id), "RUNNING", [("simple_task_in_sub_wf", S)])

    verify_polled(await poll_and_complete(rt, "simple_task_in_sub_wf", "subworkflow.task.worker"))
    expect(await status(rt, sub_id), "COMPLETED", [("simple_task_in_sub_wf", C)])
    expect(await status(rt, run_id), "COMPLETED", [(DO_WHILE, C), *done, (SUB, C)])


async def test_workflow_with_multiple_do_while_tasks_with_multiple_iterations(
    rt: cadenza.Runtime,
) -> None:
    """DoWhileSpec.groovy: "Test workflow with multiple Do While tasks with multiple
    iterations"."""
    await harness(rt, "do_while_multiple_integration_test.json")
    run_id = await rt.start("Do_While_Multiple", {"loop": 2, "loop2": 1})
    expect(await status(rt, run_id), "RUNNING", [(DO_WHILE, IP), (T0, S)])

    await _complete(rt, T0, 1)
    expect(await status(rt, run_id), "RUNNING", [(DO_WHILE, IP), (T0, C), *FORKED])

    await _complete(rt, T1, 1)
    first = [(T0, C), (FORK, C), (T1, C), (T2, S), (JOIN, IP)]
    expect(await status(rt, run_id), "RUNNING", [(DO_WHILE, IP), *first])

    await _complete(rt, T2, 1)
    first = [(T0, C), (FORK, C), (T1, C), (T2, C), (JOIN, C)]
    expect(await status(rt, run_id), "RUNNING", [(DO_WHILE, IP), *first, (T0, S)])

    await _complete(rt, T0, 2)
    expect(await status(rt, run_id), "RUNNING", [(DO_WHILE, IP), *first, (T0, C), *FORKED])

    await _complete(rt, T1, 2)
    second = [(T0, C), (FORK, C), (T1, C), (T2, S), (JOIN, IP)]
    expect(await status(rt, run_id), "RUNNING", [(DO_WHILE, IP), *first, *second])

    await _complete(rt, T2, 2)
    expect(await status(rt, run_id), "RUNNING",
           [(DO_WHILE, C), *first, *first, (DO_WHILE, IP), (T3, S)])  # fmt: skip

    await _complete(rt, T3, 1)
    expect(await status(rt, run_id), "COMPLETED",
           [(DO_WHILE, C), *first, *first, (DO_WHILE, C), (T3, C)])  # fmt: skip


async def test_retrying_a_failed_do_while_workflow(rt: cadenza.Runtime) -> None:
    """DoWhileSpec.groovy: "Test retrying a failed do while workflow"."""
    await harness(rt, "do_while_integration_test.json")
    await rt.register_task(integration_taskdef(T0, 0))
    run_id = await rt.start("Do_While_Workflow", {"loop": 1}, correlation_id="looptest")
    expect(await status(rt, run_id), "RUNNING", [(DO_WHILE, IP), (T0, S)])

    failed = await poll_and_fail(rt, T0, W, "induced..failure")
    verify_polled(failed)
    verify_task_iteration(failed, 1)
    expect(await status(rt, run_id), "FAILED", [(DO_WHILE, CA), (T0, F)])

    await rt.retry(run_id)
    expect(await status(rt, run_id), "RUNNING", [(DO_WHILE, IP), (T0, F), (T0, S)])

    await _complete(rt, T0, 1)
    expect(await status(rt, run_id), "RUNNING", [(DO_WHILE, IP), (T0, F), (T0, C), *FORKED])

    await _complete(rt, T1, 1)
    expect(await status(rt, run_id), "RUNNING",
           [(DO_WHILE, IP), (T0, F), (T0, C), (FORK, C), (T1, C), (T2, S), (JOIN, IP)])  # fmt: skip

    await _complete(rt, T2, 1)
    expect(await status(rt, run_id), "COMPLETED",
           [(DO_WHILE, C), (T0, F), (T0, C), (FORK, C), (T1, C), (T2, C), (JOIN, C)])  # fmt: skip


async def test_auto_retrying_a_failed_do_while_workflow(rt: cadenza.Runtime) -> None:
    """DoWhileSpec.groovy: "Test auto retrying a failed do while workflow"."""
    await harness(rt, "do_while_integration_test.json")
    await rt.register_task(integration_taskdef(T0, 1, retryDelaySeconds=0))
    run_id = await rt.start("Do_While_Workflow", {"loop": 1}, correlation_id="looptest")
    expect(await status(rt, run_id), "RUNNING", [(DO_WHILE, IP), (T0, S)])

    failed = await poll_and_fail(rt, T0, W, "induced..failure")
    verify_polled(failed)
    verify_task_iteration(failed, 1)
    run = await status(rt, run_id)
    expect(run, "RUNNING", [(DO_WHILE, IP), (T0, F), (T0, S)])
    assert run.tasks[1].retried
    assert run.tasks[2].attempt == 1  # retryCount
    assert not run.tasks[2].retried  # retriedTaskId == tasks[1].taskId

    await _complete(rt, T0, 1)
    expect(await status(rt, run_id), "RUNNING", [(DO_WHILE, IP), (T0, F), (T0, C), *FORKED])

    await _complete(rt, T1, 1)
    expect(await status(rt, run_id), "RUNNING",
           [(DO_WHILE, IP), (T0, F), (T0, C), (FORK, C), (T1, C), (T2, S), (JOIN, IP)])  # fmt: skip

    await _complete(rt, T2, 1)
    expect(await status(rt, run_id), "COMPLETED",
           [(DO_WHILE, C), (T0, F), (T0, C), (FORK, C), (T1, C), (T2, C), (JOIN, C)])  # fmt: skip


async def test_workflow_with_a_iteration_do_while_task_as_subtask_of_a_forkjoin_task(
    rt: cadenza.Runtime,
) -> None:
    """DoWhileSpec.groovy: "Test workflow with a iteration Do While task as subtask of a
    forkjoin task"."""
    await harness(rt, "do_while_as_subtask_integration_test.json")
    run_id = await rt.start("Do_While_SubTask", {"loop": 1}, correlation_id="looptest")
    expect(await status(rt, run_id), "RUNNING",
           [(FORK, C), (DO_WHILE, IP), (T2, S), (JOIN, IP), (T0, S)])  # fmt: skip

    await _complete(rt, T0, 1)
    expect(await status(rt, run_id), "RUNNING",
           [(FORK, C), (DO_WHILE, IP), (T2, S), (JOIN, IP), (T0, C), (T1, S)])  # fmt: skip

    await _complete(rt, T1, 1)
    expect(await status(rt, run_id), "RUNNING",
           [(FORK, C), (DO_WHILE, C), (T2, S), (JOIN, IP), (T0, C), (T1, C)])  # fmt: skip

    verify_polled(await poll_and_complete(rt, T2, W))
    expect(await status(rt, run_id), "COMPLETED",
           [(FORK, C), (DO_WHILE, C), (T2, C), (JOIN, C), (T0, C), (T1, C)])  # fmt: skip


async def test_workflow_with_do_while_task_contains_loop_over_task_that_use_iteration_in_script_expression(
    rt: cadenza.Runtime,
) -> None:
    """DoWhileSpec.groovy: "Test workflow with Do While task contains loop over task that use
    iteration in script expression"."""
    await harness(rt, "do_while_iteration_fix_test.json")
    run_id = await rt.start("Do_While_Workflow_Iteration_Fix", {"loop": 2})
    run = await status(rt, run_id)
    expect(run, "COMPLETED", [(DO_WHILE, C), ("LAMBDA", C), ("LAMBDA", C)])
    assert run.tasks[1].output.get("result") == 0
    assert run.tasks[2].output.get("result") == 1


async def test_workflow_with_do_while_task_contains_set_variable_task(
    rt: cadenza.Runtime,
) -> None:
    """DoWhileSpec.groovy: "Test workflow with Do While task contains set variable task"."""
    await harness(rt, "do_while_set_variable_fix.json")
    run_id = await rt.start("do_while_Set_variable_fix", {"value": 2})
    run = await status(rt, run_id)
    expect(run, "COMPLETED", [(DO_WHILE, C), ("SET_VARIABLE", C)])
    assert run.tasks[1].input.get("value") == "0"


async def test_workflow_with_do_while_task_contains_decision_task(rt: cadenza.Runtime) -> None:
    """DoWhileSpec.groovy: "Test workflow with Do While task contains decision task"."""
    await harness(rt, "do_while_with_decision_task.json")
    run_id = await rt.start("DO_While_with_Decision_task", {"list": [1, 2]})
    first = [("INLINE", C), ("SWITCH", C)]
    run = await status(rt, run_id)
    expect(run, "RUNNING", [(DO_WHILE, IP), *first, ("WAIT", IP)])

    await rt.complete(run.tasks[3].id)  # updateTask(COMPLETED) on the WAIT task
    run = await status(rt, run_id)
    expect(run, "RUNNING",
           [(DO_WHILE, IP), *first, ("WAIT", C), ("INLINE", C), *first, ("WAIT", IP)])  # fmt: skip
    assert run.tasks[0].iteration == 2

    await rt.complete(run.tasks[7].id)
    run = await status(rt, run_id)
    expect(run, "COMPLETED",
           [(DO_WHILE, C), *first, ("WAIT", C), ("INLINE", C), *first, ("WAIT", C),
            ("INLINE", C)])  # fmt: skip
    assert run.tasks[0].iteration == 2


@pytest.mark.slow  # 500 JavaScript evaluations: about a second
async def test_do_while_with_500_lambda_iterations_completes_without_stackoverflowerror(
    rt: cadenza.Runtime,
) -> None:
    """DoWhileSpec.groovy: "Test DO_WHILE with 500 LAMBDA iterations completes without
    StackOverflowError"."""
    await harness(rt, "do_while_high_iteration_test.json")
    run_id = await rt.start(
        "do_while_high_iteration_test", {"loop": 500}, correlation_id="overflow-regression"
    )
    run = await status(rt, run_id)
    assert run.status == "COMPLETED"
    assert len(run.tasks) == 501
    assert (run.tasks[0].type, run.tasks[0].status) == (DO_WHILE, C)
    assert run.tasks[0].iteration == 500
    assert (run.tasks[1].type, run.tasks[1].status, run.tasks[1].iteration) == ("LAMBDA", C, 1)
    assert (run.tasks[500].type, run.tasks[500].status) == ("LAMBDA", C)
    assert run.tasks[500].iteration == 500


@pytest.mark.slow  # 500 JavaScript evaluations: about a second
async def test_do_while_iteration_counter_is_correct_at_500_iterations_issue_799(
    rt: cadenza.Runtime,
) -> None:
    """DoWhileSpec.groovy: "Test DO_WHILE iteration counter is correct at 500 iterations
    (issue #799)"."""
    await harness(rt, "do_while_iteration_fix_test.json")
    run_id = await rt.start(
        "Do_While_Workflow_Iteration_Fix", {"loop": 500},
        correlation_id="iteration-count-regression",
    )  # fmt: skip
    run = await status(rt, run_id)
    assert run.status == "COMPLETED"
    assert len(run.tasks) == 501
    assert (run.tasks[0].type, run.tasks[0].status) == (DO_WHILE, C)
    assert run.tasks[0].iteration == 500
    assert (run.tasks[1].type, run.tasks[1].status) == ("LAMBDA", C)
    assert run.tasks[1].output.get("result") == 0
    assert (run.tasks[500].type, run.tasks[500].status) == ("LAMBDA", C)
    assert run.tasks[500].output.get("result") == 499
