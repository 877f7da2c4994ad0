"""Conductor's DynamicForkJoinSpec, ported."""

from __future__ import annotations

from typing import Any

import pytest

import cadenza
from tests.conductor_spec._support import (
    by_ref,
    harness,
    poll_and_complete,
    poll_and_fail,
    shape,
    status,
    verify_polled,
)

DYNAMIC_TASKS = {
    "dynamicTasks": [
        {"name": "integration_task_2", "taskReferenceName": "xdt1"},
        {"name": "integration_task_3", "taskReferenceName": "xdt2"},
    ],
    "dynamicTasksInput": {"xdt1": {"k1": "v1"}, "xdt2": {"k2": "v2"}},
}


async def _fork_dynamically(rt: cadenza.Runtime, task2_retries: int = 1) -> str:
    await harness(
        rt, "dynamic_fork_join_integration_test.json", "simple_workflow_3_integration_test.json"
    )
    await rt.register_task(
        {"name": "integration_task_2", "retryCount": task2_retries, "timeoutSeconds": 120,
         "responseTimeoutSeconds": 120}
    )  # fmt: skip
    run_id = await rt.start("DynamicFanInOutTest", {}, correlation_id="dynamic_fork_join_workflow")
    run = await status(rt, run_id)
    assert run.status == "RUNNING"
    assert shape(run) == [("integration_task_1", "SCHEDULED")]

    verify_polled(await poll_and_complete(rt, "integration_task_1", "task1.worker", DYNAMIC_TASKS))
    run = await status(rt, run_id)
    assert run.status == "RUNNING"
    assert shape(run) == [
        ("integration_task_1", "COMPLETED"),
        ("FORK", "COMPLETED"),
        ("integration_task_2", "SCHEDULED"),
        ("integration_task_3", "SCHEDULED"),
        ("JOIN", "IN_PROGRESS"),
    ]
    assert run.tasks[4].ref == "dynamicfanouttask_join"
    return run_id


async def test_dynamic_fork_join_success_flow(rt: cadenza.Runtime) -> None:
    """DynamicForkJoinSpec.groovy: "Test dynamic fork join success flow"."""
    run_id = await _fork_dynamically(rt)
    done2 = await poll_and_complete(rt, "integration_task_2", "task2.worker", {"ok1": "ov1"})
    done3 = await poll_and_complete(rt, "integration_task_3", "task3.worker", {"ok1": "ov1"})
    verify_polled(done2, {"k1": "v1"})
    verify_polled(done3, {"k2": "v2"})

    run = await status(rt, run_id)
    assert run.status == "RUNNING"
    assert len(run.tasks) == 6
    assert shape(run)[2:] == [
        ("integration_task_2", "COMPLETED"),
        ("integration_task_3", "COMPLETED"),
        ("JOIN", "COMPLETED"),
        ("integration_task_4", "SCHEDULED"),
    ]
    join = by_ref(run, "dynamicfanouttask_join")
    assert join.input["joinOn"] == ["xdt1", "xdt2"]
    output: dict[str, Any] = join.output
    assert output["xdt1"]["ok1"] == "ov1"
    assert output["xdt2"]["ok1"] == "ov1"

    verify_polled(await poll_and_complete(rt, "integration_task_4", "task4.worker"))
    run = await status(rt, run_id)
    assert run.status == "COMPLETED"
    assert len(run.tasks) == 6
    assert shape(run)[5] == ("integration_task_4", "COMPLETED")


async def test_dynamic_fork_join_failure_of_dynamic_forked_task_flow(rt: cadenza.Runtime) -> None:
    """DynamicForkJoinSpec.groovy: "Test dynamic fork join failure of dynamic forked task
    flow"."""
    run_id = await _fork_dynamically(rt, task2_retries=0)
    failed = await poll_and_fail(rt, "integration_task_2", "task2.worker", "it is a failure..")
    verify_polled(failed, {"k1": "v1"})
    run = await status(rt, run_id)
    assert run.status == "FAILED"
    assert len(run.tasks) == 5
    assert shape(run)[2:] == [
        ("integration_task_2", "FAILED"),
        ("integration_task_3", "CANCELED"),
        ("JOIN", "CANCELED"),
    ]
    assert run.tasks[4].input["joinOn"] == ["xdt1", "xdt2"]
    assert run.tasks[4].ref == "dynamicfanouttask_join"


