"""`Runtime(template_env=...)`: `${NAME}` in a task's input, as Conductor resolves a system
property or environment variable of its server (ParametersUtils.java:275-279,
EnvUtils.java:32-45) — from what the runtime was given, never from the process by default."""

from __future__ import annotations

from typing import Any

import pytest

import cadenza
from cadenza.testing import VirtualClock

FLOW: dict[str, Any] = {
    "name": "templated",
    "tasks": [{"name": "work", "taskReferenceName": "work", "type": "SIMPLE",
               "inputParameters": {"stack": "${STACK}", "text": "on ${STACK}/${workflow.input.x}",
                                   "id": "${CPEWF_TASK_ID}"}}],
}  # fmt: skip


async def test_a_name_of_the_template_env_resolves_in_a_tasks_input(
    db_path: str, clock: VirtualClock
) -> None:
    """Accepted at registration (ConstraintParamUtil skips an environment name) and resolved
    when the task is scheduled, whole or inside text."""
    env = {"STACK": "blue"}
    async with cadenza.Runtime(db_path, clock=clock, template_env=env) as rt:
        await rt.register(FLOW)
        env["STACK"] = "changed after the runtime was made"  # it keeps its own copy
        run = await rt.get(await rt.start("templated", {"x": 1}))
    task = run.tasks[0]
    assert task.input == {"stack": "blue", "text": "on blue/1", "id": task.id}


async def test_without_a_template_env_the_process_environment_is_not_read(
    rt: cadenza.Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A definition cannot read the process's secrets unless the runtime is given them:
    `${STACK}` names no task, so registering refuses it as Conductor does an unknown name."""
    monkeypatch.setenv("STACK", "blue")
    with pytest.raises(cadenza.DefinitionError, match="is not defined in workflow definition"):
        await rt.register(FLOW)


@pytest.mark.parametrize("bad", [["STACK"], {"STACK": 1}, {1: "x"}])
def test_a_template_env_that_is_not_text_to_text_is_refused(bad: Any) -> None:
    with pytest.raises(cadenza.InvalidArgument, match="template_env"):
        cadenza.Runtime(":memory:", template_env=bad)
