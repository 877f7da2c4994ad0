"""START_WORKFLOW as Conductor's StartWorkflow.java runs it (issue 12, item 4): another,
independent run, started once the starter's record is durable, exactly once across crashes."""

from __future__ import annotations

from typing import Any

import pytest

import cadenza
from cadenza.core._start_workflow import started_id
from cadenza.testing._simulation.scenarios import Scenario, simple, taskdef, workflow


def _starter(request: Any = "${workflow.input.req}") -> dict[str, Any]:
    return workflow(
        "starter",
        {"name": "st", "taskReferenceName": "st", "type": "START_WORKFLOW",
         "inputParameters": {"startWorkflow": request}},
    )  # fmt: skip


async def _run(rt: cadenza.Runtime, request: Any, **start: Any) -> cadenza.WorkflowRun:
    await rt.register(_starter())
    await rt.register(workflow("target", simple("t")))
    await rt.register_task(taskdef())
    run_id = await rt.start("starter", {"req": request}, **start)
    await rt.settle()
    return await rt.get(run_id)


async def test_the_started_run_takes_the_request_and_the_starters_defaults(
    rt: cadenza.Runtime,
) -> None:
    """StartWorkflow.start: output workflowId; a blank correlationId and an empty
    taskToDomain take the starter's; the run is independent (no parent)."""
    run = await _run(
        rt, {"name": "target", "input": {"a": 1}, "correlationId": " ", "priority": 7},
        correlation_id="corr", task_to_group={"work": "gpu"},
    )  # fmt: skip
    task = run.tasks[0]
    assert (run.status, task.type, task.status) == ("COMPLETED", "START_WORKFLOW", "COMPLETED")
    assert task.output == {"workflowId": started_id(task.id)}
    started = await rt.get(task.output["workflowId"])
    assert (started.name, started.status, started.input) == ("target", "RUNNING", {"a": 1})
    assert (started.correlation_id, started.priority, started.parent_id) == ("corr", 7, None)
    assert started.tasks[0].group == "gpu"


@pytest.mark.parametrize(
    ("request_", "reason"),
    [
        (None, "Missing 'startWorkflow' in input data."),
        ({"input": {}}, "startWorkflow validation failed. 'name' -> Workflow name cannot be "
                        "null or empty. "),
        ({"name": "target", "priority": 100},
         "startWorkflow validation failed. 'priority' -> priority: 100 should be maximum 99. "),
        ("text", "Error reading StartWorkflowRequest. Cannot read 'text' as an object"),
        ({"name": "target", "version": "one"},
         "Error reading StartWorkflowRequest. 'version' cannot be 'one'"),
        ({"name": "nowhere"}, "No such workflow defined. name=nowhere, version=null"),
        ({"name": "target", "version": 9}, "No such workflow defined. name=target, version=9"),
    ],
    ids=["missing", "no name", "priority", "not an object", "bad version", "unknown",
         "unknown version"],
)  # fmt: skip
async def test_a_bad_request_fails_the_task_and_the_run_with_conductors_reason(
    rt: cadenza.Runtime, request_: Any, reason: str
) -> None:
    """StartWorkflow.getRequest / start: the task FAILED with the reason; nothing started."""
    run = await _run(rt, request_)
    assert (run.status, [t.status for t in run.tasks]) == ("FAILED", ["FAILED"])
    assert run.tasks[0].reason == reason
    assert [r.name for r in await rt.runs(name="target")] == []


