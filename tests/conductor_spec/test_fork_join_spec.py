"""Conductor's ForkJoinSpec, ported."""

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
    FORK,
    JOIN,
    SUB,
    at,
    join_on,
)

W = "task1.worker"
C, S, IP, CA, F = "COMPLETED", "SCHEDULED", "IN_PROGRESS", "CANCELED", "FAILED"
T1, T2, T3, T4 = (f"integration_task_{i}" for i in range(1, 5))
RT = [f"integration_task_0_RT_{i}" for i in range(5)]
PRT = [f"integration_p_task_0_RT_{i}" for i in range(5)]


@pytest.fixture
async def h(rt: cadenza.Runtime) -> cadenza.Runtime:
    """The spec's setup(), less the definitions only some features use (registered there)."""
    await harness(
        rt,
        "fork_join_integration_test.json",
        "fork_join_with_no_task_retry_integration_test.json",
        "fork_join_with_no_permissive_task_retry_integration_test.json",
        "fork_join_permissive_integration_test.json",
    )
    return rt


async def _complete(rt: cadenza.Runtime, task_type: str, worker: str = W) -> None:
    verify_polled(await poll_and_complete(rt, task_type, worker))


async def _fail(rt: cadenza.Runtime, task_type: str, reason: str) -> None:
    verify_polled(await poll_and_fail(rt, task_type, W, reason))


async def test_a_simple_workflow_with_fork_join_success_flow(h: cadenza.Runtime) -> None:
    """ForkJoinSpec.groovy: "Test a simple workflow with fork join success flow"."""
    rt = h
    run_id = await rt.start("FanInOutTest", {}, correlation_id="fanoutTest")
    at(await status(rt, run_id), "RUNNING", 4, t0=(FORK, C), t1=(T1, S), t2=(T2, S), t3=(JOIN, IP))

    await _complete(rt, T1)
    at(await status(rt, run_id), "RUNNING", 5, t1=(T1, C), t2=(T2, S), t3=(JOIN, IP), t4=(T3, S))

    await _complete(rt, T3)
    at(await status(rt, run_id), "RUNNING", 5, t2=(T2, S), t3=(JOIN, IP), t4=(T3, C))

    await _complete(rt, T2)
    at(await status(rt, run_id), "RUNNING", 6, t2=(T2, C), t3=(JOIN, C), t5=(T4, S))

    await _complete(rt, T4)
    at(await status(rt, run_id), "COMPLETED", 6, t5=(T4, C))


async def test_a_simple_workflow_with_fork_join_failure_flow(h: cadenza.Runtime) -> None:
    """ForkJoinSpec.groovy: "Test a simple workflow with fork join failure flow"."""
    rt = h
    await rt.register_task(integration_taskdef(T2, 0, timeoutSeconds=0))
    run_id = await rt.start("FanInOutTest", {}, correlation_id="fanoutTest")
    at(await status(rt, run_id), "RUNNING", 4, t0=(FORK, C), t1=(T1, S), t2=(T2, S), t3=(JOIN, IP))

    await _complete(rt, T1)
    at(await status(rt, run_id), "RUNNING", 5, t1=(T1, C), t2=(T2, S), t3=(JOIN, IP), t4=(T3, S))

    await _fail(rt, T2, "Failed....")
    at(await status(rt, run_id), "FAILED", 5, t1=(T1, C), t2=(T2, F), t3=(JOIN, CA), t4=(T3, CA))


async def test_a_simple_workflow_with_fork_join_permissive_failure_flow(
    h: cadenza.Runtime,
) -> None:
    """ForkJoinSpec.groovy: "Test a simple workflow with fork join permissive failure flow"."""
    rt = h
    await rt.register_task(integration_taskdef(T1, 0, timeoutSeconds=0))
    run_id = await rt.start("FanInOutPermissiveTest", {}, correlation_id="fanoutTest")
    run = await status(rt, run_id)
    at(run, "RUNNING", 4, t0=(FORK, C), t1=(T1, S), t2=(T2, S), t3=(JOIN, IP))
    definition = await rt.definition("FanInOutPermissiveTest")
    branches = definition["tasks"][0]["forkTasks"]
    assert branches[0][0]["permissive"]  # tasks[1].workflowTask.permissive
    assert branches[1][0]["permissive"]

    await _fail(rt, T1, "Failed...")
    at(await status(rt, run_id), "RUNNING", 4, t1=(T1, F), t2=(T2, S), t3=(JOIN, IP))

    await _complete(rt, T2)
    # Conductor's RUNNING / JOIN IN_PROGRESS until asyncSystemTaskExecutor.execute(joinTask):
    # cadenza's settle() runs the JOIN too
    at(await status(rt, run_id), "FAILED", 4, t1=(T1, F), t2=(T2, C), t3=(JOIN, F))


