"""FORK_JOIN_DYNAMIC, inline SUB_WORKFLOW definitions, SUB_WORKFLOW cycles, every reference file."""

from __future__ import annotations

import json
from typing import Any

import pytest

import cadenza
from tests.conductor_defs import CONDUCTOR_DEFS
from tests.language._defs import simple, workflow

ALL_FILES = sorted(CONDUCTOR_DEFS.glob("*.json"))


async def echo(data: dict[str, Any]) -> dict[str, Any]:
    return {"echo": data}


def dynamic_fork_def() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(
        (CONDUCTOR_DEFS / "dynamic_fork_join_integration_test.json").read_text()
    )
    return loaded


async def test_every_conductor_reference_definition_registers(rt: cadenza.Runtime) -> None:
    """All of the Conductor reference definitions register, JavaScript and dynamic forks included."""
    assert len(ALL_FILES) >= 40
    for path in ALL_FILES:
        await rt.register(json.loads(path.read_text()))


async def test_a_dynamic_fork_runs_the_tasks_its_input_lists_and_the_join_collects_them(
    rt: cadenza.Runtime,
) -> None:
    """dynamic_fork_join_integration_test: dt1 lists the tasks; the JOIN maps refs to outputs."""
    await rt.register(dynamic_fork_def())

    async def plan(data: dict[str, Any]) -> dict[str, Any]:
        return {
            "dynamicTasks": [
                {"name": "integration_task_2", "taskReferenceName": "xdt1"},
                {"name": "integration_task_3", "taskReferenceName": "xdt2"},
            ],
            "dynamicTasksInput": {"xdt1": {"k1": "v1"}, "xdt2": {"k2": "${not.an.expression}"}},
        }

    rt.worker("integration_task_1", plan)
    for name in ("integration_task_2", "integration_task_3", "integration_task_4"):
        rt.worker(name, echo)
    run = await rt.wait(await rt.start("DynamicFanInOutTest", {}))
    assert run.status == "COMPLETED"
    tasks = {t.ref: t for t in run.tasks}
    assert [t.ref for t in run.tasks][:2] == ["dt1", "dynamicfanouttask"]
    assert {"xdt1", "xdt2", "dynamicfanouttask_join", "task4"} <= set(tasks)
    assert tasks["xdt1"].input == {"k1": "v1"}
    assert tasks["xdt2"].input == {"k2": "${not.an.expression}"}  # taken literally
    assert tasks["dynamicfanouttask"].output["forkedTasks"] == ["xdt1", "xdt2"]
    assert tasks["dynamicfanouttask_join"].output == {
        "xdt1": {"echo": {"k1": "v1"}}, "xdt2": {"echo": {"k2": "${not.an.expression}"}}
    }  # fmt: skip
    assert tasks["task4"].scheduled_at >= tasks["dynamicfanouttask_join"].ended_at  # type: ignore[operator]


async def test_the_join_after_a_dynamic_fork_waits_for_every_forked_task(
    rt: cadenza.Runtime,
) -> None:
    """A forked task still running holds the JOIN in progress."""
    await rt.register(dynamic_fork_def())

    async def plan(data: dict[str, Any]) -> dict[str, Any]:
        return {"dynamicTasks": [simple("fast"), simple("slow")], "dynamicTasksInput": {}}

    rt.worker("integration_task_1", plan)
    rt.worker("fast", echo)
    rt.worker("integration_task_4", echo)
    run_id = await rt.start("DynamicFanInOutTest", {})
    await rt.settle()
    tasks = {t.ref: t for t in (await rt.get(run_id)).tasks}
    assert tasks["fast"].status == "COMPLETED"
    assert tasks["dynamicfanouttask_join"].status == "IN_PROGRESS"
    assert "task4" not in tasks
    polled = await rt.poll("slow")
    assert polled is not None
    await rt.complete(polled.id, {"done": True})
    run = await rt.wait(run_id)
    assert run.status == "COMPLETED"


@pytest.mark.parametrize(
    ("output", "words"),
    [
        ({"dynamicTasks": "nope", "dynamicTasksInput": {}}, "not a list of tasks"),
        ({"dynamicTasks": [1, 2], "dynamicTasksInput": {}}, "not a list of tasks"),
        ({"dynamicTasks": [], "dynamicTasksInput": [1]}, "not a map"),
        ({"dynamicTasks": [{"name": "x"}], "dynamicTasksInput": {}}, "not a valid task"),
        ({"dynamicTasks": [simple("dt1")], "dynamicTasksInput": {}}, "already used"),
        (
            {"dynamicTasks": [simple("xdt1")], "dynamicTasksInput": {"xdt1": "v1"}},
            "Tasks could not be dynamically forked due to invalid input: the input of 'xdt1' "
            "is not a map (got 'v1')",
        ),
    ],
    ids=[
        "string", "list of numbers", "inputs not a map", "task without ref", "duplicate ref",
        "a task's input not a map",
    ],
)  # fmt: skip
async def test_a_dynamic_fork_with_bad_input_fails_the_run_naming_the_task(
    rt: cadenza.Runtime, output: dict[str, Any], words: str
) -> None:
    """Conductor's ForkJoinDynamicTaskMapper throws TerminateWorkflowException on bad input:
    the run fails with its message and no fork task is added (the JOIN is never scheduled)."""
    await rt.register(dynamic_fork_def())

    async def plan(data: dict[str, Any]) -> dict[str, Any]:
        return output

    rt.worker("integration_task_1", plan)
    run = await rt.wait(await rt.start("DynamicFanInOutTest", {}))
    assert run.status == "FAILED"
    assert [(t.ref, t.status) for t in run.tasks] == [("dt1", "COMPLETED")]
    assert (run.reason or "").startswith("task 'dynamicfanouttask': ")
    assert words in (run.reason or "")


