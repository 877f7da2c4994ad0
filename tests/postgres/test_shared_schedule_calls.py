"""A schedule's change asked of a process that does not own its partition is forwarded to
the owner (issue 17): create, pause, resume, trigger, backfill and delete work from either
process and answer as on the owner; the owner's refusal (NotFound) is raised on the caller.

As in `test_shared_runtime`, each `Runtime` stands for one process and the heartbeat is
driven by hand; both share one virtual clock.
"""

from __future__ import annotations

import asyncpg
import pytest

import cadenza
from cadenza import NotFound
from cadenza.engine.schedules._store import stream_of
from cadenza.persistence._postgres_schema import partition_of
from cadenza.testing import VirtualClock
from tests.postgres.test_shared_runtime import LEASE_S, held, parts
from tests.schedules._helpers import HELD, QUICK


def named_in(partitions: set[int], prefix: str) -> str:
    """A schedule name whose stream is in one of `partitions`."""
    n = 0
    while partition_of(stream_of(f"{prefix}{n}")) not in partitions:
        n += 1
    return f"{prefix}{n}"


async def test_schedule_calls_on_the_process_not_owning_it_are_applied_by_the_owner(
    pg_url: str, clock: VirtualClock
) -> None:
    """b makes, pauses, resumes, triggers, backfills and deletes a schedule a owns: each
    returns once a applied it, with a's answer; nothing of it is written by b."""
    a = cadenza.Runtime(pg_url, clock=clock, seed=1, lease_s=LEASE_S)
    b = cadenza.Runtime(pg_url, clock=clock, seed=2, lease_s=LEASE_S)
    await a.__aenter__()
    await b.__aenter__()
    try:
        for rt in (a, b):
            await rt.register(QUICK)
            await rt.register(HELD)
        await parts(a).tick()
        await parts(b).tick()
        await b.settle()
        name = named_in(held(a), "nightly-")
        await b.schedule(name, "held", every_s=3600, overlap="allow_all")  # made in a
        assert not (await a.get_schedule(name)).paused
        await b.pause_schedule(name)
        assert (await a.get_schedule(name)).paused  # applied before b's call returned
        await b.resume_schedule(name)
        assert not (await a.get_schedule(name)).paused
        run_id = await b.trigger(name)
        assert run_id is not None
        assert (await a.get(run_id)).status == "RUNNING"  # durable when the trigger returned
        assert (await a.get_schedule(name)).last_run_id == run_id
        skipped = await b.trigger(name, overlap="skip")  # a's answer: its run is running
        assert skipped is None
        now = clock.now()
        backfilled = await b.backfill(name, now - 3 * 3600, now - 3600, overlap="allow_all")
        assert len(backfilled) == 3
        assert len(set(backfilled)) == 3
        await b.unschedule(name)
        with pytest.raises(NotFound):
            await a.get_schedule(name)
        with pytest.raises(NotFound):  # the owner's refusal, raised on b
            await b.pause_schedule(name)
        with pytest.raises(NotFound):
            await b.trigger(named_in(held(a), "never-"))
        owner_a = parts(a).leases.owner
    finally:
        await b.__aexit__(None, None, None)
        await a.__aexit__(None, None, None)
    conn = await asyncpg.connect(pg_url)
    try:
        owners = {
            r[0]
            for r in await conn.fetch(
                "SELECT owner FROM cadenza.records WHERE stream_id = $1", stream_of(name)
            )
        }
    finally:
        await conn.close()
    assert owners == {owner_a}
