"""Conductor's WaitTaskSpec, ported."""

from __future__ import annotations

import cadenza
from tests.conductor_spec._support import harness, poll_and_complete, shape, status, verify_polled


async def test_workflow_with_set_variable_task(rt: cadenza.Runtime) -> None:
    """WaitTaskSpec.groovy: "Test workflow with set variable task"."""
    await harness(
        rt, "wait_workflow_integration_test.json", "set_variable_workflow_integration_test.json"
    )
    run_id = await rt.start("set_variable_workflow_integration_test", {"var": "var_test_value"})
    run = await status(rt, run_id)
    assert run.status == "RUNNING"
    assert shape(run) == [("simple", "SCHEDULED")]

    verify_polled(await poll_and_complete(rt, "simple", "simple.worker", {"ok1": "ov1"}))
    run = await status(rt, run_id)
    assert run.status == "RUNNING"
    assert shape(run) == [
        ("simple", "COMPLETED"),
        ("SET_VARIABLE", "COMPLETED"),
        ("WAIT", "IN_PROGRESS"),
    ]
    assert run.variables == {"var": "var_test_value"}

    await rt.complete(run.tasks[2].id)  # updateTask(COMPLETED) on the WAIT task
    run = await status(rt, run_id)
    assert run.status == "COMPLETED"
    assert shape(run) == [
        ("simple", "COMPLETED"),
        ("SET_VARIABLE", "COMPLETED"),
        ("WAIT", "COMPLETED"),
    ]
    assert run.variables == {"var": "var_test_value"}
    assert run.output == {"variables": {"var": "var_test_value"}}


async def test_verify_that_a_wait_based_simple_workflow_is_executed(rt: cadenza.Runtime) -> None:
    """WaitTaskSpec.groovy: "Verify that a wait based simple workflow is executed"."""
    await harness(
        rt, "wait_workflow_integration_test.json", "set_variable_workflow_integration_test.json"
    )
    run_id = await rt.start("test_wait_workflow", {})
    run = await status(rt, run_id)
    assert run.status == "RUNNING"
    assert shape(run) == [("WAIT", "IN_PROGRESS")]

    await rt.complete(run.tasks[0].id)
    run = await status(rt, run_id)
    assert run.status == "RUNNING"
    assert shape(run) == [("WAIT", "COMPLETED"), ("integration_task_1", "SCHEDULED")]

    verify_polled(await poll_and_complete(rt, "integration_task_1", "task1.integration.worker"))
    run = await status(rt, run_id)
    assert run.status == "COMPLETED"
    assert shape(run) == [("WAIT", "COMPLETED"), ("integration_task_1", "COMPLETED")]
