"""Conductor's SimpleWorkflowSpec, ported: a two-task linear workflow, driven as a poller."""

from __future__ import annotations

import pytest

import cadenza
from cadenza.testing import VirtualClock
from tests.conductor_spec._support import (
    by_ref,
    failed_refs,
    harness,
    modified_def,
    poll,
    poll_and_complete,
    poll_and_fail,
    retry_count,
    status,
    verify_polled,
)

SPEC = "SimpleWorkflowSpec.groovy"
WF = "integration_test_wf"
INPUT = {"param1": "p1 value", "param2": "p2 value"}


@pytest.fixture
async def h(rt: cadenza.Runtime) -> cadenza.Runtime:
    await harness(
        rt,
        "simple_workflow_1_integration_test.json",
        "simple_workflow_with_resp_time_out_integration_test.json",
    )
    return rt


async def test_simple_workflow_completion(h: cadenza.Runtime) -> None:
    """SimpleWorkflowSpec.groovy: "Test simple workflow completion"."""
    rt = h
    run_id = await rt.start(WF, INPUT, correlation_id="unit_test_1")
    run = await status(rt, run_id)
    assert run.status == "RUNNING"
    assert [(t.type, t.status) for t in run.tasks] == [("integration_task_1", "SCHEDULED")]

    verify_polled(
        await poll_and_complete(rt, "integration_task_1", "task1.integration.worker",
                                {"op": "task1.done"})
    )  # fmt: skip
    run = await status(rt, run_id)
    assert run.status == "RUNNING"
    assert [(t.type, t.status) for t in run.tasks] == [
        ("integration_task_1", "COMPLETED"),
        ("integration_task_2", "SCHEDULED"),
    ]

    verify_polled(
        await poll_and_complete(rt, "integration_task_2", "task2.integration.worker"),
        {"tp1": "p1 value", "tp2": "task1.done"},
    )
    run = await status(rt, run_id)
    assert run.status == "COMPLETED"
    assert len(run.tasks) == 2
    assert (run.tasks[1].type, run.tasks[1].status) == ("integration_task_2", "COMPLETED")
    assert "o3" in run.output


async def test_simple_workflow_with_null_inputs(h: cadenza.Runtime) -> None:
    """SimpleWorkflowSpec.groovy: "Test simple workflow with null inputs"."""
    rt = h
    definition = await rt.definition(WF, 1)
    assert "someNullKey" in definition["tasks"][0]["inputParameters"]

    run_id = await rt.start(
        WF, {"param1": "p1 value", "param2": None}, correlation_id="unit_test_1"
    )
    run = await status(rt, run_id)
    assert run.status == "RUNNING"
    assert len(run.tasks) == 1
    assert run.input["param2"] is None
    assert (run.tasks[0].type, run.tasks[0].status) == ("integration_task_1", "SCHEDULED")
    assert not run.tasks[0].input.get("someNullKey")

    verify_polled(
        await poll_and_complete(rt, "integration_task_1", "task1.integration.worker",
                                {"someOtherKey": {"a": 1, "A": None}, "someKey": None})
    )  # fmt: skip
    run = await status(rt, run_id)
    assert run.status == "RUNNING"
    assert len(run.tasks) == 2
    t1 = run.tasks[0]
    assert (t1.type, t1.status) == ("integration_task_1", "COMPLETED")
    assert "someKey" in t1.output
    assert not t1.output["someKey"]
    assert "A" in t1.output["someOtherKey"]
    assert not t1.output["someOtherKey"]["A"]


