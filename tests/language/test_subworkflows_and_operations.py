"""SUB_WORKFLOW, failureWorkflow, and retry / restart / rerun / skip, through the Runtime."""

from __future__ import annotations

from typing import Any

import pytest

import cadenza
from tests.language._defs import quick, simple, workflow


async def echo(data: dict[str, Any]) -> dict[str, Any]:
    return {"echo": data}


def sub(ref: str, name: str, **inputs: Any) -> dict[str, Any]:
    return {"name": ref, "taskReferenceName": ref, "type": "SUB_WORKFLOW",
            "subWorkflowParam": {"name": name}, "inputParameters": inputs}  # fmt: skip


async def test_a_sub_workflow_runs_the_child_and_mirrors_its_outcome(rt: cadenza.Runtime) -> None:
    await rt.register(
        workflow(
            "child",
            simple("c1", inputParameters={"x": "${workflow.input.x}"}),
            outputParameters={"r": "${c1.output.echo.x}"},
        )
    )
    await rt.register(
        workflow("parent", sub("s", "child", x="${workflow.input.x}"), simple("after"))
    )
    rt.worker("c1", echo)
    rt.worker("after", echo)
    parent = await rt.wait(await rt.start("parent", {"x": 5}))
    assert parent.status == "COMPLETED"
    task = parent.tasks[0]
    assert task.status == "COMPLETED"
    assert task.sub_workflow_id is not None
    assert task.output == {"r": 5, "subWorkflowId": task.sub_workflow_id}
    child = await rt.get(task.sub_workflow_id)
    assert (child.status, child.parent_id) == ("COMPLETED", parent.id)


async def test_a_failed_child_fails_the_sub_workflow_task_and_the_parent(
    rt: cadenza.Runtime,
) -> None:
    await rt.register(workflow("child", simple("c1", **quick())))
    await rt.register(workflow("parent", sub("s", "child")))

    async def boom(data: dict[str, Any]) -> dict[str, Any]:
        raise cadenza.TerminalError("bad")

    rt.worker("c1", boom)
    parent = await rt.wait(await rt.start("parent", {}))
    assert parent.status == "FAILED"
    assert parent.tasks[0].status == "FAILED"


async def test_a_sub_workflow_cannot_start_itself() -> None:
    from cadenza.language._parse import parse_workflow_def

    with pytest.raises(cadenza.DefinitionError, match="cycle") as caught:
        parse_workflow_def(workflow("me", sub("s", "me")))
    assert caught.value.ref == "s"


async def test_a_failed_run_starts_its_failure_workflow(rt: cadenza.Runtime) -> None:
    await rt.register(workflow("cleanup", simple("note")))
    await rt.register(workflow("main", simple("x", **quick()), failureWorkflow="cleanup"))

    async def boom(data: dict[str, Any]) -> dict[str, Any]:
        raise cadenza.TerminalError("kaput")

    rt.worker("x", boom)
    rt.worker("note", echo)
    run = await rt.wait(await rt.start("main", {"k": 1}))
    assert run.status == "FAILED"
    await rt.settle()
    (cleanup,) = await rt.runs(name="cleanup")
    cleanup = await rt.wait(cleanup.id)
    assert run.output == {"conductor.failure_workflow": cleanup.id}
    assert cleanup.input.pop("failedWorkflow")["workflowId"] == run.id
    assert cleanup.input == {"k": 1, "workflowId": run.id, "reason": run.reason,
                             "failureStatus": "FAILED", "failureTaskId": run.tasks[0].id}  # fmt: skip


async def _failing_run(rt: cadenza.Runtime) -> tuple[str, list[int]]:
    await rt.register(workflow("wf", simple("a"), simple("b", **quick()), simple("c")))
    calls = [0]

    async def b(data: dict[str, Any]) -> dict[str, Any]:
        calls[0] += 1
        if calls[0] == 1:
            raise cadenza.TerminalError("first time")
        return {"ok": True}

    rt.worker("a", echo)
    rt.worker("b", b)
    rt.worker("c", echo)
    run_id = await rt.start("wf", {})
    assert (await rt.wait(run_id)).status == "FAILED"
    return run_id, calls


