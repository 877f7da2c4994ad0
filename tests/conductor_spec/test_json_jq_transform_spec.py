"""Conductor's JsonJQTransformSpec, ported."""

from __future__ import annotations

import pytest

import cadenza
from tests.conductor_spec._support import harness, shape, status

JQ = "JSON_JQ_TRANSFORM"
ARRAYS = {"in1": {"array": ["a", "b"]}, "in2": {"array": ["c", "d"]}}


@pytest.fixture
async def h(rt: cadenza.Runtime) -> cadenza.Runtime:
    await harness(
        rt,
        "simple_json_jq_transform_integration_test.json",
        "sequential_json_jq_transform_integration_test.json",
        "json_jq_transform_result_integration_test.json",
    )
    return rt


def _has_results(output: dict[str, object]) -> bool:
    return "result" in output and "resultList" in output


async def test_workflow_with_json_jq_transform_task_succeeds(h: cadenza.Runtime) -> None:
    """JsonJQTransformSpec.groovy: "Test workflow with json jq transform task succeeds"."""
    run = await status(h, await h.start("test_json_jq_transform_wf", ARRAYS))
    assert run.status == "COMPLETED"
    assert shape(run) == [(JQ, "COMPLETED")]
    assert _has_results(run.tasks[0].output)


async def test_workflow_with_json_jq_transform_task_fails(h: cadenza.Runtime) -> None:
    """JsonJQTransformSpec.groovy: "Test workflow with json jq transform task fails"."""
    run = await status(h, await h.start("test_json_jq_transform_wf", {"in1": "a", "in2": "b"}))
    assert run.status == "FAILED"
    assert shape(run) == [(JQ, "FAILED")]
    assert run.tasks[0].reason == 'Cannot index string with string "array"'


async def test_rerun_workflow_with_failed_json_jq_transform_task(h: cadenza.Runtime) -> None:
    """JsonJQTransformSpec.groovy: "Test rerun workflow with failed json jq transform task"."""
    run_id = await h.start("test_json_jq_transform_wf", {"in1": "a", "in2": "b"})
    run = await status(h, run_id)
    assert run.status == "FAILED"
    assert shape(run) == [(JQ, "FAILED")]
    assert run.tasks[0].reason == 'Cannot index string with string "array"'

    valid = {
        "input": ARRAYS,
        "queryExpression": ".input as $_ | { out: ($_.in1.array + $_.in2.array) }",
    }
    await h.rerun(run_id, run.tasks[0].ref, input=valid)  # reRunFromTaskId + taskInput
    run = await status(h, run_id)
    assert run.status == "COMPLETED"
    assert shape(run) == [(JQ, "COMPLETED")]
    assert _has_results(run.tasks[0].output)


async def test_json_jq_transform_task_with_nested_json_object_succeeds(
    h: cadenza.Runtime,
) -> None:
    """JsonJQTransformSpec.groovy: "Test json jq transform task with nested json object
    succeeds"."""
    workflow_input = {
        "method": "POST",
        "body": {"name": "Beary Beariston", "title": "the Brown Bear"},
        "requestTransform": '{name: (.body.name + " you are " + .body.title) }',
        "responseTransform": '{result: "reply: " + .response.body.message}',
    }
    run = await status(h, await h.start("sequential_json_jq_transform_wf", workflow_input))
    assert run.status == "COMPLETED"
    assert shape(run) == [(JQ, "COMPLETED"), (JQ, "COMPLETED")]
    assert _has_results(run.tasks[0].output)
    result1 = run.tasks[0].output["result"]
    for key in ("method", "requestTransform", "responseTransform"):
        assert result1[key] == workflow_input[key]
    assert "result" in run.tasks[1].output
    assert run.tasks[1].output["result"]["name"] == "Beary Beariston you are the Brown Bear"


async def test_json_jq_transform_task_with_different_json_object_results_succeeds(
    h: cadenza.Runtime,
) -> None:
    """JsonJQTransformSpec.groovy: "Test json jq transform task with different json object
    results succeeds"."""
    run = await status(
        h, await h.start("json_jq_transform_result_wf", {"requestedAction": "redeliver"})
    )
    assert run.status == "COMPLETED"
    assert shape(run) == [(JQ, "COMPLETED"), ("DECISION", "COMPLETED"), (JQ, "COMPLETED"),
                          ("DECISION", "COMPLETED")]  # fmt: skip
    assert _has_results(run.tasks[0].output)
    assert run.tasks[0].output["result"] == "CREATE"
    assert run.tasks[1].input["case"] == "CREATE"
    assert "result" in run.tasks[2].output
    result = run.tasks[2].output["result"]
    assert len(result) == 3
    assert "redeliver" in result
    assert run.tasks[3].input["case"] == "true"