async def test_simple_workflow_terminal_error_condition(h: cadenza.Runtime) -> None:
    """SimpleWorkflowSpec.groovy: "Test simple workflow terminal error condition"."""
    rt = h
    await rt.register_task(
        {"name": "integration_task_1", "retryCount": 1, "timeoutSeconds": 120,
         "responseTimeoutSeconds": 120}
    )  # fmt: skip
    definition = await rt.definition(WF, 1)
    outputs = {**definition["outputParameters"], "validationErrors": "${t1.output.ErrorMessage}"}
    await modified_def(rt, WF, outputParameters=outputs)

    run_id = await rt.start(WF, INPUT, correlation_id="unit_test_1")
    run = await status(rt, run_id)
    assert run.status == "RUNNING"
    assert len(run.tasks) == 1

    with pytest.raises(cadenza.InvalidOperation):  # Conductor: ConflictException
        await rt.restart(run_id)

    task = await poll(rt, "integration_task_1", "task1.integration.worker")
    assert task is not None
    reason = (
        "NON TRANSIENT ERROR OCCURRED: An integration point required to complete the task is down"
    )
    await rt.fail(
        task.id,
        reason,
        output={"TERMINAL_ERROR": "Integration endpoint down: FOOBAR",
                "ErrorMessage": "There was a terminal error"},
        terminal=True,
    )  # fmt: skip
    assert task.type == "integration_task_1"
    assert task.run_id == run_id

    run = await status(rt, run_id)
    assert run.status == "FAILED"
    t1 = by_ref(run, "t1")
    assert retry_count(t1) == 0
    assert run.output["o1"] == "p1 value"
    assert run.output["validationErrors"] == "There was a terminal error"
    assert failed_refs(run) == ({"t1"}, {"integration_task_1"})
    assert run.reason == f"Task {t1.id} failed with status: FAILED and reason: '{reason}'"


async def test_simple_workflow_with_response_timeout(
    h: cadenza.Runtime, clock: VirtualClock
) -> None:
    """SimpleWorkflowSpec.groovy: "Test Simple Workflow with response timeout "."""
    rt = h
    run_id = await rt.start("RTOWF", INPUT, correlation_id="unit_test_1")
    run = await status(rt, run_id)
    assert run.status == "RUNNING"
    assert [(t.type, t.status) for t in run.tasks] == [("task_rt", "SCHEDULED")]

    worker = "task1.integration.worker.testTimeout"
    first = await poll(rt, "task_rt", worker)
    assert first is not None
    assert (first.type, first.run_id, first.status) == ("task_rt", run_id, "IN_PROGRESS")
    assert await poll(rt, "task_rt", worker) is None

    await clock.advance(11)  # past responseTimeoutSeconds (10)
    run = await status(rt, run_id)
    assert run.status == "RUNNING"
    assert [t.status for t in run.tasks] == ["TIMED_OUT", "SCHEDULED"]

    second = await poll(rt, "task_rt", worker)
    assert second is not None
    await rt.update(second.id, callback_after_s=2)
    run = await status(rt, run_id)
    assert run.status == "RUNNING"
    assert len(run.tasks) == 2
    assert run.tasks[1].status == "SCHEDULED"  # WorkflowExecutorOps.java:978

    await clock.advance(2.01)
    verify_polled(await poll_and_complete(rt, "task_rt", worker, {"op": "task1.done"}))
    verify_polled(await poll_and_complete(rt, "integration_task_2", worker))
    assert (await status(rt, run_id)).status == "COMPLETED"


async def test_if_the_workflow_definitions_with_and_without_schema_version_can_be_registered(
    rt: cadenza.Runtime,
) -> None:
    """SimpleWorkflowSpec.groovy:
    "Test if the workflow definitions with and without schema version can be registered"."""
    task = {"name": "integration_task_1", "taskReferenceName": "t1"}
    await rt.register({"name": "Test_schema_version1", "version": 1, "tasks": [task]})
    await rt.register(
        {"name": "Test_schema_version2", "version": 1, "schemaVersion": 2, "tasks": [task]}
    )
    assert (await rt.definition("Test_schema_version1", 1))["schemaVersion"] == 2
    assert (await rt.definition("Test_schema_version2", 1))["schemaVersion"] == 2


async def _fail_first_task_without_retries(rt: cadenza.Runtime) -> str:
    await rt.register_task(
        {"name": "integration_task_1", "retryCount": 0, "timeoutSeconds": 120,
         "responseTimeoutSeconds": 120}
    )  # fmt: skip
    definition = await rt.definition(WF, 1)
    assert definition["failureWorkflow"].strip()
    run_id = await rt.start(WF, INPUT, correlation_id="integration_test_1")
    assert (await status(rt, run_id)).status == "RUNNING"
    verify_polled(await poll_and_fail(rt, "integration_task_1", "task1.integration.worker",
                                      "failed.."))  # fmt: skip
    run = await status(rt, run_id)
    assert run.status == "FAILED"
    assert (run.tasks[0].status, run.tasks[0].type) == ("FAILED", "integration_task_1")
    return run_id


