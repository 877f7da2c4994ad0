"""Conductor's WorkflowAndTaskConfigurationSpec, ported: optional/permissive tasks, timeouts,
input templates, rerun, skip, pause/resume, callbackAfterSeconds."""

from __future__ import annotations

import os

import pytest

import cadenza
from cadenza.testing import VirtualClock
from tests.conductor_spec._support import (
    harness,
    modified_def,
    poll,
    poll_and_complete,
    poll_and_fail,
    shape,
    status,
    verify_polled,
)

SPEC = "WorkflowAndTaskConfigurationSpec.groovy"
WF = "integration_test_wf"
TEST_WORKFLOW = "integration_test_wf3"
INPUT = {"param1": "p1 value", "param2": "p2 value"}
W1 = "task1.integration.worker"
W2 = "task2.integration.worker"


@pytest.fixture
async def h(rt: cadenza.Runtime) -> cadenza.Runtime:
    await harness(
        rt,
        "simple_workflow_1_integration_test.json",
        "simple_workflow_1_input_template_integration_test.json",
        "simple_workflow_3_integration_test.json",
        "simple_workflow_with_optional_task_integration_test.json",
        "simple_workflow_with_permissive_task_integration_test.json",
        "simple_workflow_with_permissive_optional_task_integration_test.json",
        "simple_wait_task_workflow_integration_test.json",
    )
    return rt


async def _optional_task_times_out(rt: cadenza.Runtime, clock: VirtualClock, wf: str) -> str:
    run_id = await rt.start(wf, INPUT, correlation_id="integration_test")
    run = await status(rt, run_id)
    assert run.status == "RUNNING"
    assert shape(run) == [("task_optional", "SCHEDULED")]

    verify_polled(await poll_and_fail(rt, "task_optional", W1, "NETWORK ERROR"))
    run = await status(rt, run_id)
    assert run.status == "RUNNING"
    assert shape(run) == [("task_optional", "FAILED"), ("task_optional", "SCHEDULED")]

    await poll(rt, "task_optional", W1)  # polled, never completed
    await clock.advance(5)
    run = await status(rt, run_id)
    assert run.status == "RUNNING"
    assert len(run.tasks) == 3
    assert shape(run)[1:] == [
        ("task_optional", "COMPLETED_WITH_ERRORS"),
        ("integration_task_2", "SCHEDULED"),
    ]
    return run_id


async def test_simple_workflow_which_has_an_optional_task(
    h: cadenza.Runtime, clock: VirtualClock
) -> None:
    """WorkflowAndTaskConfigurationSpec.groovy: "Test simple workflow which has an optional
    task"."""
    rt = h
    run_id = await _optional_task_times_out(rt, clock, "optional_task_wf")
    verify_polled(await poll_and_complete(rt, "integration_task_2", W2))
    run = await status(rt, run_id)
    assert run.status == "COMPLETED"
    assert len(run.tasks) == 3
    assert shape(run)[2] == ("integration_task_2", "COMPLETED")


async def test_simple_workflow_which_has_a_permissive_task(h: cadenza.Runtime) -> None:
    """WorkflowAndTaskConfigurationSpec.groovy: "Test simple workflow which has a permissive
    task"."""
    rt = h
    run_id = await rt.start("permissive_task_wf", INPUT, correlation_id="integration_test")
    run = await status(rt, run_id)
    assert run.status == "RUNNING"
    assert shape(run) == [("task_permissive", "SCHEDULED")]

    verify_polled(await poll_and_fail(rt, "task_permissive", W1, "NETWORK ERROR"))
    run = await status(rt, run_id)
    assert run.status == "RUNNING"
    assert shape(run) == [("task_permissive", "FAILED"), ("task_permissive", "SCHEDULED")]

    verify_polled(await poll_and_fail(rt, "task_permissive", W1, "NETWORK ERROR"))
    run = await status(rt, run_id)
    assert run.status == "RUNNING"
    assert len(run.tasks) == 3
    assert shape(run)[1:] == [("task_permissive", "FAILED"), ("integration_task_2", "SCHEDULED")]

    verify_polled(await poll_and_complete(rt, "integration_task_2", W2))
    run = await status(rt, run_id)
    assert run.status == "FAILED"
    assert run.reason == (
        f"Task {run.tasks[1].id} failed with status: FAILED and reason: 'NETWORK ERROR'"
    )
    assert len(run.tasks) == 3
    assert shape(run)[2] == ("integration_task_2", "COMPLETED")


