"""DYNAMIC, as core/.../execution/mapper/DynamicTaskMapper.java:58-93 defines it: the input
named by `dynamicTaskNameParam` names the task, scheduled as a worker task of that name and
type with that name's TaskDef (:74-77, :90); no name (:96-108) or no TaskDef (:110-126) ends
the run with Conductor's reason (a TerminateWorkflowException)."""

from __future__ import annotations

from typing import Any

import pytest

import cadenza
from tests.tasks._helpers import flow, settled


def _dynamic_flow() -> dict[str, Any]:
    return flow(
        "dyn_flow",
        {"name": "dyn", "taskReferenceName": "dyn", "type": "DYNAMIC",
         "dynamicTaskNameParam": "taskToRun",
         "inputParameters": {"taskToRun": "${workflow.input.task}", "n": 1}},
    )  # fmt: skip


async def test_the_input_names_the_task_a_worker_polls(rt: cadenza.Runtime) -> None:
    await rt.register_task({"name": "resize", "retryCount": 0})
    await rt.register(_dynamic_flow())
    run_id = await rt.start("dyn_flow", {"task": "resize"})
    await rt.settle()
    polled = await rt.poll("resize")
    assert polled is not None
    assert (polled.ref, polled.type, polled.input) == (
        "dyn",
        "resize",
        {"taskToRun": "resize", "n": 1},
    )
    await rt.complete(polled.id, {"ok": True})
    run = await settled(rt, run_id)
    assert run.status == "COMPLETED"
    assert (run.tasks[0].type, run.tasks[0].output) == ("resize", {"ok": True})


async def test_a_failed_dynamic_task_is_retried_per_its_named_task_def(
    rt: cadenza.Runtime,
) -> None:
    await rt.register_task({"name": "resize", "retryCount": 1, "retryDelaySeconds": 0})
    await rt.register(_dynamic_flow())
    run_id = await rt.start("dyn_flow", {"task": "resize"})
    await rt.settle()
    polled = await rt.poll("resize")
    assert polled is not None
    await rt.fail(polled.id, "once")
    await rt.settle()
    again = await rt.poll("resize")
    assert again is not None
    assert again.attempt == 1
    await rt.complete(again.id, {})
    assert (await settled(rt, run_id)).status == "COMPLETED"


async def test_no_task_name_fails_the_run_with_conductors_reason(rt: cadenza.Runtime) -> None:
    await rt.register(_dynamic_flow())
    run = await settled(rt, await rt.start("dyn_flow", {}))
    assert run.status == "FAILED"
    assert (run.reason or "").startswith(
        "Cannot map a dynamic task based on the parameter and input. Parameter= taskToRun, input= {"
    )  # the input as Java prints a HashMap, in its own order
    assert "taskToRun=null" in (run.reason or "")
    assert run.tasks == []


async def test_a_name_without_a_task_def_fails_the_run(rt: cadenza.Runtime) -> None:
    await rt.register(_dynamic_flow())
    run = await settled(rt, await rt.start("dyn_flow", {"task": "unknown"}))
    assert run.status == "FAILED"
    assert run.reason == (
        "Invalid task specified.  Cannot find task by name unknown in the task definitions"
    )


async def test_a_dynamic_task_without_its_name_param_is_refused(rt: cadenza.Runtime) -> None:
    definition = _dynamic_flow()
    del definition["tasks"][0]["dynamicTaskNameParam"]
    with pytest.raises(cadenza.DefinitionError, match="dynamicTaskNameParam"):
        await rt.register(definition)
