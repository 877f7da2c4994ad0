"""A SUB_WORKFLOW's child whose start never became durable is started on recovery.

The parent's record holding the SUB_WORKFLOW task and the child's first record are two
commits; a crash between them leaves a parent waiting on a child that does not exist.
Conductor's decider starts a SUB_WORKFLOW's child whenever the task has none
(SubWorkflow.start, re-run by the sweeper), so a lost start is redone: here, recovery
starts it (its id is derived from the task, so a start that did land is found).
"""

from __future__ import annotations

from typing import Any

import pytest

import cadenza
from cadenza.actors import Reply
from cadenza.persistence import JournalWriteError
from cadenza.testing import VirtualClock


def _parent() -> dict[str, Any]:
    sub = {
        "name": "sub",
        "taskReferenceName": "sub",
        "type": "SUB_WORKFLOW",
        "subWorkflowParam": {"name": "child", "version": 1},
    }
    return {"name": "parent", "version": 1, "tasks": [sub]}


def _child() -> dict[str, Any]:
    step = {"name": "wait_here", "taskReferenceName": "w", "type": "WAIT"}
    return {"name": "child", "version": 1, "tasks": [step]}


def _lose_child_starts(rt: cadenza.Runtime) -> list[str]:
    """Every child start fails as a crash before its commit would: nothing of it is written."""
    lost: list[str] = []

    def start_run(run_id: str, *args: Any, **kwargs: Any) -> Reply[str]:
        lost.append(run_id)
        reply: Reply[str] = Reply()
        crash = OSError("the process crashed before the child's first commit")
        reply.fail(JournalWriteError(f"run {run_id}", crash, stream_id=run_id, transient=False))
        return reply

    rt._engine.start_run = start_run  # type: ignore[method-assign]
    return lost


async def test_a_child_whose_start_was_lost_is_started_on_recovery(
    db_path: str, clock: VirtualClock
) -> None:
    async with cadenza.Runtime(db_path, clock=clock) as rt:
        await rt.register(_child())
        await rt.register(_parent())
        lost = _lose_child_starts(rt)
        parent_id = await rt.start("parent", {})
        await rt.settle()
        run = await rt.get(parent_id)
        child_id = run.tasks[0].sub_workflow_id
        assert child_id is not None
        assert lost == [child_id]
        with pytest.raises(cadenza.NotFound):
            await rt.get(child_id)
    async with cadenza.Runtime(db_path, clock=clock) as rt:
        await rt.settle()
        child = await rt.get(child_id)  # NotFound without the fix: the parent waits for ever
        assert child.status == "RUNNING"
        assert child.parent_id == parent_id
        await rt.signal(child_id, "w", {"done": True})
        done = await rt.wait(parent_id)
        assert done.status == "COMPLETED"
        assert done.tasks[0].status == "COMPLETED"


async def test_a_started_child_is_not_started_twice_by_recovery(
    db_path: str, clock: VirtualClock
) -> None:
    async with cadenza.Runtime(db_path, clock=clock) as rt:
        await rt.register(_child())
        await rt.register(_parent())
        parent_id = await rt.start("parent", {})
        await rt.settle()
        child_id = (await rt.get(parent_id)).tasks[0].sub_workflow_id
        assert child_id is not None
    for _ in range(2):
        async with cadenza.Runtime(db_path, clock=clock) as rt:
            await rt.settle()
            child = await rt.get(child_id)
            assert [t.ref for t in child.tasks] == ["w"]
    async with cadenza.Runtime(db_path, clock=clock) as rt:
        await rt.signal(child_id, "w", {})
        assert (await rt.wait(parent_id)).status == "COMPLETED"
