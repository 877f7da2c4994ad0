"""`rt.get` answers while the run's actor retries a commit: a read never queues behind it.

Before: a run whose result could not be written (a full disk) kept its actor in the
commit retry loop — for as long as the disk stayed full, since a result is kept until
it is durable — and every `rt.get` of the run waited in its mailbox behind it.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any

import anyio

import cadenza
from cadenza.persistence import Append, JournalFaults
from tests.conftest import three_steps
from tests.isolation._support import add_one


async def test_a_get_is_answered_while_the_run_retries_its_commit(tmp_path: Path) -> None:
    release = asyncio.Event()
    entered = asyncio.Event()
    refused: list[str] = []
    retrying = asyncio.Event()

    async def held(data: dict[str, Any]) -> dict[str, Any]:
        entered.set()
        await release.wait()
        return {"n": data["n"] + 1}

    def disk_full(item: Append) -> bool:
        refused.append(item.info.stream_id)
        if len(refused) >= 3:  # split, then retried: the actor is in its retry loop
            retrying.set()
        return True

    async with cadenza.Runtime(str(tmp_path / "j.db"), seed=2) as rt:
        await rt.register(three_steps())
        rt.worker("step_a", held)
        rt.worker("step_b", add_one)
        rt.worker("step_c", add_one)
        run_id = await rt.start("three_steps", {"n": 1})
        with anyio.fail_after(30):
            await entered.wait()
        before = await rt.get(run_id)
        faults = JournalFaults(random.Random(1), refuse_append=disk_full)
        rt._engine.journal.faults = faults  # type: ignore[attr-defined]
        release.set()  # the result goes into a full disk: kept, retried with back-off
        with anyio.fail_after(30):
            await retrying.wait()
        with anyio.fail_after(5):  # before: for as long as the disk stayed full
            run = await rt.get(run_id)
        assert run == before  # the durable state: the result that cannot be written is not in it
        rt._engine.journal.faults = None  # type: ignore[attr-defined]
        with anyio.fail_after(30):
            done = await rt.wait(run_id)
        assert done.status == "COMPLETED"
        assert done.output == {"result": 4}