async def test_retrying_a_failed_fork_join_workflow(h: cadenza.Runtime) -> None:
    """ForkJoinSpec.groovy: "Test retrying a failed fork join workflow"."""
    rt = h
    run_id = await rt.start("FanInOutTest_2", {}, correlation_id="fanoutTest")
    at(await status(rt, run_id), "RUNNING", 4,
       t0=(FORK, C), t1=(RT[1], S), t2=(RT[2], S), t3=(JOIN, IP))  # fmt: skip

    await _complete(rt, RT[1])
    at(await status(rt, run_id), "RUNNING", 5,
       t1=(RT[1], C), t2=(RT[2], S), t3=(JOIN, IP), t4=(RT[3], S))  # fmt: skip

    await _fail(rt, RT[2], "Failed....")
    at(await status(rt, run_id), "FAILED", 5,
       t1=(RT[1], C), t2=(RT[2], F), t3=(JOIN, CA), t4=(RT[3], CA))  # fmt: skip

    await rt.retry(run_id)
    at(await status(rt, run_id), "RUNNING", 7,
       t1=(RT[1], C), t2=(RT[2], F), t3=(JOIN, IP), t4=(RT[3], CA), t5=(RT[2], S),
       t6=(RT[3], S))  # fmt: skip

    await _complete(rt, RT[3])
    await _complete(rt, RT[2])
    await _complete(rt, RT[4])
    at(await status(rt, run_id), "COMPLETED", 8,
       t1=(RT[1], C), t2=(RT[2], F), t3=(JOIN, C), t4=(RT[3], CA), t5=(RT[2], C),
       t6=(RT[3], C), t7=(RT[4], C))  # fmt: skip


async def test_retrying_a_failed_permissive_fork_join_workflow(h: cadenza.Runtime) -> None:
    """ForkJoinSpec.groovy: "Test retrying a failed permissive fork join workflow"."""
    rt = h
    run_id = await rt.start("FanInOutPermissiveTest_2", {}, correlation_id="fanoutTest")
    at(await status(rt, run_id), "RUNNING", 4,
       t0=(FORK, C), t1=(PRT[1], S), t2=(PRT[2], S), t3=(JOIN, IP))  # fmt: skip

    await _complete(rt, PRT[1])
    at(await status(rt, run_id), "RUNNING", 5,
       t1=(PRT[1], C), t2=(PRT[2], S), t3=(JOIN, IP), t4=(PRT[3], S))  # fmt: skip

    await _fail(rt, PRT[2], "Failed....")
    at(await status(rt, run_id), "RUNNING", 5,
       t1=(PRT[1], C), t2=(PRT[2], F), t3=(JOIN, IP), t4=(PRT[3], S))  # fmt: skip

    await _fail(rt, PRT[3], "Failed....")
    at(await status(rt, run_id), "FAILED", 5,
       t1=(PRT[1], C), t2=(PRT[2], F), t3=(JOIN, F), t4=(PRT[3], F))  # fmt: skip

    await rt.retry(run_id)
    at(await status(rt, run_id), "RUNNING", 7,
       t1=(PRT[1], C), t2=(PRT[2], F), t3=(JOIN, IP), t4=(PRT[3], F), t5=(PRT[2], S),
       t6=(PRT[3], S))  # fmt: skip

    await _complete(rt, PRT[3])
    await _complete(rt, PRT[2])
    await _complete(rt, PRT[4])
    at(await status(rt, run_id), "COMPLETED", 8,
       t1=(PRT[1], C), t2=(PRT[2], F), t3=(JOIN, C), t4=(PRT[3], F), t5=(PRT[2], C),
       t6=(PRT[3], C), t7=(PRT[4], C))  # fmt: skip