async def test_simple_workflow_which_has_a_permissive_optional_task(
    h: cadenza.Runtime, clock: VirtualClock
) -> None:
    """WorkflowAndTaskConfigurationSpec.groovy: "Test simple workflow which has a permissive
    optional task"."""
    rt = h
    run_id = await _optional_task_times_out(rt, clock, "permissive_optional_task_wf")
    verify_polled(await poll_and_complete(rt, "integration_task_2", W2))
    run = await status(rt, run_id)
    assert run.status == "COMPLETED"
    assert len(run.tasks) == 3
    assert shape(run)[2] == ("integration_task_2", "COMPLETED")


async def test_workflow_with_input_template_parsing(h: cadenza.Runtime) -> None:
    """WorkflowAndTaskConfigurationSpec.groovy: "test workflow with input template parsing"."""
    rt = h
    run_id = await rt.start(
        "integration_test_template_wf", {"param3": "external string"},
        correlation_id="integration_test",
    )  # fmt: skip
    verify_polled(await poll_and_complete(rt, "integration_task_1", W1, {"op": "task1.done"}))
    run = await status(rt, run_id)
    assert run.status == "COMPLETED"
    assert run.output == {
        "output": "task1.done",
        "param3": "external string",
        "param2": ["list", "of", "strings"],
        "param1": {"nested_object": {"nested_key": "nested_value"}},
    }


async def test_simple_workflow_with_task_time_out_configuration(
    h: cadenza.Runtime, clock: VirtualClock
) -> None:
    """WorkflowAndTaskConfigurationSpec.groovy: "Test simple workflow with task time out
    configuration"."""
    rt = h
    await rt.register_task(
        {"name": "integration_task_1", "retryCount": 1, "timeoutSeconds": 1,
         "responseTimeoutSeconds": 1, "retryDelaySeconds": 0, "timeoutPolicy": "RETRY"}
    )  # fmt: skip
    run_id = await rt.start(WF, {**INPUT, "failureWfName": "FanInOutTest"})
    run = await status(rt, run_id)
    assert run.status == "RUNNING"
    assert shape(run) == [("integration_task_1", "SCHEDULED")]
    # (Conductor also checks its decider queue holds the workflow: no such queue here.)

    first = await poll(rt, "integration_task_1", "task1.worker")
    assert first is not None
    assert first.run_id == run_id

    await clock.advance(3)
    run = await status(rt, run_id)
    assert run.status == "RUNNING"
    assert shape(run) == [("integration_task_1", "TIMED_OUT"), ("integration_task_1", "SCHEDULED")]

    second = await poll(rt, "integration_task_1", "task1.worker")
    assert second is not None
    assert second.run_id == run_id

    await clock.advance(3)
    run = await status(rt, run_id)
    assert run.status == "TIMED_OUT"
    assert shape(run) == [("integration_task_1", "TIMED_OUT"), ("integration_task_1", "TIMED_OUT")]


async def _workflow_times_out(rt: cadenza.Runtime, clock: VirtualClock) -> str:
    await modified_def(rt, TEST_WORKFLOW, timeoutPolicy="TIME_OUT_WF", timeoutSeconds=5)
    run_id = await rt.start(TEST_WORKFLOW, INPUT, correlation_id="retry_timeout_wf")
    run = await status(rt, run_id)
    assert run.status == "RUNNING"
    assert shape(run) == [("integration_task_1", "SCHEDULED")]
    task = await poll(rt, "integration_task_1", "task1.worker")
    assert task is not None
    assert task.run_id == run_id
    return run_id


async def test_workflow_timeout_configurations(h: cadenza.Runtime, clock: VirtualClock) -> None:
    """WorkflowAndTaskConfigurationSpec.groovy: "Test workflow timeout configurations"."""
    rt = h
    run_id = await _workflow_times_out(rt, clock)
    await clock.advance(6)
    run = await status(rt, run_id)
    assert run.status == "TIMED_OUT"
    assert shape(run) == [("integration_task_1", "CANCELED")]


async def test_retrying_a_timed_out_workflow_due_to_workflow_timeout(
    h: cadenza.Runtime, clock: VirtualClock
) -> None:
    """WorkflowAndTaskConfigurationSpec.groovy: "Test retrying a timed out workflow due to
    workflow timeout"."""
    rt = h
    run_id = await _workflow_times_out(rt, clock)
    await clock.advance(6)
    run = await status(rt, run_id)
    assert run.status == "TIMED_OUT"
    assert shape(run) == [("integration_task_1", "CANCELED")]
    # (lastRetriedTime == 0 / != 0: cadenza's WorkflowRun has no such field.)

    await rt.retry(run_id)
    run = await status(rt, run_id)
    assert run.status == "RUNNING"
    assert shape(run) == [("integration_task_1", "CANCELED"), ("integration_task_1", "SCHEDULED")]


