"""Differences from Conductor found by reading its core (issue 12, section 2), each pinned here.

Every test names the Conductor source it follows (conductor-oss/conductor,
core/src/main/java/com/netflix/conductor/core/execution/...).
"""

from __future__ import annotations

from typing import Any

import cadenza
from cadenza.testing import VirtualClock
from tests.language._defs import quick, simple, switch, workflow


async def echo(data: dict[str, Any]) -> dict[str, Any]:
    return {"echo": data}


def sub(ref: str, name: str, **inputs: Any) -> dict[str, Any]:
    return {"name": ref, "taskReferenceName": ref, "type": "SUB_WORKFLOW",
            "subWorkflowParam": {"name": name}, "inputParameters": inputs}  # fmt: skip


# -- 1. how a task failure ends the run ------------------------------------------


async def test_an_exhausted_task_fails_the_run_with_conductors_reason_and_output(
    rt: cadenza.Runtime,
) -> None:
    """DeciderService.retry: out of retries, `updateWorkflowOutput` runs, then
    TerminateWorkflowException("Task %s failed with status: %s and reason: '%s'")
    with the workflow's status (FAILED for a FAILED task); WorkflowExecutorOps.terminateWorkflow
    evaluates `outputParameters` again before the run ends."""
    await rt.register(
        workflow(
            "fails",
            simple("a", inputParameters={"x": "${workflow.input.x}"}),
            simple("b", **quick()),
            outputParameters={"first": "${a.output.echo.x}", "in": "${workflow.input.x}"},
        )
    )
    rt.worker("a", echo)
    run_id = await rt.start("fails", {"x": 3})
    await rt.settle()
    task = await rt.poll("b")
    assert task is not None
    await rt.fail(task.id, "NETWORK ERROR")
    run = await rt.wait(run_id)
    assert run.status == "FAILED"
    assert run.reason == f"Task {task.id} failed with status: FAILED and reason: 'NETWORK ERROR'"
    assert run.output == {"first": 3, "in": 3}


async def test_a_task_failing_without_a_reason_reads_null(rt: cadenza.Runtime) -> None:
    """DeciderService.retry formats a null reasonForIncompletion as Java does: 'null'
    (cadenza's `fail` with no reason gives none)."""
    await rt.register(workflow("fails", simple("b", **quick())))
    run_id = await rt.start("fails", {})
    task = await rt.poll("b")
    assert task is not None
    await rt.fail(task.id, "", terminal=True)
    run = await rt.wait(run_id)
    assert run.status == "FAILED"
    assert run.reason == f"Task {task.id} failed with status: FAILED and reason: 'null'"


async def test_a_canceled_task_ends_the_run_terminated(rt: cadenza.Runtime) -> None:
    """DeciderService.retry: a CANCELED task (a child run terminated) ends the workflow
    TERMINATED, and the reason names that status."""
    await rt.register(workflow("child", simple("c1")))
    await rt.register(workflow("parent", sub("s", "child"), simple("after")))
    parent_id = await rt.start("parent", {})
    await rt.settle()
    parent = await rt.get(parent_id)
    child_id = parent.tasks[0].sub_workflow_id
    assert child_id is not None
    await rt.terminate(child_id, "operator said so")
    parent = await rt.wait(parent_id)
    assert parent.status == "TERMINATED"
    task = parent.tasks[0]
    assert task.status == "CANCELED"
    assert parent.reason is not None
    assert parent.reason.startswith(f"Task {task.id} failed with status: TERMINATED and reason: '")


async def test_a_timed_out_task_times_the_run_out_with_conductors_reason(
    rt: cadenza.Runtime, clock: VirtualClock
) -> None:
    """DeciderService.retry: a TIMED_OUT task out of retries gives a TIMED_OUT run."""
    await rt.register_task({"name": "slow", "retryCount": 0, "responseTimeoutSeconds": 5})
    await rt.register(workflow("times_out", simple("slow")))
    run_id = await rt.start("times_out", {})
    task = await rt.poll("slow")
    assert task is not None
    await clock.advance(6)
    await rt.settle()
    run = await rt.wait(run_id)
    assert run.status == "TIMED_OUT"
    assert run.reason is not None
    assert run.reason.startswith(f"Task {task.id} failed with status: TIMED_OUT and reason: '")


# -- 2. SWITCH / DECISION on a missing value -------------------------------------