async def test_retry_a_failed_dynamic_fork_join_workflow(rt: cadenza.Runtime) -> None:
    """DynamicForkJoinSpec.groovy: "Retry a failed dynamic fork join workflow"."""
    run_id = await _fork_dynamically(rt, task2_retries=0)
    failed = await poll_and_fail(rt, "integration_task_2", "task2.worker", "it is a failure..")
    verify_polled(failed, {"k1": "v1"})
    run = await status(rt, run_id)
    assert run.status == "FAILED"
    assert len(run.tasks) == 5
    assert shape(run)[2:] == [
        ("integration_task_2", "FAILED"),
        ("integration_task_3", "CANCELED"),
        ("JOIN", "CANCELED"),
    ]
    assert run.tasks[4].input["joinOn"] == ["xdt1", "xdt2"]
    assert run.tasks[4].ref == "dynamicfanouttask_join"

    await rt.retry(run_id)
    run = await status(rt, run_id)
    assert run.status == "RUNNING"
    assert len(run.tasks) == 7
    assert shape(run)[2:] == [
        ("integration_task_2", "FAILED"),
        ("integration_task_3", "CANCELED"),
        ("JOIN", "IN_PROGRESS"),
        ("integration_task_2", "SCHEDULED"),
        ("integration_task_3", "SCHEDULED"),
    ]
    assert run.tasks[4].ref == "dynamicfanouttask_join"

    done2 = await poll_and_complete(rt, "integration_task_2", "task2.worker", {"ok1": "ov1"})
    done3 = await poll_and_complete(rt, "integration_task_3", "task3.worker", {"ok1": "ov1"})
    verify_polled(done2, {"k1": "v1"})
    verify_polled(done3, {"k2": "v2"})
    run = await status(rt, run_id)
    assert run.status == "RUNNING"
    assert len(run.tasks) == 8
    join = run.tasks[4]
    assert (join.type, join.status, join.ref) == ("JOIN", "COMPLETED", "dynamicfanouttask_join")
    assert join.input["joinOn"] == ["xdt1", "xdt2"]
    assert join.output["xdt1"]["ok1"] == "ov1"
    assert join.output["xdt2"]["ok1"] == "ov1"
    assert shape(run)[5:] == [
        ("integration_task_2", "COMPLETED"),
        ("integration_task_3", "COMPLETED"),
        ("integration_task_4", "SCHEDULED"),
    ]

    verify_polled(await poll_and_complete(rt, "integration_task_4", "task4.worker"))
    run = await status(rt, run_id)
    assert run.status == "COMPLETED"
    assert len(run.tasks) == 8
    assert shape(run)[7] == ("integration_task_4", "COMPLETED")


