"""The features SwitchTaskSpec and DecisionTaskSpec share, for SWITCH or DECISION.

The two specs are the same text with SWITCH/DECISION, `evaluationResult`/`caseOutput` and
their definitions swapped; each test module names its features and calls these.
"""

from __future__ import annotations

from dataclasses import dataclass

import cadenza
from tests.conductor_spec._support import poll_and_complete, shape, status, verify_polled

W1 = "task1.integration.worker"


@dataclass(frozen=True)
class Kind:
    type: str  # SWITCH or DECISION
    result_key: str  # evaluationResult or caseOutput
    simple_wf: str  # SwitchWorkflow or DecisionWorkflow


async def simple_workflow(rt: cadenza.Runtime, kind: Kind) -> None:
    run_id = await rt.start(kind.simple_wf, {"param1": "p1", "param2": "p2", "case": "c"})
    run = await status(rt, run_id)
    assert run.status == "RUNNING"
    assert shape(run) == [(kind.type, "COMPLETED"), ("integration_task_1", "SCHEDULED")]

    verify_polled(await poll_and_complete(rt, "integration_task_1", W1))
    run = await status(rt, run_id)
    assert run.status == "RUNNING"
    assert shape(run) == [
        (kind.type, "COMPLETED"),
        ("integration_task_1", "COMPLETED"),
        ("integration_task_2", "SCHEDULED"),
    ]

    verify_polled(await poll_and_complete(rt, "integration_task_2", W1))
    run = await status(rt, run_id)
    assert run.status == "RUNNING"
    assert len(run.tasks) == 4
    assert shape(run)[2:] == [
        ("integration_task_2", "COMPLETED"),
        ("integration_task_20", "SCHEDULED"),
    ]

    verify_polled(await poll_and_complete(rt, "integration_task_20", W1))
    run = await status(rt, run_id)
    assert run.status == "COMPLETED"
    assert len(run.tasks) == 4
    assert shape(run)[3] == ("integration_task_20", "COMPLETED")


async def leads_to_a_fork_join(rt: cadenza.Runtime, kind: Kind) -> None:
    run_id = await rt.start("ForkConditionalTest", {"param1": "p1", "param2": "p2", "case": "c"})
    run = await status(rt, run_id)
    assert run.status == "RUNNING"
    assert shape(run) == [
        ("FORK", "COMPLETED"),
        (kind.type, "COMPLETED"),
        ("integration_task_1", "SCHEDULED"),
        ("integration_task_10", "SCHEDULED"),
        ("JOIN", "IN_PROGRESS"),
    ]

    verify_polled(await poll_and_complete(rt, "integration_task_1", W1))
    verify_polled(await poll_and_complete(rt, "integration_task_10", W1))
    run = await status(rt, run_id)
    assert run.status == "RUNNING"
    assert len(run.tasks) == 6
    assert shape(run)[2:] == [
        ("integration_task_1", "COMPLETED"),
        ("integration_task_10", "COMPLETED"),
        ("JOIN", "IN_PROGRESS"),
        ("integration_task_2", "SCHEDULED"),
    ]
    assert run.tasks[4].input["joinOn"] == ["t20", "t10"]

    verify_polled(await poll_and_complete(rt, "integration_task_2", W1))
    run = await status(rt, run_id)
    assert run.status == "RUNNING"
    assert len(run.tasks) == 7
    assert shape(run)[4:] == [
        ("JOIN", "IN_PROGRESS"),
        ("integration_task_2", "COMPLETED"),
        ("integration_task_20", "SCHEDULED"),
    ]
    assert run.tasks[4].input["joinOn"] == ["t20", "t10"]

    verify_polled(await poll_and_complete(rt, "integration_task_20", W1))
    run = await status(rt, run_id)  # the JOIN, run by the async executor in Conductor
    assert run.status == "COMPLETED"
    assert len(run.tasks) == 7
    assert shape(run)[4] == ("JOIN", "COMPLETED")
    assert run.tasks[4].input["joinOn"] == ["t20", "t10"]
    assert shape(run)[6] == ("integration_task_20", "COMPLETED")


async def default_case(rt: cadenza.Runtime, kind: Kind) -> None:
    run_id = await rt.start("ConditionalTaskWF", {"param1": "xxx", "param2": "two"})
    run = await status(rt, run_id)
    assert run.status == "RUNNING"
    assert shape(run) == [(kind.type, "COMPLETED"), ("integration_task_10", "SCHEDULED")]
    assert run.tasks[0].output[kind.result_key] == ["xxx"]

    verify_polled(await poll_and_complete(rt, "integration_task_10", W1))
    run = await status(rt, run_id)
    assert run.status == "COMPLETED"
    assert len(run.tasks) == 3
    assert shape(run)[1:] == [("integration_task_10", "COMPLETED"), (kind.type, "COMPLETED")]
    assert run.tasks[2].output[kind.result_key] == ["null"]


async def nested_case(rt: cadenza.Runtime, kind: Kind, case_value: str, expected: str) -> None:
    run_id = await rt.start("ConditionalTaskWF", {"param1": "nested", "param2": case_value})
    run = await status(rt, run_id)
    assert run.status == "RUNNING"
    assert shape(run) == [
        (kind.type, "COMPLETED"),
        (kind.type, "COMPLETED"),
        (expected, "SCHEDULED"),
    ]
    assert run.tasks[0].output[kind.result_key] == ["nested"]
    assert run.tasks[1].output[kind.result_key] == [case_value]

    verify_polled(await poll_and_complete(rt, expected, "task.integration.worker"))
    run = await status(rt, run_id)
    assert run.status == "COMPLETED"
    assert len(run.tasks) == 4
    assert shape(run)[2:] == [(expected, "COMPLETED"), (kind.type, "COMPLETED")]
    assert run.tasks[3].output[kind.result_key] == ["null"]


async def three_case(rt: cadenza.Runtime, kind: Kind) -> None:
    run_id = await rt.start(
        "ConditionalTaskWF", {"param1": "three", "param2": "two", "finalCase": "notify"}
    )
    run = await status(rt, run_id)
    assert run.status == "RUNNING"
    assert shape(run) == [(kind.type, "COMPLETED"), ("integration_task_3", "SCHEDULED")]
    assert run.tasks[0].output[kind.result_key] == ["three"]

    verify_polled(await poll_and_complete(rt, "integration_task_3", W1))
    run = await status(rt, run_id)
    assert run.status == "RUNNING"
    assert shape(run)[1:] == [
        ("integration_task_3", "COMPLETED"),
        (kind.type, "COMPLETED"),
        ("integration_task_4", "SCHEDULED"),
    ]
    assert run.tasks[2].output[kind.result_key] == ["notify"]

    verify_polled(await poll_and_complete(rt, "integration_task_4", W1))
    run = await status(rt, run_id)
    assert run.status == "COMPLETED"
    assert shape(run)[1:] == [
        ("integration_task_3", "COMPLETED"),
        (kind.type, "COMPLETED"),
        ("integration_task_4", "COMPLETED"),
    ]
    assert run.tasks[2].output[kind.result_key] == ["notify"]