async def test_retry_reruns_the_failed_task_and_the_run_completes(rt: cadenza.Runtime) -> None:
    run_id, _calls = await _failing_run(rt)
    await rt.retry(run_id)
    run = await rt.wait(run_id)
    assert run.status == "COMPLETED"
    assert [(t.ref, t.status) for t in run.tasks] == [
        ("a", "COMPLETED"), ("b", "FAILED_WITH_TERMINAL_ERROR"), ("b", "COMPLETED"),
        ("c", "COMPLETED"),
    ]  # fmt: skip
    with pytest.raises(cadenza.InvalidOperation):
        await rt.retry(run_id)  # a completed run has nothing to retry


async def test_restart_runs_everything_again_under_the_same_id(rt: cadenza.Runtime) -> None:
    run_id, _ = await _failing_run(rt)
    await rt.restart(run_id)
    run = await rt.wait(run_id)
    assert (run.id, run.status) == (run_id, "COMPLETED")
    assert [t.ref for t in run.tasks] == ["a", "b", "c"]  # Conductor: the task list is cleared


async def test_restart_latest_uses_the_newest_version(rt: cadenza.Runtime) -> None:
    run_id, _ = await _failing_run(rt)
    await rt.register({**workflow("wf", simple("a"), simple("c")), "version": 2})
    await rt.restart(run_id, latest=True)
    run = await rt.wait(run_id)
    assert (run.version, run.status) == (2, "COMPLETED")


async def test_a_non_restartable_completed_run_cannot_restart(rt: cadenza.Runtime) -> None:
    await rt.register(workflow("once", simple("a"), restartable=False))
    rt.worker("a", echo)
    run_id = await rt.start("once", {})
    await rt.wait(run_id)
    with pytest.raises(cadenza.InvalidOperation):
        await rt.restart(run_id)


async def test_rerun_from_a_task_keeps_what_came_before_and_drops_the_rest(
    rt: cadenza.Runtime,
) -> None:
    run_id, _ = await _failing_run(rt)
    await rt.rerun(run_id, "b", input={"new": 1})
    run = await rt.wait(run_id)
    assert run.status == "COMPLETED"
    assert run.input == {"new": 1}
    assert [t.ref for t in run.tasks] == ["a", "b", "c"]  # Conductor: b reset in its place
    with pytest.raises(cadenza.InvalidOperation):
        await rt.rerun(run_id, "nope")


async def test_skip_marks_a_task_not_yet_scheduled_skipped(rt: cadenza.Runtime) -> None:
    await rt.register(workflow("sk", simple("a"), simple("b"), simple("c")))
    rt.worker("c", echo)
    run_id = await rt.start("sk", {})
    await rt.settle()
    await rt.skip(run_id, "b")
    with pytest.raises(cadenza.InvalidOperation):
        await rt.skip(run_id, "a")  # already scheduled
    task = await rt.poll("a")
    assert task is not None
    await rt.complete(task.id, {})
    run = await rt.wait(run_id)
    assert run.status == "COMPLETED"
    # Conductor lists it first: created without a seq, and tasks are read sorted by seq
    assert [(t.ref, t.status) for t in run.tasks] == [
        ("b", "SKIPPED"), ("a", "COMPLETED"), ("c", "COMPLETED")
    ]  # fmt: skip


async def test_operations_on_a_running_run_or_an_unknown_id_are_refused(
    rt: cadenza.Runtime,
) -> None:
    await rt.register(workflow("r", simple("a")))
    run_id = await rt.start("r", {})
    for op in (rt.retry, rt.restart):
        with pytest.raises(cadenza.InvalidOperation):
            await op(run_id)
    with pytest.raises(cadenza.InvalidOperation):
        await rt.rerun(run_id, "a")
    with pytest.raises(cadenza.NotFound):
        await rt.retry("no-such-run")


async def test_a_retried_run_survives_a_reopen_of_the_runtime(db_path: str, clock: Any) -> None:
    async with cadenza.Runtime(db_path, clock=clock, seed=1) as rt:
        run_id, _ = await _failing_run(rt)
        await rt.retry(run_id)
        await rt.settle()
        before = await rt.get(run_id)
    async with cadenza.Runtime(db_path, clock=clock, seed=1) as rt:
        rt.worker("b", echo)
        rt.worker("c", echo)
        after = await rt.wait(run_id)
        assert after.status == "COMPLETED"
        assert [t.id for t in after.tasks][: len(before.tasks)] == [t.id for t in before.tasks]
