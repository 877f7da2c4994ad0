"""SWITCH, DECISION, FORK_JOIN/JOIN, DO_WHILE, SET_VARIABLE, TERMINATE, optional, HUMAN."""

from __future__ import annotations

import json
from typing import Any

import cadenza
from tests.conductor_defs import CONDUCTOR_DEFS
from tests.language._defs import fork, join, quick, simple, switch, workflow


async def echo(data: dict[str, Any]) -> dict[str, Any]:
    return {"echo": data}


def workers(rt: cadenza.Runtime, *names: str) -> None:
    for name in names:
        rt.worker(name, echo)


async def test_a_switch_runs_the_matching_case_then_the_task_after_it(rt: cadenza.Runtime) -> None:
    await rt.register(
        workflow(
            "sw",
            switch("s", "${workflow.input.kind}", {"a": [simple("in_a")], "b": [simple("in_b")]},
                   [simple("in_default")]),
            simple("after"),
        )
    )  # fmt: skip
    workers(rt, "in_a", "in_b", "in_default", "after")
    run = await rt.wait(await rt.start("sw", {"kind": "b"}))
    assert run.status == "COMPLETED"
    assert [t.ref for t in run.tasks] == ["s", "in_b", "after"]
    assert run.tasks[0].output["evaluationResult"] == ["b"]
    other = await rt.wait(await rt.start("sw", {"kind": "zzz"}))
    assert [t.ref for t in other.tasks] == ["s", "in_default", "after"]


async def test_a_switch_value_matching_no_case_and_no_default_continues(
    rt: cadenza.Runtime,
) -> None:
    """Conductor: the switch completes with no branch, and the workflow goes on."""
    await rt.register(workflow("sw", switch("s", "${workflow.input.kind}", {"a": [simple("in_a")]}),
                               simple("after")))  # fmt: skip
    workers(rt, "in_a", "after")
    run = await rt.wait(await rt.start("sw", {"kind": "nope"}))
    assert run.status == "COMPLETED"
    assert [t.ref for t in run.tasks] == ["s", "after"]


async def test_a_decision_uses_its_case_value_param(rt: cadenza.Runtime) -> None:
    await rt.register(workflow("dec", {
        "name": "d", "taskReferenceName": "d", "type": "DECISION", "caseValueParam": "c",
        "inputParameters": {"c": "${workflow.input.flag}"},
        "decisionCases": {"true": [simple("yes")], "false": [simple("no")]},
    }))  # fmt: skip
    workers(rt, "yes", "no")
    run = await rt.wait(await rt.start("dec", {"flag": True}))
    assert [t.ref for t in run.tasks] == ["d", "yes"]


async def test_a_fork_runs_its_branches_and_the_join_maps_refs_to_outputs(
    rt: cadenza.Runtime,
) -> None:
    await rt.register(workflow(
        "fj",
        fork("f", [simple("a1"), simple("a2")], [simple("b1")]),
        join("j", "a2", "b1"),
        simple("after", inputParameters={"got": "${j.output}"}),
    ))  # fmt: skip
    workers(rt, "a1", "a2", "b1", "after")
    run = await rt.wait(await rt.start("fj", {}))
    assert run.status == "COMPLETED"
    tasks = {t.ref: t for t in run.tasks}
    assert set(tasks) == {"f", "a1", "a2", "b1", "j", "after"}
    assert set(tasks["j"].output) == {"a2", "b1"}
    assert tasks["after"].input["got"] == tasks["j"].output
    assert tasks["j"].ended_at is not None
    assert tasks["a2"].ended_at is not None


async def test_a_join_waits_for_every_joined_task(rt: cadenza.Runtime) -> None:
    await rt.register(workflow("fj", fork("f", [simple("a")], [simple("b")]), join("j", "a", "b")))
    rt.worker("a", echo)
    run_id = await rt.start("fj", {})
    await rt.settle()
    run = await rt.get(run_id)
    assert {t.ref: t.status for t in run.tasks}["j"] == "IN_PROGRESS"
    task = await rt.poll("b")
    assert task is not None
    await rt.complete(task.id, {"x": 1})
    run = await rt.wait(run_id)
    assert run.status == "COMPLETED"
    assert run.tasks[-1].ref == "j" or {t.ref for t in run.tasks} >= {"j"}