async def test_simple_workflow_restart_without_using_the_latest_definition(
    h: cadenza.Runtime,
) -> None:
    """SimpleWorkflowSpec.groovy: "Test Simple workflow restart without using the latest
    definition"."""
    rt = h
    run_id = await _fail_first_task_without_retries(rt)
    await rt.restart(run_id, latest=False)
    assert (await status(rt, run_id)).status == "RUNNING"

    verify_polled(await poll_and_complete(rt, "integration_task_1", "task1.integration.worker"))
    run = await status(rt, run_id)
    assert run.status == "RUNNING"
    assert (run.tasks[0].status, run.tasks[0].type) == ("COMPLETED", "integration_task_1")

    verify_polled(await poll_and_complete(rt, "integration_task_2", "task1.integration.worker"))
    run = await status(rt, run_id)
    assert run.status == "COMPLETED"
    assert (run.tasks[1].status, run.tasks[1].type) == ("COMPLETED", "integration_task_2")


async def test_simple_workflow_restart_with_the_latest_definition(h: cadenza.Runtime) -> None:
    """SimpleWorkflowSpec.groovy: "Test Simple workflow restart with the latest definition"."""
    rt = h
    run_id = await _fail_first_task_without_retries(rt)
    definition = await rt.definition(WF, 1)
    added = {"name": "integration_task_20", "taskReferenceName": "task_added", "type": "SIMPLE"}
    await rt.register({**definition, "version": 2, "tasks": [*definition["tasks"], added]})
    await rt.restart(run_id, latest=True)
    assert (await status(rt, run_id)).status == "RUNNING"

    verify_polled(await poll_and_complete(rt, "integration_task_1", "task1.integration.worker"))
    run = await status(rt, run_id)
    assert run.status == "RUNNING"
    assert (run.tasks[0].status, run.tasks[0].type) == ("COMPLETED", "integration_task_1")

    verify_polled(await poll_and_complete(rt, "integration_task_2", "task1.integration.worker"))
    assert (await status(rt, run_id)).status == "RUNNING"

    task20 = verify_polled(
        await poll_and_complete(rt, "integration_task_20", "task1.integration.worker")
    )
    assert task20.run_id == run_id
    assert task20.ref == "task_added"
    run = await status(rt, run_id)
    assert run.status == "COMPLETED"
    assert len(run.tasks) == 3


async def test_simple_workflow_with_task_retries(h: cadenza.Runtime, clock: VirtualClock) -> None:
    """SimpleWorkflowSpec.groovy: "Test simple workflow with task retries"."""
    rt = h
    await rt.register_task(
        {"name": "integration_task_2", "retryCount": 3, "timeoutSeconds": 120,
         "responseTimeoutSeconds": 120, "retryDelaySeconds": 2}
    )  # fmt: skip
    run_id = await rt.start(WF, INPUT, correlation_id="integration_test_1")
    assert (await status(rt, run_id)).status == "RUNNING"

    task1 = await poll(rt, "integration_task_1", "task1.integration.worker")
    assert task1 is not None
    op = f"task1.output -> {task1.input['p1']}.{task1.input['p2']}"
    await rt.complete(task1.id, {"op": op})
    assert (task1.input["p1"], task1.input["p2"]) == ("p1 value", "p2 value")

    expected = {"tp2": op, "tp1": "p1 value"}
    for _ in range(2):
        failed = await poll_and_fail(rt, "integration_task_2", "task2.integration.worker",
                                     "failure...0")  # fmt: skip
        verify_polled(failed, expected)
        await clock.advance(2)
    verify_polled(
        await poll_and_complete(rt, "integration_task_2", "task2.integration.worker"), expected
    )
    run = await status(rt, run_id)
    assert run.status == "COMPLETED"
    assert [(t.type, t.status) for t in run.tasks] == [
        ("integration_task_1", "COMPLETED"),
        ("integration_task_2", "FAILED"),
        ("integration_task_2", "FAILED"),
        ("integration_task_2", "COMPLETED"),
    ]
    assert run.tasks[1].retried
    assert run.tasks[2].retried
    assert [retry_count(t) for t in run.tasks[1:]] == [0, 1, 2]
    assert failed_refs(run) == ({"t2"}, {"integration_task_2"})


