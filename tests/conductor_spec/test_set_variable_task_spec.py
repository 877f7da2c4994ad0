"""Conductor's SetVariableTaskSpec, ported."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

import cadenza
from cadenza.testing import VirtualClock
from tests.conductor_spec._support import harness, shape, status

SET_VARIABLE_WF = "test_set_variable_wf"


async def test_workflow_with_set_variable_task(rt: cadenza.Runtime) -> None:
    """SetVariableTaskSpec.groovy: "Test workflow with set variable task"."""
    await harness(rt, "simple_set_variable_workflow_integration_test.json")
    run_id = await rt.start(SET_VARIABLE_WF, {"var": "var_test_value"})
    run = await status(rt, run_id)
    assert run.status == "COMPLETED"
    assert shape(run) == [("SET_VARIABLE", "COMPLETED")]
    assert run.variables == {"var": "var_test_value"}
    assert run.output == {"variables": {"var": "var_test_value"}}


@pytest.fixture
async def rt_2kb(db_path: str, clock: VirtualClock) -> AsyncIterator[cadenza.Runtime]:
    """The harness's runtime: conductor.app.max-workflow-variables-payload-size-threshold=2KB
    (test-harness/src/test/resources/application-integrationtest.properties:51)."""
    async with cadenza.Runtime(db_path, clock=clock, seed=1, max_variables_kb=2) as runtime:
        yield runtime


async def test_workflow_with_set_variable_task_passing_variables_payload_size_threshold(
    rt_2kb: cadenza.Runtime,
) -> None:
    """SetVariableTaskSpec.groovy:
    "Test workflow with set variable task passing variables payload size threshold".

    Conductor's SetVariable.java:59-113: past the threshold the task is
    FAILED_WITH_TERMINAL_ERROR and the variables are restored."""
    rt = rt_2kb
    await harness(rt, "simple_set_variable_workflow_integration_test.json")
    max_threshold = 2
    var = "01234567" * (1 + max_threshold * 1024 // 8)
    run_id = await rt.start(SET_VARIABLE_WF, {"var": var})
    extra_hashmap_size = 17
    expected = (
        f"The variables payload size: {extra_hashmap_size + max_threshold * 1024 + 1} of "
        f"workflow: {run_id} is greater than the permissible limit: {max_threshold} kilobytes"
    )
    run = await status(rt, run_id)
    assert run.status == "FAILED"
    assert shape(run) == [("SET_VARIABLE", "FAILED_WITH_TERMINAL_ERROR")]
    assert run.tasks[0].reason == expected
    assert run.variables == {}
    assert run.output == {"variables": {}}


async def test_set_variable_under_the_threshold_completes(rt_2kb: cadenza.Runtime) -> None:
    """SetVariable.java:69 fails only a payload *greater* than the limit: 2,048 bytes pass."""
    await harness(rt_2kb, "simple_set_variable_workflow_integration_test.json")
    var = "x" * (2048 - len('{"var":""}'))
    run = await status(rt_2kb, await rt_2kb.start(SET_VARIABLE_WF, {"var": var}))
    assert (run.status, run.variables) == ("COMPLETED", {"var": var})
