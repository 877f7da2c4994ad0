"""JSON_JQ_TRANSFORM with the `jq` package, as json-jq-task/.../JsonJqTransform.java runs it:
the query over the whole task input (:73-74), output `result` (the first value) and
`resultList` (:78-89), a missing query fails (:64-69), an error fails with the message as
reason and output `error` (:90-100)."""

from __future__ import annotations

from typing import Any

import pytest

import cadenza
from cadenza.core._system_tasks import jq_message
from tests.tasks._helpers import flow, settled


def _jq(query: Any, **inputs: Any) -> dict[str, Any]:
    params = {"queryExpression": query, **inputs} if query is not None else inputs
    return {"name": "jq", "taskReferenceName": "jq", "type": "JSON_JQ_TRANSFORM",
            "inputParameters": params}  # fmt: skip


async def _run(rt: cadenza.Runtime, task: dict[str, Any], **wf_input: Any) -> cadenza.WorkflowRun:
    await rt.register(flow("jq_flow", task))
    return await settled(rt, await rt.start("jq_flow", wf_input))


async def test_result_is_the_first_value_and_result_list_every_value(
    rt: cadenza.Runtime,
) -> None:
    run = await _run(rt, _jq(".xs[] | . * 2", xs="${workflow.input.xs}"), xs=[1, 2, 3])
    assert run.status == "COMPLETED"
    assert run.tasks[0].output == {"result": 2, "resultList": [2, 4, 6]}


async def test_the_query_sees_the_whole_task_input(rt: cadenza.Runtime) -> None:
    run = await _run(rt, _jq(".queryExpression | length", a=1))
    assert run.tasks[0].output["result"] == len(".queryExpression | length")


async def test_no_value_gives_a_null_result_and_an_empty_list(rt: cadenza.Runtime) -> None:
    run = await _run(rt, _jq("empty"))
    assert run.status == "COMPLETED"
    assert run.tasks[0].output == {"result": None, "resultList": []}


async def test_an_error_fails_the_task_with_the_message_as_reason_and_error(
    rt: cadenza.Runtime,
) -> None:
    run = await _run(rt, _jq(".a.b", a="${workflow.input.a}"), a="text")
    assert run.status == "FAILED"
    task = run.tasks[0]
    assert task.status == "FAILED"
    assert task.reason == 'Cannot index string with string "b"'
    assert task.output == {"error": 'Cannot index string with string "b"'}


async def test_a_query_that_does_not_compile_fails_the_task(rt: cadenza.Runtime) -> None:
    run = await _run(rt, _jq(".a +"))
    assert run.tasks[0].status == "FAILED"
    assert "syntax error" in (run.tasks[0].reason or "")


async def test_a_query_given_at_run_time_but_missing_fails_as_conductor_does(
    rt: cadenza.Runtime,
) -> None:
    run = await _run(rt, _jq("${workflow.input.q}"))
    assert run.tasks[0].status == "FAILED"
    assert run.tasks[0].reason == "Missing 'queryExpression' in input parameters"


async def test_a_definition_without_a_query_is_refused(rt: cadenza.Runtime) -> None:
    """WorkflowTaskTypeConstraint.java isJSONJQTransformTaskValid."""
    with pytest.raises(cadenza.DefinitionError, match="queryExpression"):
        await rt.register(flow("jq_flow", _jq(None, a=1)))


def test_jq_messages_are_worded_as_jackson_jq_words_them() -> None:
    assert jq_message('Cannot index string with string ("array")') == (
        'Cannot index string with string "array"'
    )
    assert jq_message("boom") == "boom"