async def test_an_inline_workflow_def_starts_unregistered(rt: cadenza.Runtime) -> None:
    """StartWorkflowRequest.workflowDef is started as it is (WorkflowExecutorOps.java:2746):
    not registered, not validated (no tasks: it completes at once), named by the request
    when it names nothing; one that cannot run at all fails the task with the reason."""
    run = await _run(rt, {"name": "empty", "workflowDef": {"tasks": []}})
    started = await rt.get(run.tasks[0].output["workflowId"])
    assert (run.status, started.name, started.status) == ("COMPLETED", "empty", "COMPLETED")
    with pytest.raises(cadenza.NotFound):
        await rt.definition("empty")
    twice = {"name": "twice", "tasks": [simple("x"), simple("x")]}
    run = await _run(rt, {"name": "twice", "workflowDef": twice})
    assert (run.status, run.tasks[0].status) == ("FAILED", "FAILED")
    assert "duplicate taskReferenceName" in (run.tasks[0].reason or "")
    assert await rt.runs(name="twice") == []


@pytest.mark.parametrize("inline", [False, True], ids=["registered", "inline workflowDef"])
@pytest.mark.parametrize("seed", range(3))
def test_a_crash_anywhere_starts_the_other_run_exactly_once(seed: int, inline: bool) -> None:
    """Crash after each loop batch of a start (the starter's record, the effect, the
    started run's record, the news back): after recovery exactly one run of `target`
    exists, under the derived id, and the START_WORKFLOW task completed with it. With an
    inline `workflowDef`, its definition is journaled before the run starts."""
    crash_points = 0
    target = workflow("target", simple("t"))
    request = {"name": "target", "workflowDef": target} if inline else {"name": "target"}
    for steps in range(1, 60):
        with Scenario(seed) as sc:
            registered = [] if inline else [target]
            sc.register(_starter(request), *registered, tasks=[taskdef()])
            starting = sc.sim.spawn(sc.rt.start("starter"))
            for _ in range(steps):
                if not sc.sim.loop.has_ready():
                    break
                sc.sim.step()
            else:
                crash_points += 1
            acknowledged = starting.done() and starting.exception() is None
            sc.crash()
            sc.sim.run_until_idle()
            starters = sc.run(sc.rt.runs(name="starter"))
            if acknowledged:  # a start answered before the crash is durable
                assert [r.id for r in starters] == [starting.result()], steps
            if not starters:
                continue  # the crash came before the start was durable: nothing was promised
            task = starters[0].tasks[0]
            assert (starters[0].status, task.status) == ("COMPLETED", "COMPLETED"), steps
            runs = sc.run(sc.rt.runs(name="target"))
            assert [r.id for r in runs] == [started_id(task.id)] == [task.output["workflowId"]]
            assert sc.finish() == []
    assert crash_points >= 5  # the loop did crash the start at several points


async def test_a_retried_start_workflow_task_starts_its_run_or_fails_again(
    rt: cadenza.Runtime,
) -> None:
    """retry of a run whose START_WORKFLOW failed: the new attempt is read again, so an
    unknown workflow fails it again, and once registered the retry starts it."""
    run = await _run(rt, {"name": "later"})
    assert (run.status, run.tasks[0].reason) == (
        "FAILED", "No such workflow defined. name=later, version=null"
    )  # fmt: skip
    await rt.retry(run.id)
    await rt.settle()
    run = await rt.get(run.id)
    assert (run.status, [t.status for t in run.tasks]) == ("FAILED", ["FAILED", "FAILED"])
    await rt.register(workflow("later", simple("t")))
    await rt.retry(run.id)
    await rt.settle()
    run = await rt.get(run.id)
    assert (run.status, run.tasks[-1].status) == ("COMPLETED", "COMPLETED")
    assert (await rt.get(run.tasks[-1].output["workflowId"])).name == "later"


async def test_a_retried_task_with_a_bad_request_fails_again(rt: cadenza.Runtime) -> None:
    """The request is an expression over the run's input: retried unchanged, still bad, the
    new attempt fails with the same reason instead of waiting for ever."""
    run = await _run(rt, {"input": {}})
    await rt.retry(run.id)
    await rt.settle()
    run = await rt.get(run.id)
    assert (run.status, [t.status for t in run.tasks]) == ("FAILED", ["FAILED", "FAILED"])
    assert run.tasks[1].reason == run.tasks[0].reason
