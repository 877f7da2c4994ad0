"""What a run owes when it ends survives a crash in between (failure runs, news to a parent)."""

from __future__ import annotations

from typing import Any

import pytest

import cadenza
from cadenza.actors import Reply
from cadenza.testing import VirtualClock
from tests.language._defs import simple, workflow


def failing_with_failure_workflow() -> dict[str, Any]:
    return workflow(
        "fragile", simple("t", taskDefinition={"retryCount": 0}), failureWorkflow="cleanup"
    )


async def test_a_failure_run_lost_to_a_crash_is_started_at_recovery_once(
    db_path: str, clock: VirtualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the failure run's start never became durable, the next open starts it, exactly once."""
    async with cadenza.Runtime(db_path, clock=clock) as rt:
        await rt.register(failing_with_failure_workflow())
        await rt.register(workflow("cleanup", simple("c")))

        def lost(
            *args: Any, **kwargs: Any
        ) -> Reply[str]:  # the process died before the start was durable
            reply: Reply[str] = Reply()
            reply.fail(RuntimeError("simulated crash"))
            return reply

        monkeypatch.setattr(rt._engine, "start_run", lost)
        run_id = await rt.start("fragile")
        task = await rt.poll("t")
        assert task is not None
        await rt.fail(task.id, "boom")
        await rt.settle()
        assert (await rt.get(run_id)).status == "FAILED"
        assert await rt.runs(name="cleanup") == []
    monkeypatch.undo()
    for _ in range(2):  # a second open must not start another
        async with cadenza.Runtime(db_path, clock=clock) as rt:
            await rt.settle()
            cleanups = await rt.runs(name="cleanup")
            assert len(cleanups) == 1
            assert cleanups[0].input["workflowId"] == run_id
            assert cleanups[0].input["reason"].endswith(" and reason: 'boom'")
    async with cadenza.Runtime(db_path, clock=clock) as rt:
        assert rt._engine.recovered == 1  # only the cleanup run itself is unfinished now


async def test_a_parent_learns_at_recovery_of_a_child_that_ended_while_the_news_was_lost(
    db_path: str, clock: VirtualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A child's end whose message to the parent was lost is found when the parent recovers."""
    parent = workflow(
        "parent",
        {
            "name": "sub",
            "taskReferenceName": "sub",
            "type": "SUB_WORKFLOW",
            "subWorkflowParam": {"name": "child"},
        },
        simple("after"),
    )
    async with cadenza.Runtime(db_path, clock=clock) as rt:
        await rt.register(workflow("child", simple("c")))
        await rt.register(parent)
        monkeypatch.setattr(rt._engine, "child_ended", lambda state: None)  # the news is lost
        run_id = await rt.start("parent")
        await rt.settle()
        child_task = await rt.poll("c")
        assert child_task is not None
        await rt.complete(child_task.id, {"done": True})
        await rt.settle()
        assert [t.status for t in (await rt.get(run_id)).tasks] == ["IN_PROGRESS"]
    monkeypatch.undo()
    async with cadenza.Runtime(db_path, clock=clock) as rt:
        await rt.settle()
        run = await rt.get(run_id)
        assert [t.status for t in run.tasks] == ["COMPLETED", "SCHEDULED"]
        assert run.tasks[0].output.get("done") is True or run.tasks[0].status == "COMPLETED"
