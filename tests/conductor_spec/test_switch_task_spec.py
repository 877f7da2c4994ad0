"""Conductor's SwitchTaskSpec, ported (the features it shares with DecisionTaskSpec are in
_conditional.py)."""

from __future__ import annotations

import pytest

import cadenza
from tests.conductor_spec import _conditional as c
from tests.conductor_spec._support import (
    harness,
    poll_and_complete,
    shape,
    status,
    verify_polled,
)

SWITCH = c.Kind("SWITCH", "evaluationResult", "SwitchWorkflow")


@pytest.fixture
async def h(rt: cadenza.Runtime) -> cadenza.Runtime:
    await harness(
        rt,
        "simple_switch_task_integration_test.json",
        "switch_and_fork_join_integration_test.json",
        "conditional_switch_task_workflow_integration_test.json",
        "switch_with_no_default_case_integration_test.json",
    )
    return rt


async def test_simple_switch_workflow(h: cadenza.Runtime) -> None:
    """SwitchTaskSpec.groovy: "Test simple switch workflow"."""
    await c.simple_workflow(h, SWITCH)


async def test_a_workflow_that_has_a_switch_task_that_leads_to_a_fork_join(
    h: cadenza.Runtime,
) -> None:
    """SwitchTaskSpec.groovy: "Test a workflow that has a switch task that leads to a fork
    join"."""
    await c.leads_to_a_fork_join(h, SWITCH)


async def test_default_case_condition_execution_of_a_conditional_workflow(
    h: cadenza.Runtime,
) -> None:
    """SwitchTaskSpec.groovy: "Test default case condition execution of a conditional
    workflow"."""
    await c.default_case(h, SWITCH)


@pytest.mark.parametrize(
    ("case_value", "expected"), [("two", "integration_task_2"), ("one", "integration_task_1")]
)
async def test_case_nested_and_case_value_condition_execution_of_a_conditional_workflow(
    h: cadenza.Runtime, case_value: str, expected: str
) -> None:
    """SwitchTaskSpec.groovy: "Test case 'nested' and '#caseValue' condition execution of a
    conditional workflow" (@Unroll over its where: table)."""
    await c.nested_case(h, SWITCH, case_value, expected)


async def test_three_case_condition_execution_of_a_conditional_workflow(
    h: cadenza.Runtime,
) -> None:
    """SwitchTaskSpec.groovy: "Test 'three' case condition execution of a conditional
    workflow"."""
    await c.three_case(h, SWITCH)


async def test_switch_with_no_default_case_workflow(h: cadenza.Runtime) -> None:
    """SwitchTaskSpec.groovy: "Test switch with no default case workflow"."""
    rt = h
    run_id = await rt.start("SwitchWithNoDefaultCaseWF", {"param1": "p1", "param2": "p2"})
    run = await status(rt, run_id)
    assert run.status == "RUNNING"
    assert shape(run) == [("SWITCH", "COMPLETED"), ("integration_task_2", "SCHEDULED")]

    verify_polled(await poll_and_complete(rt, "integration_task_2", c.W1))
    run = await status(rt, run_id)
    assert run.status == "COMPLETED"
    assert shape(run) == [("SWITCH", "COMPLETED"), ("integration_task_2", "COMPLETED")]