async def test_simple_workflow_with_retry_at_workflow_level(h: cadenza.Runtime) -> None:
    """SimpleWorkflowSpec.groovy: "Test simple workflow with retry at workflow level"."""
    rt = h
    await rt.register_task(
        {"name": "integration_task_1", "retryCount": 1, "timeoutSeconds": 120,
         "responseTimeoutSeconds": 120, "retryDelaySeconds": 0}
    )  # fmt: skip
    run_id = await rt.start(WF, INPUT, correlation_id="retry_test")
    run = await status(rt, run_id)
    assert run.status == "RUNNING"
    assert [t.status for t in run.tasks] == ["SCHEDULED"]
    assert run.tasks[0].input["p3"] == run.tasks[0].id
    assert (await rt.definition(WF, 1))["failureWorkflow"].strip()

    verify_polled(await poll_and_fail(rt, "integration_task_1", "task1.integration.worker",
                                      "failure...0"))  # fmt: skip
    run = await status(rt, run_id)
    assert run.status == "RUNNING"
    assert [t.status for t in run.tasks] == ["FAILED", "SCHEDULED"]
    assert run.tasks[1].input["p3"] == run.tasks[1].id

    verify_polled(await poll_and_fail(rt, "integration_task_1", "task1.integration.worker",
                                      "failure...0"))  # fmt: skip
    run = await status(rt, run_id)
    assert run.status == "FAILED"
    assert [t.status for t in run.tasks] == ["FAILED", "FAILED"]

    await rt.retry(run_id)
    run = await status(rt, run_id)
    assert run.status == "RUNNING"
    assert [t.status for t in run.tasks] == ["FAILED", "FAILED", "SCHEDULED"]
    assert run.tasks[2].input["p3"] == run.tasks[2].id

    verify_polled(await poll_and_complete(rt, "integration_task_1", "task2.integration.worker"))
    run = await status(rt, run_id)
    assert run.status == "RUNNING"
    assert len(run.tasks) == 4
    assert [t.status for t in run.tasks[2:]] == ["COMPLETED", "SCHEDULED"]

    verify_polled(await poll_and_complete(rt, "integration_task_2", "task2.integration.worker"))
    run = await status(rt, run_id)
    assert run.status == "COMPLETED"
    assert len(run.tasks) == 4
    assert [t.status for t in run.tasks[2:]] == ["COMPLETED", "COMPLETED"]
    assert failed_refs(run) == ({"t1"}, {"integration_task_1"})


async def test_long_running_simple_workflow(h: cadenza.Runtime, clock: VirtualClock) -> None:
    """SimpleWorkflowSpec.groovy: "Test Long running simple workflow"."""
    rt = h
    run_id = await rt.start(WF, INPUT, correlation_id="integration_test_1")
    assert (await status(rt, run_id)).status == "RUNNING"

    task = await poll(rt, "integration_task_1", "task1.integration.worker")
    assert task is not None
    await rt.update(task.id, output={"op": "task1.in.progress"}, callback_after_s=5)
    assert task.input["p1"] == "p1 value"
    assert "p2" in task.input
    assert await poll(rt, "integration_task_1", "task1.integration.worker") is None

    await clock.advance(5)
    verify_polled(await poll_and_complete(rt, "integration_task_1", "task1.integration.worker",
                                          {"op": "task1.done"}), {})  # fmt: skip
    run = await status(rt, run_id)
    assert (run.tasks[0].status, run.tasks[0].type) == ("COMPLETED", "integration_task_1")
    assert run.tasks[0].output["op"] == "task1.done"

    verify_polled(
        await poll_and_complete(rt, "integration_task_2", "task2.integration.worker"),
        {"tp2": "task1.done", "tp1": "p1 value"},
    )
    run = await status(rt, run_id)
    assert run.status == "COMPLETED"
    assert [(t.type, t.status) for t in run.tasks] == [
        ("integration_task_1", "COMPLETED"),
        ("integration_task_2", "COMPLETED"),
    ]


async def test_simple_workflow_when_the_tasks_call_back_after_seconds_are_reset(
    h: cadenza.Runtime,
) -> None:
    """SimpleWorkflowSpec.groovy:
    "Test simple workflow when the task's call back after seconds are reset".

    resetCallbacksForWorkflow (WorkflowExecutorOps.java:139-165) is `rt.reset_callbacks`."""
    rt = h
    run_id = await rt.start(WF, INPUT, correlation_id="integration_test_1")
    run = await status(rt, run_id)
    assert run.status == "RUNNING"
    assert [t.status for t in run.tasks] == ["SCHEDULED"]

    task = await poll(rt, "integration_task_1", "task1.integration.worker")
    assert task is not None
    await rt.update(task.id, output={"op": "task1.in.progress"}, callback_after_s=3600)
    assert task.input["p1"] == "p1 value"
    assert await poll(rt, "integration_task_1", "task1.integration.worker") is None
    assert await poll(rt, "integration_task_1", "task1.integration.worker") is None

    await rt.reset_callbacks(run_id)
    verify_polled(await poll_and_complete(rt, "integration_task_1", "task1.integration.worker",
                                          {"op": "task1.done"}))  # fmt: skip
    run = await status(rt, run_id)
    assert run.tasks[0].output["op"] == "task1.done"
    verify_polled(
        await poll_and_complete(rt, "integration_task_2", "task2.integration.worker"),
        {"tp2": "task1.done", "tp1": "p1 value"},
    )
    run = await status(rt, run_id)
    assert run.status == "COMPLETED"
    assert [t.status for t in run.tasks] == ["COMPLETED", "COMPLETED"]


