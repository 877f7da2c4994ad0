"""A task handed out by `poll` carries the DO_WHILE iteration it belongs to."""

from __future__ import annotations

import cadenza


def looping(items: int) -> dict[str, object]:
    return {
        "name": "loop_polled",
        "tasks": [
            {
                "name": "loop",
                "taskReferenceName": "loop",
                "type": "DO_WHILE",
                "inputParameters": {"items": "${workflow.input.items}"},
                "items": "${workflow.input.items}",
                "loopOver": [{"name": "work", "taskReferenceName": "work"}],
            }
        ],
    }


async def test_a_polled_task_carries_its_loop_iteration(rt: cadenza.Runtime) -> None:
    """Conductor's poll returns the task with its iteration (WorkflowExecutorOps.java:2505)."""
    await rt.register(looping(2))
    run_id = await rt.start("loop_polled", {"items": ["a", "b"]})
    seen = []
    for _ in range(2):
        task = await rt.poll("work", worker_id="w")
        assert task is not None
        seen.append((task.ref, task.iteration))
        await rt.complete(task.id, {})
    assert seen == [("work__1", 1), ("work__2", 2)]
    run = await rt.wait(run_id)
    assert run.status == "COMPLETED"
    assert [t.iteration for t in run.tasks if t.type == "work"] == [1, 2]