async def test_a_switch_on_a_missing_value_takes_the_null_case(rt: cadenza.Runtime) -> None:
    """SwitchTaskMapper.getMappedTasks builds the case key as `"" + evaluator.evaluate(...)`
    (ValueParamEvaluator returns the input's value, null when missing): the key is "null"."""
    await rt.register(
        workflow(
            "sw_null",
            switch("s", "${workflow.input.kind}", {"null": [simple("was_null")]},
                   [simple("fallback")]),
        )
    )  # fmt: skip
    rt.worker("was_null", echo)
    rt.worker("fallback", echo)
    run = await rt.wait(await rt.start("sw_null", {}))
    assert run.status == "COMPLETED"
    assert [t.ref for t in run.tasks] == ["s", "was_null"]
    assert run.tasks[0].output["evaluationResult"] == ["null"]
    assert run.tasks[0].output["selectedCase"] == "null"
    other = await rt.wait(await rt.start("sw_null", {"kind": "x"}))
    assert [t.ref for t in other.tasks] == ["s", "fallback"]


async def test_a_decision_on_a_missing_param_takes_the_null_case(rt: cadenza.Runtime) -> None:
    """DecisionTaskMapper.getEvaluatedCaseValue: `"" + taskInput.get(caseValueParam)`."""
    await rt.register(workflow("dec_null", {
        "name": "d", "taskReferenceName": "d", "type": "DECISION", "caseValueParam": "c",
        "inputParameters": {"c": "${workflow.input.flag}"},
        "decisionCases": {"null": [simple("was_null")], "true": [simple("yes")]},
    }))  # fmt: skip
    rt.worker("was_null", echo)
    rt.worker("yes", echo)
    run = await rt.wait(await rt.start("dec_null", {}))
    assert [t.ref for t in run.tasks] == ["d", "was_null"]


# -- 3. TERMINATE and reasons ----------------------------------------------------


def terminate(status: str, **extra: Any) -> dict[str, Any]:
    return {"name": "t", "taskReferenceName": "t", "type": "TERMINATE",
            "inputParameters": {"terminationStatus": status, **extra}}  # fmt: skip


async def test_terminate_without_a_reason_names_the_status_and_the_task(
    rt: cadenza.Runtime,
) -> None:
    """WorkflowExecutorOps.decide: a blank terminationReason becomes
    "Workflow is %s by TERMINATE task: %s" (status, task id), a COMPLETED run included
    (completeWorkflow keeps the reasonForIncompletion set just before)."""
    for status in ("COMPLETED", "FAILED", "TERMINATED"):
        await rt.register(workflow(f"t_{status}", terminate(status, workflowOutput={"o": 1})))
        run = await rt.wait(await rt.start(f"t_{status}", {}))
        assert run.status == status
        (task,) = run.tasks
        assert run.reason == f"Workflow is {status} by TERMINATE task: {task.id}"
        assert run.output == {"o": 1}  # DeciderService.updateWorkflowOutput: the TERMINATE's


async def test_a_child_ended_by_its_parent_names_the_parents_reason(rt: cadenza.Runtime) -> None:
    """SubWorkflow.cancel -> terminateSubWorkflow: the child's reason is "Parent workflow has been
    terminated with reason: <parent's reason>" ("... with status <S>" when it has none)."""
    await rt.register(workflow("child", simple("c1")))
    await rt.register(workflow("parent", sub("s", "child")))
    parent_id = await rt.start("parent", {})
    await rt.settle()
    child_id = (await rt.get(parent_id)).tasks[0].sub_workflow_id
    assert child_id is not None
    await rt.terminate(parent_id, "operator said so")
    await rt.settle()
    child = await rt.wait(child_id)
    assert child.status == "TERMINATED"
    assert child.reason == "Parent workflow has been terminated with reason: operator said so"


# -- 5. domains ------------------------------------------------------------------


async def test_tasks_outside_any_domain_report_no_group(rt: cadenza.Runtime) -> None:
    """TaskModel.domain is null unless taskToDomain routed the task (WorkflowExecutorOps
    .scheduleTask -> QueueUtils.getQueueName uses the domain only when set; a NO_DOMAIN entry
    leaves it null, as do system tasks no worker polls): cadenza's internal names ("-" for
    WAIT and system tasks, "default" for the default queue) are not shown."""
    await rt.register(
        workflow(
            "domains",
            {"name": "w", "taskReferenceName": "w", "type": "WAIT"},
            {"name": "v", "taskReferenceName": "v", "type": "SET_VARIABLE",
             "inputParameters": {"x": 1}},
            simple("plain"),
            simple("routed"),
            simple("nodomain"),
        )
    )  # fmt: skip
    run_id = await rt.start("domains", {}, task_to_group={"routed": "gpu", "nodomain": "NO_DOMAIN"})
    await rt.settle()
    await rt.signal(run_id, "w", {})
    for name in ("plain", "routed", "nodomain"):
        await rt.settle()
        polled = await rt.poll(name, group="gpu" if name == "routed" else None)
        assert polled is not None, name
        assert polled.group == ("gpu" if name == "routed" else None)
        await rt.complete(polled.id, {})
    run = await rt.wait(run_id)
    groups = {t.ref: t.group for t in run.tasks}
    assert groups == {"w": None, "v": None, "plain": None, "routed": "gpu", "nodomain": None}
