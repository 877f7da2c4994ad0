"""An input expression naming a task the workflow does not define is refused at
registration, as Conductor's ConstraintParamUtil.validateInputParam refuses it (issue 12,
item 5); the cases are Conductor's WorkflowDefConstraintTest's."""

from __future__ import annotations

from typing import Any

import pytest

import cadenza
from cadenza.language._parse import parse_workflow_def
from tests.language._defs import simple, switch, workflow

MISSING = "is not defined in workflow definition."


async def test_an_input_naming_an_undefined_task_is_refused(rt: cadenza.Runtime) -> None:
    """WorkflowDefConstraintTest.testWorkflowTaskInvalidInputParam: Conductor's message."""
    definition = workflow(
        "sampleWorkflow",
        simple("task_1", inputParameters={"fileLocation": "${work.input.fileLocation}"}),
    )
    with pytest.raises(cadenza.DefinitionError) as refused:
        await rt.register(definition)
    assert (refused.value.workflow, refused.value.ref) == ("sampleWorkflow", "task_1")
    assert refused.value.problem == (
        "taskReferenceName: work for given task: task_1 input value: fileLocation of input "
        "parameter: ${work.input.fileLocation} is not defined in workflow definition."
    )
    with pytest.raises(cadenza.NotFound):
        await rt.definition("sampleWorkflow")  # nothing was registered


@pytest.mark.parametrize(
    ("inputs", "key", "value"),
    [
        ({"a": {"deep": ["x", "${nope.output}"]}}, "deep", "${nope.output}"),
        ({"a": "prefix ${workflow.input.x} and ${nope.output.y}"}, "a",
         "prefix ${workflow.input.x} and ${nope.output.y}"),
    ],
    ids=["in a list in a map", "inside a longer string"],
)  # fmt: skip
def test_expressions_are_searched_through_maps_lists_and_strings(
    inputs: dict[str, Any], key: str, value: str
) -> None:
    """validateInputParam recurses into maps and lists and splits a string at each `${`."""
    with pytest.raises(cadenza.DefinitionError) as refused:
        parse_workflow_def(workflow("wf", simple("t", inputParameters=inputs)))
    assert refused.value.problem == (
        f"taskReferenceName: nope for given task: t input value: {key} of input parameter: "
        f"{value} {MISSING}"
    )


def test_what_conductor_accepts_is_accepted() -> None:
    """`workflow`, the system parameters, an escaped `$${`, any task of the workflow (a
    nested one, or one after the task), and a nested task's own inputs (not checked, as
    Conductor checks top-level tasks only)."""
    parse_workflow_def(
        workflow(
            "ok",
            simple("first", inputParameters={
                "w": "${workflow.input.x}", "id": "${CPEWF_TASK_ID}", "env": "${NETFLIX_ENV}",
                "escaped": "$${not.a.task}", "later": "${last.output}", "nested": "${inner.output}",
            }),
            switch("s", "${first.output.v}", {"a": [simple("inner", inputParameters={
                "loop": "${inner__1.output}"})]}),
            simple("last"),
        )
    )  # fmt: skip