async def test_a_failed_forked_task_is_retried_then_fails_the_run(rt: cadenza.Runtime) -> None:
    """A forked SIMPLE task follows its retry policy like any other."""
    await rt.register(dynamic_fork_def())

    async def plan(data: dict[str, Any]) -> dict[str, Any]:
        flaky = simple("flaky", taskDefinition={"retryCount": 1, "retryDelaySeconds": 0})
        return {"dynamicTasks": [flaky], "dynamicTasksInput": {}}

    async def boom(data: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("no luck")

    rt.worker("integration_task_1", plan)
    rt.worker("flaky", boom)
    run = await rt.wait(await rt.start("DynamicFanInOutTest", {}))
    assert run.status == "FAILED"
    assert [t.status for t in run.tasks if t.ref == "flaky"] == ["FAILED", "FAILED"]


def test_a_dynamic_fork_without_its_parameters_or_join_is_rejected() -> None:
    """dynamicForkTasksParam, dynamicForkTasksInputParamName and a JOIN after it are required."""
    from cadenza.language._parse import parse_workflow_def

    raw = dynamic_fork_def()
    del raw["tasks"][1]["dynamicForkTasksInputParamName"]
    with pytest.raises(cadenza.DefinitionError, match="dynamicForkTasksInputParamName") as caught:
        parse_workflow_def(raw)
    assert caught.value.ref == "dynamicfanouttask"
    raw = dynamic_fork_def()
    del raw["tasks"][2]
    with pytest.raises(cadenza.DefinitionError, match="followed by a JOIN"):
        parse_workflow_def(raw)


def inline_child(name: str = "child") -> dict[str, Any]:
    return workflow(name, simple("c1", inputParameters={"x": "${workflow.input.x}"}),
                    outputParameters={"got": "${c1.output.echo.x}"})  # fmt: skip


async def test_an_inline_sub_workflow_definition_runs_as_the_child(rt: cadenza.Runtime) -> None:
    """subWorkflowParam.workflowDefinition: the child runs that definition; the task mirrors it."""
    await rt.register(workflow("parent", {
        "name": "sub", "taskReferenceName": "sub", "type": "SUB_WORKFLOW",
        "inputParameters": {"x": "${workflow.input.x}"},
        "subWorkflowParam": {"name": "child", "workflowDefinition": inline_child()},
    }))  # fmt: skip
    rt.worker("c1", echo)
    run = await rt.wait(await rt.start("parent", {"x": 7}))
    assert run.status == "COMPLETED"
    sub = run.tasks[0]
    assert sub.output["got"] == 7
    child = await rt.get(sub.output["subWorkflowId"])
    assert (child.name, child.parent_id, child.status) == ("child", run.id, "COMPLETED")


async def test_an_inline_definition_does_not_shadow_a_registered_workflow_of_its_name(
    rt: cadenza.Runtime,
) -> None:
    """Starting `child` by name still runs the registered one, not the inline copy."""
    await rt.register(workflow("child", simple("registered")))
    await rt.register(workflow("parent", {
        "name": "sub", "taskReferenceName": "sub", "type": "SUB_WORKFLOW",
        "subWorkflowParam": {"workflowDefinition": inline_child()},
    }))  # fmt: skip
    rt.worker("registered", echo)
    run = await rt.wait(await rt.start("child", {}))
    assert [t.ref for t in run.tasks] == ["registered"]
    assert (await rt.definition("child"))["tasks"][0]["taskReferenceName"] == "registered"


def test_an_invalid_inline_definition_is_rejected_naming_the_parent_task() -> None:
    """The inline definition is validated with its parent, at registration."""
    from cadenza.language._parse import parse_workflow_def

    with pytest.raises(cadenza.DefinitionError, match="inline workflowDefinition") as caught:
        parse_workflow_def(workflow("parent", {
            "name": "sub", "taskReferenceName": "sub", "type": "SUB_WORKFLOW",
            "subWorkflowParam": {"workflowDefinition": {"name": "child", "tasks": []}},
        }))  # fmt: skip
    assert caught.value.ref == "sub"


def _from_expression(name: str = "child") -> dict[str, Any]:
    """A parent whose child's definition is the `plan` task's output `def`."""
    return workflow("planner", simple("plan"), {
        "name": "sub", "taskReferenceName": "sub", "type": "SUB_WORKFLOW",
        "inputParameters": {"x": "${workflow.input.x}"},
        "subWorkflowParam": {"name": name, "workflowDefinition": "${plan.output.def}"},
    })  # fmt: skip


@pytest.mark.parametrize(
    ("made", "outcome"),
    [
        (inline_child("made"), ("COMPLETED", "made", "COMPLETED")),
        ({"tasks": []}, ("COMPLETED", "child", "COMPLETED")),  # unvalidated, named by the param
        (None, ("COMPLETED", "child", "COMPLETED")),  # resolves to null: the registered child
        ({"name": "bad", "tasks": [simple("c1"), simple("c1")]}, ("FAILED", None, None)),
        ("not a definition", ("FAILED", None, None)),
    ],
    ids=["definition", "no tasks", "null", "duplicate refs", "text"],
)
async def test_a_sub_workflow_definition_may_come_from_an_expression(
    rt: cadenza.Runtime, made: Any, outcome: tuple[str, str | None, str | None]
) -> None:
    """SubWorkflowTaskMapper.java:140-147: a `${...}` workflowDefinition is resolved at run
    time and started unregistered, unvalidated (null: the registered `name`); one that
    cannot run at all fails the SUB_WORKFLOW, and the run, naming why."""
    await rt.register(_from_expression())
    await rt.register(workflow("child", simple("c1")))
    rt.worker("c1", echo)
    await rt.start("planner", {"x": 3})
    plan_task = await rt.poll("plan")
    assert plan_task is not None
    await rt.complete(plan_task.id, {"def": made})
    run = await rt.wait(plan_task.run_id)
    sub_task = run.tasks[1]
    assert run.status == outcome[0], (sub_task.reason, run.reason)
    if outcome[1] is None:
        assert "cannot start" in (sub_task.reason or "")
        return
    child = await rt.get(sub_task.output["subWorkflowId"])
    assert (child.name, child.status, child.parent_id) == (outcome[1], outcome[2], run.id)
    with pytest.raises(cadenza.NotFound):
        await rt.definition("made")


def sub(ref: str, child: str) -> dict[str, Any]:
    return {"name": ref, "taskReferenceName": ref, "type": "SUB_WORKFLOW",
            "subWorkflowParam": {"name": child}}  # fmt: skip


async def test_a_sub_workflow_cycle_through_registered_definitions_is_rejected(
    rt: cadenza.Runtime,
) -> None:
    """a -> b -> c -> a: registering the definition that closes the chain names it."""
    await rt.register(workflow("a", sub("to_b", "b")))
    await rt.register(workflow("b", sub("to_c", "c")))
    with pytest.raises(cadenza.DefinitionError, match="c -> a -> b -> c") as caught:
        await rt.register(workflow("c", sub("to_a", "a")))
    assert caught.value.ref == "to_c"
    with pytest.raises(cadenza.NotFound):
        await rt.definition("c")
    await rt.register(workflow("c", simple("leaf")))  # no cycle: fine


async def test_a_cycle_through_an_inline_definition_is_rejected(rt: cadenza.Runtime) -> None:
    """An inline child that starts its parent again closes a cycle too."""
    looping = workflow("inner", sub("back", "outer"))
    with pytest.raises(cadenza.DefinitionError, match="cycle"):
        await rt.register(workflow("outer", {
            "name": "s", "taskReferenceName": "s", "type": "SUB_WORKFLOW",
            "subWorkflowParam": {"workflowDefinition": looping},
        }))  # fmt: skip


async def test_a_dynamic_fork_can_fork_sub_workflows(rt: cadenza.Runtime) -> None:
    """A forked SUB_WORKFLOW task starts its child like a declared one."""
    await rt.register(dynamic_fork_def())
    await rt.register(workflow("kid", simple("kid_step")))

    async def plan(data: dict[str, Any]) -> dict[str, Any]:
        return {"dynamicTasks": [sub("s1", "kid"), sub("s2", "kid")], "dynamicTasksInput": {}}

    rt.worker("integration_task_1", plan)
    rt.worker("kid_step", echo)
    rt.worker("integration_task_4", echo)
    run = await rt.wait(await rt.start("DynamicFanInOutTest", {}))
    assert run.status == "COMPLETED"
    tasks = {t.ref: t for t in run.tasks}
    children = [await rt.get(tasks[ref].output["subWorkflowId"]) for ref in ("s1", "s2")]
    assert [(c.name, c.status, c.parent_id) for c in children] == [("kid", "COMPLETED", run.id)] * 2
