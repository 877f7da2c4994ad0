"""`start(..., definition=...)`: a definition started as it is, as Conductor's
StartWorkflowRequest.workflowDef (WorkflowExecutorOps.java:2746-2762): not registered, not
validated, and kept with the run across restarts."""

from __future__ import annotations

from typing import Any

import pytest

import cadenza
from cadenza.testing import VirtualClock

UNJOINED: dict[str, Any] = {  # a FORK_JOIN_DYNAMIC with no JOIN: registering refuses it
    "name": "unjoined",
    "tasks": [
        {"name": "step_a", "taskReferenceName": "a", "type": "SIMPLE"},
        {"name": "fan", "taskReferenceName": "fan", "type": "FORK_JOIN_DYNAMIC",
         "inputParameters": {"tasks": "${a.output.tasks}", "input": "${a.output.input}"},
         "dynamicForkTasksParam": "tasks", "dynamicForkTasksInputParamName": "input"},
    ],
}  # fmt: skip


async def test_an_inline_definition_runs_unregistered_and_survives_a_restart(
    db_path: str, clock: VirtualClock
) -> None:
    """The run loads its inline definition from the journal after a restart (read back as
    leniently as it was accepted), and the name stays unregistered."""
    async with cadenza.Runtime(db_path, clock=clock) as rt:
        with pytest.raises(cadenza.DefinitionError):
            await rt.register(UNJOINED)
        run_id = await rt.start("unjoined", {}, definition=UNJOINED)
    async with cadenza.Runtime(db_path, clock=clock) as rt:
        task = await rt.poll("step_a")
        assert task is not None
        await rt.complete(task.id, {"tasks": "not a list"})
        run = await rt.wait(run_id)
        assert run.status == "FAILED"
        assert [t.ref for t in run.tasks] == ["a"]
        with pytest.raises(cadenza.NotFound):
            await rt.definition("unjoined")
        with pytest.raises(cadenza.NotFound):
            await rt.start("unjoined", {})


async def test_an_inline_definition_that_cannot_run_is_refused(rt: cadenza.Runtime) -> None:
    """Named otherwise than the run, two tasks with one reference, or not a dict: refused
    before anything is journaled."""
    with pytest.raises(cadenza.InvalidArgument, match="named 'unjoined'"):
        await rt.start("other", {}, definition=UNJOINED)
    twice = {"name": "twice", "tasks": [{"name": "x", "taskReferenceName": "r"},
                                        {"name": "y", "taskReferenceName": "r"}]}  # fmt: skip
    with pytest.raises(cadenza.DefinitionError, match="duplicate taskReferenceName"):
        await rt.start("twice", {}, definition=twice)
    with pytest.raises(cadenza.InvalidArgument):
        await rt.start("twice", {}, definition=[twice])  # type: ignore[arg-type]
    assert await rt.runs() == []