def _refs(run: cadenza.WorkflowRun, refs: list[str]) -> int:
    """`tasks.findAll { it.referenceTaskName in refs }.size()`."""
    return sum(t.ref in refs for t in run.tasks)


async def test_nested_fork_join_workflow_success_flow(h: cadenza.Runtime) -> None:
    """ForkJoinSpec.groovy: "Test nested fork join workflow success flow"."""
    rt = h
    await harness(rt, "nested_fork_join_integration_test.json")
    run_id = await rt.start(
        "FanInOutNestedTest", {"case": "a"}, correlation_id="fork_join_nested_test"
    )
    run = await status(rt, run_id)
    at(run, "RUNNING", 7, t0=(FORK, C), t1=(TN[11], S), t2=(FORK, C), t3=(TN[12], S),
       t4=(TN[13], S), t5=(JOIN, IP), t6=(JOIN, IP))  # fmt: skip
    assert _refs(run, ["t11", "t12", "t13", "fork1", "fork2"]) == 5
    assert _refs(run, ["t1", "t2", "t16"]) == 0
    _joins(run)

    for i in (11, 12, 13):
        await _complete(rt, TN[i], f"task{i}.worker")
    run = await status(rt, run_id)
    at(run, "RUNNING", 10, t0=(FORK, C), t1=(TN[11], C), t2=(FORK, C), t3=(TN[12], C),
       t4=(TN[13], C), t5=(JOIN, IP), t6=(JOIN, IP), t7=(TN[14], S), t8=("DECISION", C),
       t9=(TN[16], S))  # fmt: skip
    _joins(run)

    await _complete(rt, TN[16], "task16.worker")
    await _complete(rt, TN[14], "task14.worker")
    run = await status(rt, run_id)
    at(run, "RUNNING", 11, t5=(JOIN, IP), t6=(JOIN, IP), t7=(TN[14], C), t8=("DECISION", C),
       t9=(TN[16], C), t10=(TN[19], S))  # fmt: skip
    _joins(run)

    await _complete(rt, TN[19], "task19.worker")
    run = await status(rt, run_id)
    at(run, "RUNNING", 12, t5=(JOIN, IP), t6=(JOIN, IP), t10=(TN[19], C), t11=(TN[20], S))
    _joins(run)

    await _complete(rt, TN[20], "task20.worker")
    run = await status(rt, run_id)
    at(run, "RUNNING", 13, t5=(JOIN, C), t6=(JOIN, C), t11=(TN[20], C), t12=(TN[15], S))
    _joins(run)

    await _complete(rt, TN[15], "task15.worker")
    at(await status(rt, run_id), "COMPLETED", 13, t12=(TN[15], C))


TN = {i: f"integration_task_{i}" for i in range(11, 21)}


def _joins(run: cadenza.WorkflowRun, outer: int = 6, sub: bool = False) -> None:
    join_on(run.tasks[5], ["t14", "t20"])
    join_on(run.tasks[outer], ["t11", "join2", "sw1"] if sub else ["t11", "join2"])