async def test_retrying_a_timed_out_workflow_due_to_workflow_timeout_without_unsuccessful_tasks(
    h: cadenza.Runtime, clock: VirtualClock
) -> None:
    """WorkflowAndTaskConfigurationSpec.groovy: "Test retrying a timed out workflow due to
    workflow timeout without unsuccessful tasks"."""
    rt = h
    run_id = await _workflow_times_out(rt, clock)
    run = await status(rt, run_id)
    await rt.complete(run.tasks[0].id)
    await clock.advance(6)
    run = await status(rt, run_id)
    assert run.status == "TIMED_OUT"
    assert shape(run)[0] == ("integration_task_1", "COMPLETED")

    await rt.retry(run_id)
    run = await status(rt, run_id)
    assert run.status == "RUNNING"
    assert shape(run)[0] == ("integration_task_1", "COMPLETED")
    assert ("integration_task_2", "SCHEDULED") in shape(run)


async def test_re_running_the_simple_workflow_multiple_times_after_completion(
    h: cadenza.Runtime,
) -> None:
    """WorkflowAndTaskConfigurationSpec.groovy: "Test re-running the simple workflow multiple
    times after completion"."""
    rt = h
    run_id = await rt.start(WF, INPUT, correlation_id="unit_test_1")
    assert shape(await status(rt, run_id)) == [("integration_task_1", "SCHEDULED")]
    verify_polled(await poll_and_complete(rt, "integration_task_1", W1, {"op": "task1.done"}))
    assert shape(await status(rt, run_id)) == [
        ("integration_task_1", "COMPLETED"),
        ("integration_task_2", "SCHEDULED"),
    ]
    expected = {"tp1": "p1 value", "tp2": "task1.done"}
    verify_polled(await poll_and_complete(rt, "integration_task_2", W2), expected)
    run = await status(rt, run_id)
    assert run.status == "COMPLETED"
    assert "o3" in run.output

    await rt.rerun(run_id, "t2")  # reRunFromTaskId: tasks[1]; Conductor reruns the same id
    run = await status(rt, run_id)
    assert run.status == "RUNNING"
    assert shape(run) == [
        ("integration_task_1", "COMPLETED"),
        ("integration_task_2", "SCHEDULED"),
    ]
    verify_polled(await poll_and_complete(rt, "integration_task_2", W2), expected)
    run = await status(rt, run_id)
    assert run.status == "COMPLETED"
    assert len(run.tasks) == 2
    assert "o3" in run.output

    await rt.rerun(run_id, "t1")  # no reRunFromTaskId: from the first task
    run = await status(rt, run_id)
    assert run.status == "RUNNING"
    assert shape(run) == [("integration_task_1", "SCHEDULED")]
    verify_polled(await poll_and_complete(rt, "integration_task_1", W1, {"op": "task1.done"}))
    verify_polled(await poll_and_complete(rt, "integration_task_2", W2), expected)
    run = await status(rt, run_id)
    assert run.status == "COMPLETED"
    assert len(run.tasks) == 2
    assert "o3" in run.output


async def test_task_skipping_in_simple_workflows(h: cadenza.Runtime) -> None:
    """WorkflowAndTaskConfigurationSpec.groovy: "Test task skipping in simple workflows".

    Conductor lists the task skipped ahead of time first: it is created without a seq
    (WorkflowExecutorOps.skipTaskFromWorkflow) and a run's tasks are read sorted by seq
    (RedisExecutionDAO.getWorkflow)."""
    rt = h
    run_id = await rt.start(TEST_WORKFLOW, INPUT, correlation_id="unit_test_3")
    run = await status(rt, run_id)
    assert run.status == "RUNNING"
    assert shape(run) == [("integration_task_1", "SCHEDULED")]

    await rt.skip(run_id, "t2")
    run = await status(rt, run_id)
    assert run.status == "RUNNING"
    # Checked as a set first, so the rest of the feature runs; the order last.
    assert sorted(shape(run)) == [("integration_task_1", "SCHEDULED"),
                                  ("integration_task_2", "SKIPPED")]  # fmt: skip
    skipped_first = shape(run)

    verify_polled(await poll_and_complete(rt, "integration_task_1", W1, {"op": "task1.done"}))
    run = await status(rt, run_id)
    assert run.status == "RUNNING"
    assert len(run.tasks) == 3
    assert ("integration_task_1", "COMPLETED") in shape(run)
    assert shape(run)[2] == ("integration_task_3", "SCHEDULED")

    verify_polled(await poll_and_complete(rt, "integration_task_3", "task3.integration.worker"))
    run = await status(rt, run_id)
    assert run.status == "COMPLETED"
    assert len(run.tasks) == 3
    assert shape(run)[2] == ("integration_task_3", "COMPLETED")

    assert skipped_first == [("integration_task_2", "SKIPPED"), ("integration_task_1", "SCHEDULED")]