async def test_retry_a_failed_dynamic_fork_join_workflow_with_forked_subworkflow(
    rt: cadenza.Runtime,
) -> None:
    """DynamicForkJoinSpec.groovy: "Retry a failed dynamic fork join workflow with forked
    subworkflow"."""
    await harness(
        rt, "dynamic_fork_join_integration_test.json", "simple_workflow_3_integration_test.json"
    )
    await rt.register_task(
        {"name": "integration_task_2", "retryCount": 0, "timeoutSeconds": 120,
         "responseTimeoutSeconds": 120}
    )  # fmt: skip
    run_id = await rt.start("DynamicFanInOutTest", {}, correlation_id="dynamic_fork_join_wf_subwf")
    run = await status(rt, run_id)
    assert run.status == "RUNNING"
    assert shape(run) == [("integration_task_1", "SCHEDULED")]

    dynamic = {
        "dynamicTasks": [
            {"name": "sub_wf_task", "taskReferenceName": "xdt1", "type": "SUB_WORKFLOW",
             "subWorkflowParam": {"name": "integration_test_wf3", "version": 1}},
            {"name": "integration_task_10", "taskReferenceName": "xdt10"},
        ],
        "dynamicTasksInput": {"xdt1": {"p1": "q1", "p2": "q2"}, "xdt10": {"k2": "v2"}},
    }  # fmt: skip
    verify_polled(await poll_and_complete(rt, "integration_task_1", "task1.worker", dynamic))
    run = await status(rt, run_id)
    forked = [("integration_task_1", "COMPLETED"), ("FORK", "COMPLETED")]
    assert run.status == "RUNNING"
    assert shape(run) == [
        *forked,
        ("SUB_WORKFLOW", "IN_PROGRESS"),
        ("integration_task_10", "SCHEDULED"),
        ("JOIN", "IN_PROGRESS"),
    ]
    assert run.tasks[4].ref == "dynamicfanouttask_join"
    sub_id = run.tasks[2].sub_workflow_id
    assert sub_id is not None
    sub = await status(rt, sub_id)
    assert sub.status == "RUNNING"
    assert shape(sub) == [("integration_task_1", "SCHEDULED")]

    verify_polled(await poll_and_complete(rt, "integration_task_10", "task10.worker"))
    run = await status(rt, run_id)
    assert run.status == "RUNNING"
    assert shape(run)[2:4] == [
        ("SUB_WORKFLOW", "IN_PROGRESS"),
        ("integration_task_10", "COMPLETED"),
    ]

    verify_polled(await poll_and_complete(rt, "integration_task_1", "task1.worker"))
    sub = await status(rt, sub_id)
    assert sub.status == "RUNNING"
    assert shape(sub) == [("integration_task_1", "COMPLETED"), ("integration_task_2", "SCHEDULED")]

    verify_polled(await poll_and_fail(rt, "integration_task_2", "task2.worker", "failure"))
    sub = await status(rt, sub_id)
    assert sub.status == "FAILED"
    assert shape(sub) == [("integration_task_1", "COMPLETED"), ("integration_task_2", "FAILED")]
    run = await status(rt, run_id)
    assert run.status == "FAILED"
    assert shape(run) == [
        *forked,
        ("SUB_WORKFLOW", "FAILED"),
        ("integration_task_10", "COMPLETED"),
        ("JOIN", "CANCELED"),
    ]

    await rt.retry(run_id, resume_subworkflow_tasks=True)  # retry(workflowInstanceId, true)
    running = [
        *forked,
        ("SUB_WORKFLOW", "IN_PROGRESS"),
        ("integration_task_10", "COMPLETED"),
        ("JOIN", "IN_PROGRESS"),
    ]
    run = await status(rt, run_id)
    assert run.status == "RUNNING"
    assert shape(run) == running
    assert run.tasks[2].sub_workflow_id == sub_id  # !subworkflowChanged
    sub = await status(rt, sub_id)
    assert sub.status == "RUNNING"
    assert shape(sub) == [
        ("integration_task_1", "COMPLETED"),
        ("integration_task_2", "FAILED"),
        ("integration_task_2", "SCHEDULED"),
    ]

    verify_polled(await poll_and_complete(rt, "integration_task_2", "task2.worker"))
    sub = await status(rt, sub_id)
    assert sub.status == "RUNNING"
    assert shape(sub)[2:] == [
        ("integration_task_2", "COMPLETED"),
        ("integration_task_3", "SCHEDULED"),
    ]

    verify_polled(await poll_and_complete(rt, "integration_task_3", "task3.worker"))
    sub = await status(rt, sub_id)
    assert sub.status == "COMPLETED"
    assert len(sub.tasks) == 4
    run = await status(rt, run_id)
    assert run.status == "RUNNING"
    assert shape(run) == [
        *forked,
        ("SUB_WORKFLOW", "COMPLETED"),
        ("integration_task_10", "COMPLETED"),
        ("JOIN", "COMPLETED"),
        ("integration_task_4", "SCHEDULED"),
    ]
    assert run.tasks[2].sub_workflow_id == sub_id

    verify_polled(await poll_and_complete(rt, "integration_task_4", "task4.worker"))
    run = await status(rt, run_id)
    assert run.status == "COMPLETED"
    assert shape(run)[5] == ("integration_task_4", "COMPLETED")


