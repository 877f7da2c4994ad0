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
from cadenza.engine._messages import Operate
from cadenza.engine.schedules._actor import Control
from cadenza.engine.schedules._store import stream_of
from cadenza.engine.shared._inbox_codec import encode
from cadenza.persistence._shared import Inbox
from cadenza.testing import VirtualClock
from tests._logs import capture_logs
from tests.conftest import three_steps
from tests.postgres.test_shared_runtime import LEASE_S, parts
from tests.schedules._helpers import HELD


def lose_the_first_done(inbox: Inbox) -> list[list[int]]:
    """The inbox's first `done` does nothing (the owner died after journaling the effects,
    before deleting the messages); the ids it was given are appended to the list returned."""
    real_done = inbox.done
    lost: list[list[int]] = []

    async def done_lost_once(
        ids: Sequence[int],
        outcomes: Mapping[int, dict[str, Any]] | None = None,
        dead: Mapping[int, str] | None = None,
    ) -> None:
        if not lost:
            lost.append(list(ids))
            return
        await real_done(ids, outcomes, dead)

    inbox.done = done_lost_once  # type: ignore[method-assign]
    return lost


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
        lost = lose_the_first_done(inbox)
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


async def test_a_trigger_applied_by_an_owner_that_died_before_deleting_it_starts_one_run(
    pg_url: str, clock: VirtualClock
) -> None:
    """The same for a schedule's `trigger` (its actor journals the inbox id with its
    record): one run, and the poster hears that run. Before, a second run was triggered."""
    async with cadenza.Runtime(pg_url, clock=clock, seed=1, lease_s=LEASE_S) as rt:
        await rt.register(HELD)
        await rt.schedule("nightly", "held", every_s=3600, overlap="allow_all")
        inbox = parts(rt).inbox
        lose_the_first_done(inbox)
        encoded = encode(Control("trigger", Reply()))
        assert encoded is not None
        posted = await inbox.post(stream_of("nightly"), *encoded, awaited=True)
        with anyio.fail_after(30):
            outcome = await inbox.outcome(posted)
        await rt.settle()
        runs = await rt.runs(name="held")
        assert len(runs) == 1
        assert outcome == {"value": runs[0].id}
        assert await inbox.size() == 0