async def test_pause_and_resume_simple_workflow(h: cadenza.Runtime) -> None:
    """WorkflowAndTaskConfigurationSpec.groovy: "Test pause and resume simple workflow"."""
    rt = h
    run_id = await rt.start(WF, INPUT, correlation_id="unit_test_1")
    assert shape(await status(rt, run_id)) == [("integration_task_1", "SCHEDULED")]

    await rt.pause(run_id)
    verify_polled(await poll_and_complete(rt, "integration_task_1", W1, {"op": "task1.done"}))
    run = await status(rt, run_id)
    assert run.status == "PAUSED"
    assert shape(run) == [("integration_task_1", "COMPLETED")]
    assert await poll(rt, "integration_task_2", W2) is None
    assert await poll(rt, "integration_task_2", W2) is None  # after a decide: still nothing

    await rt.resume(run_id)
    run = await status(rt, run_id)
    assert run.status == "RUNNING"
    assert shape(run) == [("integration_task_1", "COMPLETED"), ("integration_task_2", "SCHEDULED")]

    verify_polled(
        await poll_and_complete(rt, "integration_task_2", W2),
        {"tp1": "p1 value", "tp2": "task1.done"},
    )
    run = await status(rt, run_id)
    assert run.status == "COMPLETED"
    assert len(run.tasks) == 2
    assert "o3" in run.output


async def test_wait_time_out_task_based_simple_workflow(
    h: cadenza.Runtime, clock: VirtualClock
) -> None:
    """WorkflowAndTaskConfigurationSpec.groovy: "Test wait time out task based simple
    workflow"."""
    rt = h
    run_id = await rt.start("test_wait_timeout", {})  # Conductor: correlationId ''

    run = await status(rt, run_id)
    assert run.status == "RUNNING"
    assert shape(run) == [("WAIT", "IN_PROGRESS")]

    await clock.advance(3)  # past the waitTimeout TaskDef's timeoutSeconds (2), policy RETRY
    run = await status(rt, run_id)
    assert run.status == "RUNNING"
    assert shape(run) == [("WAIT", "TIMED_OUT"), ("WAIT", "SCHEDULED")]

    await rt.complete(run.tasks[1].id)  # updateTask(COMPLETED) on the replacement WAIT
    run = await status(rt, run_id)
    assert run.status == "RUNNING"
    assert len(run.tasks) == 3
    assert shape(run)[1:] == [("WAIT", "COMPLETED"), ("integration_task_1", "SCHEDULED")]

    verify_polled(await poll_and_complete(rt, "integration_task_1", W1, {"op": "task1.done"}))
    run = await status(rt, run_id)
    assert run.status == "COMPLETED"
    assert len(run.tasks) == 3
    assert shape(run)[2] == ("integration_task_1", "COMPLETED")


async def test_simple_workflow_with_callbackafterseconds_for_tasks(
    h: cadenza.Runtime, clock: VirtualClock
) -> None:
    """WorkflowAndTaskConfigurationSpec.groovy: "Test simple workflow with callbackAfterSeconds
    for tasks"."""
    rt = h
    run_id = await rt.start(WF, INPUT, correlation_id="unit_test_1")
    assert shape(await status(rt, run_id)) == [("integration_task_1", "SCHEDULED")]

    task1 = await poll(rt, "integration_task_1", "task1.worker")
    assert task1 is not None
    await rt.update(task1.id, callback_after_s=2)
    run = await status(rt, run_id)
    assert run.status == "RUNNING"
    assert shape(run) == [("integration_task_1", "SCHEDULED")]
    assert await poll(rt, "integration_task_1", "task1.worker") is None
    assert shape(await status(rt, run_id)) == [("integration_task_1", "SCHEDULED")]

    await clock.advance(2.05)
    verify_polled(await poll_and_complete(rt, "integration_task_1", W1, {"op": "task1.done"}))
    run = await status(rt, run_id)
    assert run.status == "RUNNING"
    assert shape(run) == [("integration_task_1", "COMPLETED"), ("integration_task_2", "SCHEDULED")]

    task2 = await poll(rt, "integration_task_2", "task2.worker")
    assert task2 is not None
    await rt.update(task2.id, callback_after_s=5)
    run = await status(rt, run_id)
    assert run.status == "RUNNING"
    assert shape(run)[1] == ("integration_task_2", "SCHEDULED")
    assert await poll(rt, "integration_task_2", "task2.worker") is None

    await clock.advance(5.1)
    verify_polled(await poll_and_complete(rt, "integration_task_2", W1))
    run = await status(rt, run_id)
    assert run.status == "COMPLETED"
    assert shape(run) == [("integration_task_1", "COMPLETED"), ("integration_task_2", "COMPLETED")]