async def test_non_restartable_simple_workflow(h: cadenza.Runtime) -> None:
    """SimpleWorkflowSpec.groovy: "Test non restartable simple workflow"."""
    rt = h
    await rt.register_task(
        {"name": "integration_task_1", "retryCount": 0, "timeoutSeconds": 120,
         "responseTimeoutSeconds": 120}
    )  # fmt: skip
    definition = await rt.definition(WF, 1)
    name = "integration_test_wf_non_restartable"
    await rt.register({**definition, "name": name, "restartable": False})

    run_id = await rt.start(name, INPUT, correlation_id="integration_test_1")
    verify_polled(await poll_and_fail(rt, "integration_task_1", "task1.integration.worker",
                                      "failure...0"))  # fmt: skip
    run = await status(rt, run_id)
    assert run.status == "FAILED"
    assert (run.tasks[0].status, run.tasks[0].type) == ("FAILED", "integration_task_1")

    await rt.restart(run_id, latest=False)
    verify_polled(await poll_and_complete(rt, "integration_task_1", "task1.integration.worker",
                                          {"op": "task1.done"}))  # fmt: skip
    run = await status(rt, run_id)
    assert run.status == "RUNNING"
    assert (run.tasks[0].status, run.tasks[0].type) == ("COMPLETED", "integration_task_1")

    verify_polled(
        await poll_and_complete(rt, "integration_task_2", "task2.integration.worker"),
        {"tp2": "task1.done", "tp1": "p1 value"},
    )
    run = await status(rt, run_id)
    assert run.status == "COMPLETED"
    assert [t.status for t in run.tasks] == ["COMPLETED", "COMPLETED"]
    assert run.output["o3"] == "task1.done"

    # Conductor throws NotFoundException (WorkflowExecutorOps.java:230); cadenza's NotFound
    # means an unknown id, so the refusal is an InvalidOperation.
    with pytest.raises(cadenza.InvalidOperation):
        await rt.restart(run_id, latest=False)


async def test_simple_workflow_when_update_tasks_result_with_call_back_after_seconds(
    h: cadenza.Runtime,
) -> None:
    """SimpleWorkflowSpec.groovy:
    "Test simple workflow when update task's result with call back after seconds"."""
    rt = h
    run_id = await rt.start(WF, INPUT, correlation_id="integration_test_1")
    run = await status(rt, run_id)
    assert run.status == "RUNNING"
    assert [t.status for t in run.tasks] == ["SCHEDULED"]

    task = await poll(rt, "integration_task_1", "task1.integration.worker")
    assert task is not None
    # Conductor's TaskResult IN_PROGRESS with callbackAfterSeconds 0 (its default): back to
    # SCHEDULED, queued again at once (WorkflowExecutorOps.java:978, :1029). cadenza's
    # rt.update without callback_after_s keeps the task IN_PROGRESS (docs/contract.md), so
    # the spec's update is rt.update(..., callback_after_s=0).
    await rt.update(task.id, output={"op": "task1.in.progress"}, callback_after_s=0)
    assert task.input["p1"] == "p1 value"
    run = await status(rt, run_id)
    assert run.status == "RUNNING"
    assert [(t.type, t.status) for t in run.tasks] == [("integration_task_1", "SCHEDULED")]

    again = await poll(rt, "integration_task_1", "task1.integration.worker")
    assert again is not None
    await rt.update(again.id, output={"op": "task1.in.progress"}, callback_after_s=3600)
    run = await status(rt, run_id)
    assert run.status == "RUNNING"
    assert [(t.type, t.status) for t in run.tasks] == [("integration_task_1", "SCHEDULED")]
    assert await poll(rt, "integration_task_1", "task1.integration.worker") is None