async def test_nested_workflow_which_contains_a_sub_workflow_task(h: cadenza.Runtime) -> None:
    """ForkJoinSpec.groovy: "Test nested workflow which contains a sub workflow task"."""
    rt = h
    await harness(
        rt,
        "nested_fork_join_with_sub_workflow_integration_test.json",
        "simple_workflow_1_integration_test.json",
    )
    run_id = await rt.start(
        "FanInOutNestedSubWorkflowTest", {"case": "a"}, correlation_id="fork_join_nested_test"
    )
    run = await status(rt, run_id)
    at(run, "RUNNING", 8, t0=(FORK, C), t1=(TN[11], S), t2=(FORK, C), t3=(TN[12], S),
       t4=(TN[13], S), t5=(JOIN, IP), t6=(SUB, IP), t7=(JOIN, IP))  # fmt: skip
    assert _refs(run, ["t11", "t12", "t13", "fork1", "fork2", "sw1"]) == 6
    assert _refs(run, ["t1", "t2", "t16"]) == 0
    _joins(run, 7, sub=True)

    for i in (11, 12, 13):
        await _complete(rt, TN[i], f"task{i}.worker")
    run = await status(rt, run_id)
    at(run, "RUNNING", 11, t0=(FORK, C), t1=(TN[11], C), t2=(FORK, C), t3=(TN[12], C),
       t4=(TN[13], C), t5=(JOIN, IP), t6=(SUB, IP), t7=(JOIN, IP), t8=(TN[14], S),
       t9=("DECISION", C), t10=(TN[16], S))  # fmt: skip
    _joins(run, 7, sub=True)

    await _complete(rt, TN[16], "task16.worker")
    await _complete(rt, TN[14], "task14.worker")
    run = await status(rt, run_id)
    sub_id = by_ref(run, "sw1").sub_workflow_id
    assert sub_id is not None
    at(run, "RUNNING", 12, t5=(JOIN, IP), t6=(SUB, IP), t7=(JOIN, IP), t8=(TN[14], C),
       t9=("DECISION", C), t10=(TN[16], C), t11=(TN[19], S))  # fmt: skip
    _joins(run, 7, sub=True)

    at(await status(rt, sub_id), "RUNNING", 1, t0=(T1, S))
    await _complete(rt, T1, "task1.worker")
    await _complete(rt, T2, "task2.worker")
    at(await status(rt, sub_id), "COMPLETED", 2, t0=(T1, C), t1=(T2, C))
    run = await status(rt, run_id)
    at(run, "RUNNING", 12, t5=(JOIN, IP), t6=(SUB, C), t7=(JOIN, IP), t11=(TN[19], S))
    _joins(run, 7, sub=True)

    await _complete(rt, TN[19], "task19.worker")
    run = await status(rt, run_id)
    at(run, "RUNNING", 13, t5=(JOIN, IP), t7=(JOIN, IP), t11=(TN[19], C), t12=(TN[20], S))
    _joins(run, 7, sub=True)

    await _complete(rt, TN[20], "task20.worker")
    run = await status(rt, run_id)
    at(run, "RUNNING", 14, t5=(JOIN, C), t7=(JOIN, C), t12=(TN[20], C), t13=(TN[15], S))
    _joins(run, 7, sub=True)

    await _complete(rt, TN[15], "task15.worker")
    at(await status(rt, run_id), "COMPLETED", 14, t13=(TN[15], C))


SW_INPUT = {"param1": "p1 value", "param2": "p2 value"}
SUB_TASK = "simple_task_in_sub_wf"
CWE = "COMPLETED_WITH_ERRORS"


async def test_fork_join_with_sub_workflows_containing_optional_tasks(
    h: cadenza.Runtime,
) -> None:
    """ForkJoinSpec.groovy: "Test fork join with sub workflows containing optional tasks"."""
    rt = h
    await harness(
        rt,
        "fork_join_with_optional_sub_workflow_forks_integration_test.json",
        "simple_one_task_sub_workflow_integration_test.json",
    )
    run_id = await rt.start("integration_test_fork_join_optional_sw", SW_INPUT)
    run = await status(rt, run_id)
    at(run, "RUNNING", 4, t0=(FORK, C), t1=(SUB, IP), t2=(SUB, IP), t3=(JOIN, IP))
    join_on(run.tasks[3], ["st1", "st2"])
    sub1, sub2 = by_ref(run, "st1").sub_workflow_id, by_ref(run, "st2").sub_workflow_id
    assert sub1 is not None
    assert sub2 is not None
    at(await status(rt, sub1), "RUNNING", 1, t0=(SUB_TASK, S))
    at(await status(rt, sub2), "RUNNING", 1, t0=(SUB_TASK, S))

    await _fail(rt, SUB_TASK, "Failed....")
    await _fail(rt, SUB_TASK, "Failed....")
    at(await status(rt, sub1), "FAILED", 1, t0=(SUB_TASK, F))
    at(await status(rt, sub2), "FAILED", 1, t0=(SUB_TASK, F))
    done = {"t0": (FORK, C), "t1": (SUB, CWE), "t2": (SUB, CWE), "t3": (JOIN, CWE)}
    at(await status(rt, run_id), "COMPLETED", 4, **done)

    await rt.rerun(sub1, "t1")  # RerunWorkflowRequest(reRunFromWorkflowId): from the start
    at(await status(rt, sub1), "RUNNING", 1, t0=(SUB_TASK, S))
    at(await status(rt, run_id), "COMPLETED", 4, **done)