async def test_workflow_with_no_tasks(rt: cadenza.Runtime) -> None:
    """WorkflowAndTaskConfigurationSpec.groovy: "Test workflow with no tasks".

    The definition is passed inline to startWorkflow, so unvalidated
    (WorkflowExecutorOps.java:2746-2762), and completes at once (DeciderService.decide:
    nothing to schedule -> checkForWorkflowCompletion)."""
    empty = {"name": "empty_workflow", "schemaVersion": 2, "tasks": []}
    with pytest.raises(cadenza.DefinitionError, match="tasks must not be empty"):
        await rt.register(empty)  # registering validates (MetadataServiceImpl)
    run_id = await rt.start("empty_workflow", {}, correlation_id="empty_workflow", definition=empty)
    run = await status(rt, run_id)
    assert run.status == "COMPLETED"
    assert run.tasks == []


async def test_task_def_template(
    db_path: str, clock: VirtualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """WorkflowAndTaskConfigurationSpec.groovy: "Test task def template".

    Conductor resolves ${NAME} that is a system property or environment variable of its
    server (ParametersUtils.java:275-279, EnvUtils.java:32-45); cadenza reads the runtime's
    `template_env`, here the process environment as Conductor's server would."""
    monkeypatch.setenv("STACK2", "test_stack")  # Conductor: System.setProperty('STACK2', ...)
    async with cadenza.Runtime(db_path, clock=clock, seed=1, template_env=os.environ) as rt:
        await _task_def_template(rt)


async def _task_def_template(rt: cadenza.Runtime) -> None:
    http_request = {
        "method": "GET",
        "vipStack": "${STACK2}",
        "uri": "/get/something",
        "body": {
            "inputPaths": ["${workflow.input.path1}", "${workflow.input.path2}"],
            "requestDetails": "${workflow.input.requestDetails}",
            "outputPath": "${workflow.input.outputPath}",
        },
    }
    await rt.register_task(
        {"name": "templated_task", "inputTemplate": {"http_request": http_request}}
    )
    await rt.register({
        "name": "template_workflow", "schemaVersion": 2,
        "tasks": [{"name": "templated_task", "type": "SIMPLE", "taskReferenceName": "t0"}],
    })  # fmt: skip
    run_id = await rt.start(
        "template_workflow",
        {"path1": "file://path1", "path2": "file://path2", "outputPath": "s3://bucket/outputPath",
         "requestDetails": {"key1": "value1", "key2": 42}},
        correlation_id="workflow_taskdef_template",
    )  # fmt: skip
    run = await status(rt, run_id)
    assert run.status == "RUNNING"
    assert len(run.tasks) == 1
    got = run.tasks[0].input["http_request"]
    assert isinstance(got, dict)
    assert got["method"] == "GET"
    assert got["vipStack"] == "test_stack"
    assert isinstance(got["body"], dict)
    assert got["body"]["requestDetails"] == {"key1": "value1", "key2": 42}
    assert got["body"]["outputPath"] == "s3://bucket/outputPath"
    assert got["body"]["inputPaths"] == ["file://path1", "file://path2"]
    assert got["uri"] == "/get/something"


async def test_task_def_created_if_not_exist(rt: cadenza.Runtime) -> None:
    """WorkflowAndTaskConfigurationSpec.groovy: "Test task def created if not exist"."""
    await rt.register({
        "name": "test_workflow", "schemaVersion": 2,
        "tasks": [{"name": "task_not_registered", "type": "SIMPLE", "taskReferenceName": "t0"}],
    })  # fmt: skip
    run_id = await rt.start("test_workflow", {}, correlation_id="workflow_taskdef_not_registered")
    run = await status(rt, run_id)
    assert run.status == "RUNNING"
    assert len(run.tasks) == 1
    assert run.tasks[0].name == "task_not_registered"  # taskDefName
