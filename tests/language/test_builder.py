"""The Python builder writes the same Conductor JSON a user would write by hand."""

from __future__ import annotations

from typing import Any

import pytest

import cadenza
from cadenza.language._definition import to_conductor_json
from cadenza.language._parse import parse_workflow_def
from cadenza.testing import VirtualClock


def by_hand() -> dict[str, Any]:
    return {
        "name": "order", "version": 2, "description": "built either way",
        "inputParameters": ["amount"],
        "outputParameters": {"shipped": "${ship.output.id}"},
        "failureWorkflow": "cleanup",
        "tasks": [
            {"name": "charge_card", "taskReferenceName": "charge", "type": "SIMPLE",
             "inputParameters": {"amount": "${workflow.input.amount}"}, "retryCount": 0},
            {"name": "cool_off", "taskReferenceName": "cool_off", "type": "WAIT",
             "inputParameters": {"duration": "5s"}},
            {"name": "route", "taskReferenceName": "route", "type": "SWITCH",
             "inputParameters": {"switchCaseValue": "${charge.output.status}"},
             "evaluatorType": "value-param", "expression": "switchCaseValue",
             "decisionCases": {
                 "ok": [{"name": "ship", "taskReferenceName": "ship", "type": "SIMPLE",
                         "inputParameters": {}}],
             },
             "defaultCase": [{"name": "stop", "taskReferenceName": "stop", "type": "TERMINATE",
                              "inputParameters": {"terminationStatus": "FAILED",
                                                  "terminationReason": "declined"}}]},
            {"name": "both", "taskReferenceName": "both", "type": "FORK_JOIN", "inputParameters": {},
             "forkTasks": [
                 [{"name": "mail", "taskReferenceName": "mail", "type": "SIMPLE", "inputParameters": {}}],
                 [{"name": "kid", "taskReferenceName": "kid", "type": "SUB_WORKFLOW",
                   "inputParameters": {},
                   "subWorkflowParam": {"workflowDefinition": {
                       "name": "kid", "version": 1,
                       "tasks": [{"name": "k", "taskReferenceName": "k", "type": "SIMPLE",
                                  "inputParameters": {}}]}}}],
             ]},
            {"name": "both_join", "taskReferenceName": "both_join", "type": "JOIN",
             "inputParameters": {}, "joinOn": ["mail", "kid"]},
            {"name": "tally", "taskReferenceName": "tally", "type": "INLINE",
             "inputParameters": {"n": "${workflow.input.amount}", "evaluatorType": "javascript",
                                 "expression": "$.n * 2"}},
            {"name": "again", "taskReferenceName": "again", "type": "DO_WHILE",
             "inputParameters": {}, "loopCondition": "$.again.iteration < 2",
             "loopOver": [{"name": "poke", "taskReferenceName": "poke", "type": "SIMPLE",
                           "inputParameters": {}}]},
            {"name": "note", "taskReferenceName": "note", "type": "SET_VARIABLE",
             "inputParameters": {"done": True}},
        ],
    }  # fmt: skip


def built() -> dict[str, Any]:
    kid = cadenza.workflow("kid").simple("k")
    return (
        cadenza.workflow("order", version=2)
        .description("built either way")
        .input("amount")
        .output(shipped="${ship.output.id}")
        .failure_workflow("cleanup")
        .simple(
            "charge", "charge_card", input={"amount": "${workflow.input.amount}"}, retry_count=0
        )
        .wait("cool_off", duration="5s")
        .switch(
            "route",
            "${charge.output.status}",
            {"ok": cadenza.tasks().simple("ship")},
            cadenza.tasks().terminate("stop", "FAILED", reason="declined"),
        )
        .fork(
            "both",
            cadenza.tasks().simple("mail"),
            cadenza.tasks().sub_workflow("kid", definition=kid),
        )
        .join("both_join", "mail", "kid")
        .inline("tally", "$.n * 2", input={"n": "${workflow.input.amount}"})
        .do_while("again", cadenza.tasks().simple("poke"), condition="$.again.iteration < 2")
        .set_variable("note", done=True)
        .build()
    )


def test_a_built_definition_equals_its_hand_written_json() -> None:
    """Every builder method writes exactly the fields a Conductor user would."""
    assert built() == by_hand()
    assert to_conductor_json(parse_workflow_def(built())) == to_conductor_json(
        parse_workflow_def(by_hand())
    )


def test_build_returns_a_fresh_copy_each_time() -> None:
    """Changing a built dict changes neither the builder nor later builds."""
    builder = cadenza.workflow("w").simple("a")
    first = builder.build()
    first["tasks"][0]["name"] = "changed"
    assert builder.build()["tasks"][0]["name"] == "a"


async def test_a_built_definition_registers_and_runs(
    rt: cadenza.Runtime, clock: VirtualClock
) -> None:
    """The built JSON registers and runs like the hand-written one."""
    await rt.register(built())

    async def charge(data: dict[str, Any]) -> dict[str, Any]:
        return {"status": "ok"}

    async def done(data: dict[str, Any]) -> dict[str, Any]:
        return {"id": "parcel-1"}

    rt.worker("charge_card", charge)
    for name in ("ship", "mail", "k", "poke"):
        rt.worker(name, done)
    run_id = await rt.start("order", {"amount": 21})
    await rt.settle()
    assert (await rt.get(run_id)).status == "RUNNING"  # the WAIT holds it for 5 s
    await clock.advance(5)
    run = await rt.wait(run_id)
    assert run.status == "COMPLETED"
    assert run.output == {"shipped": "parcel-1"}
    tasks = {t.ref: t for t in run.tasks}
    assert tasks["tally"].output == {"result": 42}
    assert tasks["again"].output["iteration"] == 2
    assert run.variables == {"done": True}


@pytest.mark.parametrize("javascript", [False, True])
def test_a_switch_is_built_with_either_evaluator(javascript: bool) -> None:
    """value-param switches on an input; javascript evaluates the expression itself."""
    raw = cadenza.tasks().switch("s", "$.x > 1 ? 'a' : 'b'" if javascript else "${workflow.input.k}",
                                 {"a": []}, javascript=javascript, input={"x": 2}).build_tasks()[0]  # fmt: skip
    assert raw["evaluatorType"] == ("javascript" if javascript else "value-param")
    parse_workflow_def({"name": "w", "tasks": [raw]})
