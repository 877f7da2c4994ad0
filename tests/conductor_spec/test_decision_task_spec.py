"""Conductor's DecisionTaskSpec, ported (its features are SwitchTaskSpec's with DECISION;
the shared steps are in _conditional.py)."""

from __future__ import annotations

import pytest

import cadenza
from tests.conductor_spec import _conditional as c
from tests.conductor_spec._support import harness

DECISION = c.Kind("DECISION", "caseOutput", "DecisionWorkflow")


@pytest.fixture
async def h(rt: cadenza.Runtime) -> cadenza.Runtime:
    await harness(
        rt,
        "simple_decision_task_integration_test.json",
        "decision_and_fork_join_integration_test.json",
        "conditional_task_workflow_integration_test.json",
    )
    return rt


async def test_simple_decision_workflow(h: cadenza.Runtime) -> None:
    """DecisionTaskSpec.groovy: "Test simple decision workflow"."""
    await c.simple_workflow(h, DECISION)


async def test_a_workflow_that_has_a_decision_task_that_leads_to_a_fork_join(
    h: cadenza.Runtime,
) -> None:
    """DecisionTaskSpec.groovy: "Test a workflow that has a decision task that leads to a fork
    join"."""
    await c.leads_to_a_fork_join(h, DECISION)


async def test_default_case_condition_execution_of_a_conditional_workflow(
    h: cadenza.Runtime,
) -> None:
    """DecisionTaskSpec.groovy: "Test default case condition execution of a conditional
    workflow"."""
    await c.default_case(h, DECISION)


@pytest.mark.parametrize(
    ("case_value", "expected"), [("two", "integration_task_2"), ("one", "integration_task_1")]
)
async def test_case_nested_and_case_value_condition_execution_of_a_conditional_workflow(
    h: cadenza.Runtime, case_value: str, expected: str
) -> None:
    """DecisionTaskSpec.groovy: "Test case 'nested' and '#caseValue' condition execution of a
    conditional workflow" (@Unroll over its where: table)."""
    await c.nested_case(h, DECISION, case_value, expected)


async def test_three_case_condition_execution_of_a_conditional_workflow(
    h: cadenza.Runtime,
) -> None:
    """DecisionTaskSpec.groovy: "Test 'three' case condition execution of a conditional
    workflow"."""
    await c.three_case(h, DECISION)
