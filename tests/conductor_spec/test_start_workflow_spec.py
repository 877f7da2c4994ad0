"""Conductor's StartWorkflowSpec, ported: a START_WORKFLOW task starts another workflow."""

from __future__ import annotations

from typing import Any

import pytest

import cadenza
from tests.conductor_spec._support import harness, status
from tests.conductor_spec._support_b import expect

SPEC = "StartWorkflowSpec.groovy"
WF = "workflow_that_starts_another_workflow"

_T1 = {"name": "integration_task_1", "taskReferenceName": "t1", "type": "SIMPLE",
       "inputParameters": {"tp1": "${workflow.input.param1}", "tp2": "${workflow.input.param2}",
                           "tp3": "${CPEWF_TASK_ID}"}}  # fmt: skip
_T2 = {"name": "integration_task_2", "taskReferenceName": "t2", "type": "SIMPLE",
       "inputParameters": {"tp1": "${workflow.input.param1}", "tp2": "${t1.output.op}",
                           "tp3": "${CPEWF_TASK_ID}"}}  # fmt: skip
CASES = {
    "name and version": {
        "startWorkflow": {
            "name": "integration_test_wf",
            "input": {"param1": "value1", "param2": "value2"},
        }
    },
    "workflow definition": {
        "startWorkflow": {
            "name": "dynamic_wf",
            "workflowDef": {
                "name": "dynamic_wf",
                "version": 1,
                "tasks": [_T1, _T2],
                "ownerEmail": "abc@abc.com",
            },
        }
    },
}  # the spec's third case, an input in external payload storage, is in NOT_PORTED.md


@pytest.mark.parametrize("case", list(CASES))
async def test_start_another_workflow_using_test_case_name(rt: cadenza.Runtime, case: str) -> None:
    """StartWorkflowSpec.groovy: "start another workflow using #testCase.name".

    The "workflow definition" case starts an inline `workflowDef` unregistered
    (WorkflowExecutorOps.java:2746 resolveWorkflowDefinition)."""
    await harness(rt, "workflow_that_starts_another_workflow.json",
                  "simple_workflow_1_integration_test.json")  # fmt: skip
    workflow_input: dict[str, Any] = CASES[case]
    run_id = await rt.start(WF, workflow_input, version=1, correlation_id=f"corr-{case}")
    run = await status(rt, run_id)
    expect(run, "COMPLETED", [("START_WORKFLOW", "COMPLETED")], size=1)
    started = await status(rt, run.tasks[0].output["workflowId"])
    assert started.status == "RUNNING"
    assert started.correlation_id == f"corr-{case}"
    assert started.input is not None


async def test_start_workflow_does_not_conform_to_start_workflow_request(
    rt: cadenza.Runtime,
) -> None:
    """StartWorkflowSpec.groovy: "start_workflow does not conform to StartWorkflowRequest"."""
    await harness(rt, "workflow_that_starts_another_workflow.json")
    run_id = await rt.start(WF, {"start_workflow": {"param1": "value1", "param2": "value2"}})
    run = await status(rt, run_id)
    expect(run, "FAILED", [("START_WORKFLOW", "FAILED")], size=1)
    assert run.tasks[0].reason == "Missing 'startWorkflow' in input data."  # StartWorkflow.java
