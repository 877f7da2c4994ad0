"""A forwarded message is applied once, even when its owner dies between journaling its
effect and deleting it from the inbox: the record that holds the effect also holds the
message's id (`Append.inbox_seen`), and whoever drains the inbox next skips a message at or
below it, answering its poster as the first application did. Before, it was applied again:
a `restart` ran the workflow a second time, and the poster heard the second outcome."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import anyio

import cadenza
from cadenza.actors import Reply
from cadenza.core._operations import Operation
from cadenza.engine._inbox_codec import encode
from cadenza.engine._messages import Operate
from cadenza.testing import VirtualClock
from tests._logs import capture_logs
from tests.conftest import three_steps
from tests.postgres.test_shared_runtime import LEASE_S, parts


async def test_a_restart_applied_by_an_owner_that_died_before_deleting_it_runs_once(
    pg_url: str, clock: VirtualClock
) -> None:
    calls: Counter[str] = Counter()

    async def counting(data: dict[str, Any]) -> dict[str, Any]:
        calls[data["step"]] += 1
        return {"n": data["n"] + 1}

    definition = three_steps()
    for task in definition["tasks"]:
        task["inputParameters"]["step"] = task["taskReferenceName"]
    async with cadenza.Runtime(pg_url, clock=clock, seed=1, lease_s=LEASE_S) as rt:
        await rt.register(definition)
        for task_type in ("step_a", "step_b", "step_c"):
            rt.worker(task_type, counting)
        run_id = await rt.start("three_steps", {"n": 1})
        assert (await rt.wait(run_id, timeout=30)).status == "COMPLETED"
        inbox = parts(rt).inbox
        real_done = inbox.done
        lost: list[list[int]] = []

        async def done_lost_once(
            ids: Sequence[int],
            outcomes: Mapping[int, dict[str, Any]] | None = None,
            dead: Mapping[int, str] | None = None,
        ) -> None:
            if not lost:  # the owner died after the restart was journaled, before this
                lost.append(list(ids))
                return
            await real_done(ids, outcomes, dead)

        inbox.done = done_lost_once  # type: ignore[method-assign]
        encoded = encode(Operate(Operation("restart", ""), Reply()))
        assert encoded is not None
        with capture_logs() as logs:
            posted = await inbox.post(run_id, *encoded, awaited=True)
            with anyio.fail_after(30):
                outcome = await inbox.outcome(posted)
            done = await rt.wait(run_id, timeout=30)
            await rt.settle()
        assert lost == [[posted]]  # applied, not deleted: drained again
        assert outcome == {"value": None}  # as the first application answered
        assert done.status == "COMPLETED"
        assert calls == {"a": 2, "b": 2, "c": 2}  # the first run and one restart
        assert [e["id"] for e in logs if e["event"] == "inbox.applied_before"] == [posted]
        assert await inbox.size() == 0