async def test_dynamic_fork_join_empty_output(rt: cadenza.Runtime) -> None:
    """DynamicForkJoinSpec.groovy: "Test dynamic fork join empty output"."""
    run_id = await _fork_dynamically(rt)
    done2 = await poll_and_complete(rt, "integration_task_2", "task2.worker")
    done3 = await poll_and_complete(rt, "integration_task_3", "task3.worker")
    verify_polled(done2, {"k1": "v1"})
    verify_polled(done3, {"k2": "v2"})
    run = await status(rt, run_id)
    assert run.status == "RUNNING"
    assert len(run.tasks) == 6
    assert shape(run)[2:] == [
        ("integration_task_2", "COMPLETED"),
        ("integration_task_3", "COMPLETED"),
        ("JOIN", "COMPLETED"),
        ("integration_task_4", "SCHEDULED"),
    ]
    join = run.tasks[4]
    assert join.ref == "dynamicfanouttask_join"
    assert join.input["joinOn"] == ["xdt1", "xdt2"]
    assert join.output == {}

    verify_polled(await poll_and_complete(rt, "integration_task_4", "task4.worker"))
    run = await status(rt, run_id)
    assert run.status == "COMPLETED"
    assert len(run.tasks) == 6
    assert shape(run)[5] == ("integration_task_4", "COMPLETED")


INVALID_TASKS = {
    "dynamicTasks": DYNAMIC_TASKS["dynamicTasks"],
    "dynamicTasksInput": {"xdt1": "v1", "xdt2": "v2"},
}


async def test_dynamic_fork_join_fail_when_task_input_is_invalid(rt: cadenza.Runtime) -> None:
    """DynamicForkJoinSpec.groovy: "Test dynamic fork join fail when task input is invalid"."""
    await harness(
        rt, "dynamic_fork_join_integration_test.json", "simple_workflow_3_integration_test.json"
    )
    run_id = await rt.start("DynamicFanInOutTest", {}, correlation_id="dynamic_fork_join_workflow")
    run = await status(rt, run_id)
    assert run.status == "RUNNING"
    assert shape(run) == [("integration_task_1", "SCHEDULED")]

    verify_polled(await poll_and_complete(rt, "integration_task_1", "task1.worker", INVALID_TASKS))
    run = await status(rt, run_id)
    assert run.status == "FAILED"
    assert shape(run) == [("integration_task_1", "COMPLETED")]


async def test_dynamic_fork_join_return_failed_workflow_when_start_with_invalid_input(
    rt: cadenza.Runtime,
) -> None:
    """DynamicForkJoinSpec.groovy: "Test dynamic fork join return failed workflow when start
    with invalid input"."""
    await harness(rt)
    definition = {
        "name": "DynamicForkJoinStartTest",
        "version": 1,
        "ownerEmail": "test@harness.com",
        "tasks": [
            {
                "name": "dynamicfanouttask",
                "taskReferenceName": "dynamicfanouttask",
                "type": "FORK_JOIN_DYNAMIC",
                "inputParameters": {
                    "dynamicTasks": "${workflow.input.dynamicTasks}",
                    "dynamicTasksInput": "${workflow.input.dynamicTasksInput}",
                },
                "dynamicForkTasksParam": "dynamicTasks",
                "dynamicForkTasksInputParamName": "dynamicTasksInput",
            }
        ],
    }
    with pytest.raises(cadenza.DefinitionError, match="must be followed by a JOIN"):
        await rt.register(definition)  # registering validates
    # passed inline to startWorkflow, unvalidated (WorkflowExecutorOps.java:2746-2762); the run
    # fails on the invalid fork input with no task added (ForkJoinDynamicTaskMapper.java:208-213)
    run_id = await rt.start("DynamicForkJoinStartTest", INVALID_TASKS, definition=definition)
    run = await status(rt, run_id)
    assert run.status == "FAILED"
    assert run.tasks == []