async def test_fork_join_with_permissive_sub_workflow_forks_terminated_by_the_user(
    h: cadenza.Runtime,
) -> None:
    """ForkJoinSpec.groovy: "Test fork join with permissive sub workflow forks terminated by
    the user"."""
    rt = h
    await harness(
        rt,
        "fork_join_with_permissive_sub_workflow_forks_integration_test.json",
        "simple_one_task_sub_workflow_integration_test.json",
    )
    run_id = await rt.start("integration_test_fork_join_permissive_sw", SW_INPUT)
    run = await status(rt, run_id)
    at(run, "RUNNING", 4, t0=(FORK, C), t1=(SUB, IP), t2=(SUB, IP), t3=(JOIN, IP))
    sub1, sub2 = by_ref(run, "st1").sub_workflow_id, by_ref(run, "st2").sub_workflow_id
    assert sub1 is not None
    assert sub2 is not None
    assert (await status(rt, sub1)).status == "RUNNING"
    assert (await status(rt, sub2)).status == "RUNNING"

    await rt.terminate(sub1, "terminated by the user")
    await rt.terminate(sub2, "terminated by the user")
    assert (await status(rt, sub1)).status == "TERMINATED"
    assert (await status(rt, sub2)).status == "TERMINATED"
    at(await status(rt, run_id), "TERMINATED", 4,
       t0=(FORK, C), t1=(SUB, CA), t2=(SUB, CA), t3=(JOIN, CA))  # fmt: skip


async def test_fork_join_with_sub_workflow_task_using_task_definition(
    h: cadenza.Runtime,
) -> None:
    """ForkJoinSpec.groovy: "Test fork join with sub workflow task using task definition"."""
    rt = h
    await harness(
        rt, "fork_join_sub_workflow.json", "simple_one_task_sub_workflow_integration_test.json"
    )
    run_id = await rt.start("integration_test_fork_join_sw", SW_INPUT)
    run = await status(rt, run_id)
    at(run, "RUNNING", 4, t0=(FORK, C), t1=(SUB, IP), t2=(T2, S), t3=(JOIN, IP))
    join_on(run.tasks[3], ["st1", "t2"])
    sub_id = by_ref(run, "st1").sub_workflow_id
    assert sub_id is not None
    at(await status(rt, sub_id), "RUNNING", 1, t0=(SUB_TASK, S))

    await _fail(rt, SUB_TASK, "Failed....")
    at(await status(rt, sub_id), "FAILED", 1, t0=(SUB_TASK, F))
    run = await status(rt, run_id)
    at(run, "RUNNING", 5, t0=(FORK, C), t1=(SUB, F), t2=(T2, S), t3=(JOIN, IP), t4=(SUB, IP))
    join_on(run.tasks[3], ["st1", "t2"])
    assert run.tasks[4].attempt == 1  # the retried task: retryCount == 1

    sub_id = by_ref(run, "st1").sub_workflow_id
    assert sub_id is not None
    at(await status(rt, sub_id), "RUNNING", 1, t0=(SUB_TASK, S))
    await _complete(rt, SUB_TASK, "subworkflow.task.worker")
    at(await status(rt, sub_id), "COMPLETED", 1, t0=(SUB_TASK, C))
    at(await status(rt, run_id), "RUNNING", 5,
       t0=(FORK, C), t1=(SUB, F), t2=(T2, S), t3=(JOIN, IP), t4=(SUB, C))  # fmt: skip

    await _complete(rt, T2, "task2.worker")
    at(await status(rt, run_id), "COMPLETED", 5,
       t0=(FORK, C), t1=(SUB, F), t2=(T2, C), t3=(JOIN, C), t4=(SUB, C))  # fmt: skip
