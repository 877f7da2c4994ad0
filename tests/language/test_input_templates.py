"""Conductor's inputTemplate: defaults under the given input, for workflows and task types."""

from __future__ import annotations

from typing import Any

import cadenza


async def test_a_workflow_input_template_fills_what_the_start_input_leaves_out(
    rt: cadenza.Runtime,
) -> None:
    """The start input wins; the template supplies the rest."""
    await rt.register(
        {
            "name": "templated",
            "inputTemplate": {"region": "eu", "retries": 2},
            "tasks": [
                {
                    "name": "t",
                    "taskReferenceName": "t",
                    "inputParameters": {"r": "${workflow.input.region}"},
                }
            ],
        }
    )
    run = await rt.get(await rt.start("templated", {"retries": 5}))
    assert run.input == {"region": "eu", "retries": 5}
    assert run.tasks[0].input == {"r": "eu"}


async def test_a_task_def_input_template_gives_defaults_under_input_parameters(
    rt: cadenza.Runtime,
) -> None:
    """inputParameters win over the TaskDef's template; template expressions are resolved too."""
    await rt.register_task(
        {"name": "t", "inputTemplate": {"mode": "fast", "who": "${workflow.input.user}", "n": 1}}
    )
    await rt.register(
        {
            "name": "task_templated",
            "tasks": [{"name": "t", "taskReferenceName": "t", "inputParameters": {"n": 7}}],
        }
    )
    seen: list[dict[str, Any]] = []

    async def work(data: dict[str, Any]) -> None:
        seen.append(data)

    rt.worker("t", work)
    run = await rt.wait(await rt.start("task_templated", {"user": "ada"}))
    assert run.status == "COMPLETED"
    assert seen == [{"mode": "fast", "who": "ada", "n": 7}]
