"""Finding of the random_definitions sweep (seed 11): a DO_WHILE ends an iteration while a
JOIN of its body still waits, and that JOIN is never evaluated again: the run stays
RUNNING for ever.

The body forks two branches; the outer JOIN waits on `s9` and `s19`, and `s19` was
skipped by an operator before it was scheduled (its SKIPPED task carries no iteration,
as Conductor's skipTaskFromWorkflow makes it, so it is skipped in every iteration, as
Conductor's isTaskSkipped finds it by its plain reference). The outer JOIN completes while
the inner JOIN `f11j` still waits on a WAIT; the loop used to start its next iteration, and
the earlier iteration's JOIN then stayed IN_PROGRESS. Conductor's DoWhile.isIterationComplete
ends an iteration only once every task of the body in it is terminal, so its JOIN is still
decided.
"""

from __future__ import annotations

from typing import Any

import cadenza
from cadenza.testing import VirtualClock


def _simple(ref: str) -> dict[str, Any]:
    return {"name": f"t_{ref}", "taskReferenceName": ref, "type": "SIMPLE"}


WAIT = {
    "name": "w13",
    "taskReferenceName": "w13",
    "type": "WAIT",
    "inputParameters": {"duration": "1s"},
}
INNER = {"name": "f11", "taskReferenceName": "f11", "type": "FORK_JOIN",
         "forkTasks": [[WAIT], [_simple("s16")]]}  # fmt: skip
LOOP = {
    "name": "l",
    "taskReferenceName": "l",
    "type": "DO_WHILE",
    "loopCondition": "if ($.l['iteration'] < 2) { true; } else { false; }",
    "loopOver": [
        {
            "name": "f6",
            "taskReferenceName": "f6",
            "type": "FORK_JOIN",
            "forkTasks": [
                [_simple("s9")],
                [
                    INNER,
                    {
                        "name": "f11j",
                        "taskReferenceName": "f11j",
                        "type": "JOIN",
                        "joinOn": ["w13", "s16"],
                    },
                    _simple("s19"),
                ],
            ],
        },
        {"name": "f6j", "taskReferenceName": "f6j", "type": "JOIN", "joinOn": ["s9", "s19"]},
    ],
}


async def test_a_loop_whose_task_was_skipped_still_ends(
    rt: cadenza.Runtime, clock: VirtualClock
) -> None:
    await rt.register({"name": "loopy", "version": 1, "tasks": [LOOP]})
    run_id = await rt.start("loopy", {})
    await rt.skip(run_id, "s19")
    for _ in range(6):
        for task_type in ("t_s9", "t_s16", "t_s19"):
            task = await rt.poll(task_type, worker_id="w")
            if task is not None:
                await rt.complete(task.id, {})
        await rt.settle()
        await clock.advance(1.5)
        await rt.settle()
    run = await rt.get(run_id)
    stuck = [(t.ref, t.status) for t in run.tasks if not t.status.terminal]
    assert run.status != "RUNNING", stuck
