"""One idempotency key started on two processes at once, both starts forwarded through the
inbox (nobody held the partitions): the owner applies one start; the other is refused by the
journal (`DuplicateKey`) and its caller gets the first run's id. Before, the refused start
crashed its actor, stayed in the inbox and was retried for ever: its caller never heard."""

from __future__ import annotations

import asyncio

import anyio

import cadenza
from cadenza.testing import VirtualClock
from tests._logs import capture_logs
from tests.postgres.test_shared_runtime import APPROVAL, LEASE_S, held, parts


async def test_one_key_forwarded_from_two_processes_makes_one_run_and_both_hear_it(
    pg_url: str, clock: VirtualClock
) -> None:
    a = cadenza.Runtime(pg_url, clock=clock, seed=1, lease_s=LEASE_S)
    await a.__aenter__()  # first: it holds everything
    async with (
        cadenza.Runtime(pg_url, clock=clock, seed=2, lease_s=LEASE_S) as b,
        cadenza.Runtime(pg_url, clock=clock, seed=3, lease_s=LEASE_S) as c,
    ):
        await a.register(APPROVAL)
        await a.__aexit__(None, None, None)  # left gracefully: everything is free
        assert held(b) == held(c) == set()
        with capture_logs() as logs:
            starts = [asyncio.ensure_future(rt.start("approval", {}, key="once")) for rt in (b, c)]
            while await parts(b).inbox.size() < 2:  # noqa: ASYNC110 (a row in another table)
                await anyio.sleep(0.01)
            with anyio.fail_after(30):
                while not all(start.done() for start in starts):
                    for rt in (b, c):
                        await parts(rt).tick()
                        await rt.settle()
                    await anyio.sleep(0.01)
            first, second = [start.result() for start in starts]
        assert first == second
        assert [e for e in logs if e["event"] in ("actor.crashed", "inbox.not_applied")] == []
        assert await parts(b).inbox.size() == 0
