"""What the batch-pass tests share (`engine.run._fresh`, `engine.run._woken`)."""

from __future__ import annotations

from typing import Any

import pytest

from cadenza.engine.run._actor import RunActor

WAIT_5S = {
    "name": "wait5",
    "tasks": [
        {
            "name": "w",
            "taskReferenceName": "w",
            "type": "WAIT",
            "inputParameters": {"duration": "5 seconds"},
        }
    ],
}


def actor_steps(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The run id of every batch a run's actor handles from now on."""
    steps: list[str] = []
    receive_batch = RunActor.receive_batch

    async def counted(self: RunActor, messages: list[Any]) -> None:
        steps.append(self.run_id)
        await receive_batch(self, messages)

    monkeypatch.setattr(RunActor, "receive_batch", counted)
    return steps
