"""Conductor's InlineSubWorkflowFromExpressionSpec, ported."""

from __future__ import annotations

from typing import Any

import cadenza
from tests.conductor_spec._support import harness, poll_and_complete, status, verify_polled


def _parent() -> dict[str, Any]:
    """buildParentWorkflowDef()."""
    return {
        "name": "test_inline_subwf_expr_parent_wf", "version": 1, "schemaVersion": 2,
        "ownerEmail": "test@harness.com", "inputParameters": ["iterations", "threshold"],
        "tasks": [
            {"name": "integration_task_1", "taskReferenceName": "wf_builder", "type": "SIMPLE",
             "inputParameters": {"tp1": "${workflow.input.threshold}",
                                 "tp2": "${workflow.input.iterations}"}},
            {"name": "exec_plan", "taskReferenceName": "exec", "type": "SUB_WORKFLOW",
             "inputParameters": {"threshold": "${workflow.input.threshold}",
                                 "iterations": "${workflow.input.iterations}"},
             "subWorkflowParam": {"name": "complex_dynamic_plan_wf", "version": 1,
                                  "workflowDefinition": "${wf_builder.output.result}"}},
        ],
        "outputParameters": {"loopsDone": "${exec.output.loopsDone}",
                             "allDone": "${exec.output.allDone}"},
    }  # fmt: skip


def _sub_workflow() -> dict[str, Any]:
    """buildComplexSubWorkflowDef()."""
    compute = {"name": "compute", "taskReferenceName": "compute", "type": "INLINE",
               "inputParameters": {
                   "evaluatorType": "javascript",
                   "expression": "function f() { return $.iteration * $.threshold; } f();",
                   "iteration": "${do_loop.output.iteration}",
                   "threshold": "${workflow.input.threshold}"}}  # fmt: skip
    high = {
        "name": "integration_task_1",
        "taskReferenceName": "high_task",
        "type": "SIMPLE",
        "inputParameters": {"product": "${compute.output.result}", "category": "high"},
    }
    low = {"name": "low_result", "taskReferenceName": "low_result", "type": "INLINE",
           "inputParameters": {
               "evaluatorType": "javascript",
               "expression": 'function f() { return {label: "low", product: $.product}; } f();',
               "product": "${compute.output.result}"}}  # fmt: skip
    route = {"name": "route", "taskReferenceName": "route", "type": "SWITCH",
             "evaluatorType": "javascript", "expression": "$.product > $.threshold",
             "inputParameters": {"product": "${compute.output.result}",
                                 "threshold": "${workflow.input.threshold}"},
             "decisionCases": {"true": [high]}, "defaultCase": [low]}  # fmt: skip
    loop = {"name": "do_loop", "taskReferenceName": "do_loop", "type": "DO_WHILE",
            "inputParameters": {"iters": "${workflow.input.iterations}",
                                "threshold": "${workflow.input.threshold}"},
            "loopCondition": "$.do_loop['iteration'] < $.iters",
            "loopOver": [compute, route]}  # fmt: skip
    final = {"name": "final_result", "taskReferenceName": "final_result", "type": "INLINE",
             "inputParameters": {
                 "evaluatorType": "javascript",
                 "expression": "function f() { return {loopsDone: $.loopsDone, allDone: true}; } f();",
                 "loopsDone": "${do_loop.output.iteration}"}}  # fmt: skip
    return {
        "name": "complex_dynamic_plan_wf", "version": 1, "schemaVersion": 2,
        "tasks": [loop, final], "inputParameters": ["iterations", "threshold"],
        "outputParameters": {"loopsDone": "${final_result.output.result.loopsDone}",
                             "allDone": "${final_result.output.result.allDone}"},
        "timeoutPolicy": "ALERT_ONLY", "timeoutSeconds": 0,
    }  # fmt: skip


async def test_sub_workflow_definition_from_a_string_expression_runs_a_complex_do_while_with_switch_inline_and_simple_tasks(
    rt: cadenza.Runtime,
) -> None:
    """InlineSubWorkflowFromExpressionSpec.groovy: "Sub-workflow definition from a String
    expression runs a complex DO_WHILE with SWITCH, INLINE, and SIMPLE tasks".

    The `${...}` workflowDefinition is resolved when the child starts
    (SubWorkflowTaskMapper.java:140-147) and the map is started unregistered."""
    await harness(rt)
    await rt.register(_parent())  # Conductor: passed to startWorkflow inline
    run_id = await rt.start(
        "test_inline_subwf_expr_parent_wf", {"iterations": 2, "threshold": 5},
        correlation_id="inline-subwf-expr-test",
    )  # fmt: skip
    run = await status(rt, run_id)
    assert run.status == "RUNNING"
    assert [(t.type, t.ref, t.status) for t in run.tasks] == [
        ("integration_task_1", "wf_builder", "SCHEDULED")
    ]

    verify_polled(
        await poll_and_complete(rt, "integration_task_1", "test.builder.worker",
                                {"result": _sub_workflow()})
    )  # fmt: skip
    run = await status(rt, run_id)
    assert len(run.tasks) == 2
    assert (run.tasks[1].type, run.tasks[1].status) == ("SUB_WORKFLOW", "IN_PROGRESS")
    sub_id = run.tasks[1].sub_workflow_id
    assert sub_id is not None
    sub = await status(rt, sub_id)
    assert sub.status == "RUNNING"
    assert any(
        t.type == "integration_task_1" and t.status == "SCHEDULED"
        and t.input.get("category") == "high"
        for t in sub.tasks
    )  # fmt: skip

    verify_polled(
        await poll_and_complete(rt, "integration_task_1", "test.high.worker",
                                {"label": "high", "done": True})
    )  # fmt: skip
    sub = await status(rt, sub_id)
    assert sub.status == "COMPLETED"
    assert (sub.output["loopsDone"], sub.output["allDone"]) == (2, True)
    run = await status(rt, run_id)
    assert run.status == "COMPLETED"
    assert (run.tasks[1].type, run.tasks[1].status) == ("SUB_WORKFLOW", "COMPLETED")
