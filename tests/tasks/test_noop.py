"""NOOP: completes at once (core/.../execution/tasks/Noop.java:27-31: `execute` sets
COMPLETED; mapper NoopTaskMapper.java)."""

from __future__ import annotations

import cadenza
from tests.tasks._helpers import flow, settled


async def test_a_noop_completes_at_once_and_the_run_goes_on(rt: cadenza.Runtime) -> None:
    await rt.register(
        flow(
            "noop_flow",
            {"name": "nothing", "taskReferenceName": "n", "type": "NOOP"},
            {"name": "after", "taskReferenceName": "a", "type": "NOOP"},
        )
    )
    run = await settled(rt, await rt.start("noop_flow"))
    assert run.status == "COMPLETED"
    assert [(t.type, t.status, t.output) for t in run.tasks] == [
        ("NOOP", "COMPLETED", {}),
        ("NOOP", "COMPLETED", {}),
    ]
    assert run.tasks[0].group is None
