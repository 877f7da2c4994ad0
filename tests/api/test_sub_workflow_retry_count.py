"""A SUB_WORKFLOW task whose TaskDef has a retryCount is retried per its TaskDef when its
child fails, as any task is (Conductor's DeciderService.retry: a new attempt, here a new
child run; SubWorkflow is not among the never-retried system tasks)."""

from __future__ import annotations

import cadenza


async def test_a_sub_workflow_with_a_retry_count_starts_a_new_child(rt: cadenza.Runtime) -> None:
    step = {"name": "child_step", "taskReferenceName": "step", "type": "SIMPLE"}
    await rt.register({"name": "child", "version": 1, "tasks": [step]})
    sub = {
        "name": "sub",
        "taskReferenceName": "sub",
        "type": "SUB_WORKFLOW",
        "subWorkflowParam": {"name": "child", "version": 1},
    }
    await rt.register({"name": "parent", "version": 1, "tasks": [sub]})
    await rt.register_task({"name": "sub", "retryCount": 1, "retryDelaySeconds": 0})
    await rt.register_task({"name": "child_step", "retryCount": 0})
    parent_id = await rt.start("parent", {})
    for outcome in ("fail", "complete"):
        task = await rt.poll("child_step", worker_id="w")
        assert task is not None
        if outcome == "fail":
            await rt.fail(task.id, "no")
        else:
            await rt.complete(task.id, {"ok": True})
        await rt.settle()
    run = await rt.wait(parent_id)
    assert run.status == "COMPLETED"
    assert [(t.status, t.retried) for t in run.tasks] == [("FAILED", True), ("COMPLETED", False)]
    first, second = (t.sub_workflow_id for t in run.tasks)
    assert first is not None
    assert second is not None
    assert first != second
    assert (await rt.get(first)).status == "FAILED"
    assert (await rt.get(second)).status == "COMPLETED"