async def test_a_do_while_over_items_names_iterations_as_conductor_does(
    rt: cadenza.Runtime,
) -> None:
    await rt.register(
        json.loads((CONDUCTOR_DEFS / "do_while_items_one_iteration.json").read_text())
    )
    workers(rt, "integration_task_0", "integration_task_1", "integration_task_2")
    run = await rt.wait(await rt.start("Do_While_Workflow", {"items": ["x", "y"]}))
    assert run.status == "COMPLETED"
    refs = [t.ref for t in run.tasks]
    assert refs[0] == "loopTask"
    assert {"integration_task_0__1", "integration_task_0__2", "join__2"} <= set(refs)
    assert "integration_task_0__3" not in refs
    loop = run.tasks[0]
    assert loop.output["iteration"] == 2
    assert set(loop.output["1"]) >= {"integration_task_0", "join"}
    assert {t.iteration for t in run.tasks if t.ref.endswith("__2")} == {2}


async def test_a_do_while_whose_items_are_not_a_list_fails_naming_the_task(
    rt: cadenza.Runtime,
) -> None:
    await rt.register(
        json.loads((CONDUCTOR_DEFS / "do_while_items_one_iteration.json").read_text())
    )
    run = await rt.wait(await rt.start("Do_While_Workflow", {"items": 7}))
    assert run.status == "FAILED"
    assert "loopTask" in (run.reason or "")


async def test_set_variable_sets_workflow_variables(rt: cadenza.Runtime) -> None:
    await rt.register(workflow(
        "sv",
        {"name": "sv", "taskReferenceName": "sv", "type": "SET_VARIABLE",
         "inputParameters": {"who": "${workflow.input.who}"}},
        simple("use", inputParameters={"v": "${workflow.variables.who}"}),
        variables={"keep": 1},
    ))  # fmt: skip
    workers(rt, "use")
    run = await rt.wait(await rt.start("sv", {"who": "ann"}))
    assert run.variables == {"keep": 1, "who": "ann"}
    assert run.tasks[1].input == {"v": "ann"}


def _terminate(status: str) -> dict[str, Any]:
    return {"name": "t", "taskReferenceName": "t", "type": "TERMINATE",
            "inputParameters": {"terminationStatus": status, "terminationReason": "because",
                                "workflowOutput": {"o": 1}}}  # fmt: skip


async def test_terminate_ends_the_run_with_its_status_reason_and_output(
    rt: cadenza.Runtime,
) -> None:
    for status in ("COMPLETED", "FAILED", "TERMINATED"):
        await rt.register(workflow(f"t_{status}", fork("f", [simple("slow")], [_terminate(status)]),
                                   join("j", "slow"), simple("never")))  # fmt: skip
        run = await rt.wait(await rt.start(f"t_{status}", {}))
        assert run.status == status
        tasks = {t.ref: t for t in run.tasks}
        assert tasks["slow"].status == "CANCELED"
        assert "never" not in tasks
        if status != "COMPLETED":
            assert run.reason == "because"
        else:
            assert run.output == {"o": 1}


async def test_an_exhausted_optional_task_completes_with_errors_and_the_run_continues(
    rt: cadenza.Runtime,
) -> None:
    await rt.register(workflow("opt", simple("flaky", optional=True, **quick(1)), simple("next")))

    async def boom(data: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("nope")

    rt.worker("flaky", boom)
    rt.worker("next", echo)
    run = await rt.wait(await rt.start("opt", {}))
    assert run.status == "COMPLETED"
    assert [(t.ref, t.status) for t in run.tasks] == [
        ("flaky", "FAILED"), ("flaky", "COMPLETED_WITH_ERRORS"), ("next", "COMPLETED")
    ]  # fmt: skip


async def test_a_human_task_waits_for_a_signal(rt: cadenza.Runtime) -> None:
    await rt.register(workflow("h", {"name": "h", "taskReferenceName": "h", "type": "HUMAN"}))
    run_id = await rt.start("h", {})
    await rt.settle()
    assert (await rt.get(run_id)).tasks[0].status == "IN_PROGRESS"
    await rt.signal(run_id, "h", {"approved": True})
    run = await rt.wait(run_id)
    assert run.status == "COMPLETED"
    assert run.output == {"approved": True}


async def test_every_conductor_definition_without_javascript_registers(rt: cadenza.Runtime) -> None:
    from tests.runtime.test_definition import SIMPLE_ONLY

    assert len(SIMPLE_ONLY) >= 30
    for path in SIMPLE_ONLY:
        await rt.register(json.loads(path.read_text()))
