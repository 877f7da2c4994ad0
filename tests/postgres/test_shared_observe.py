"""What waits in the shared worker-group queues, seen from the processes (issue 17):
`cadenza_queue_depth` counts shared tasks at the process owning their runs, and a shared
type nobody polls anywhere is warned of as unserved."""

from __future__ import annotations

import logging
from typing import Any

import anyio

import cadenza
from cadenza.testing import VirtualClock
from tests._logs import capture_logs
from tests.observe.test_metrics import scrape, value
from tests.postgres.test_shared_poll import ONE, sql, two_processes
from tests.postgres.test_shared_runtime import LEASE_S, parts


async def look(rt: cadenza.Runtime) -> None:
    shared = parts(rt).shared
    assert shared is not None
    await shared.watch.look()


def unserved(logs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in logs if e["event"] == "dispatch.unserved"]


async def test_queue_depth_counts_shared_tasks_at_their_runs_owner(
    pg_url: str, clock: VirtualClock
) -> None:
    """a posts three tasks: a's depth reads 3 and b's nothing (summed over the fleet, each
    task once); one polled at b is held, so a's depth reads 2; its age is a's clock's."""
    async with two_processes(pg_url, clock) as (a, b):
        for n in range(3):
            await a.start("one", {"n": n})
        await a.settle()
        await clock.advance(5.0)
        for rt in (a, b):
            await look(rt)
        labels = {"task_type": "job", "group": "default"}
        m = scrape(a.metrics)
        assert value(m, "cadenza_queue_depth", **labels) == 3
        assert value(m, "cadenza_queue_oldest_ready_age_seconds", **labels) == 5.0
        assert not value(scrape(b.metrics), "cadenza_queue_depth", **labels)
        task = await b.poll("job", wait=10)
        assert task is not None
        await look(a)
        assert value(scrape(a.metrics), "cadenza_queue_depth", **labels) == 2
        await b.complete(task.id, {"n": 0})


async def test_a_shared_type_nobody_polls_is_warned_of_once_and_counted(
    pg_url: str, clock: VirtualClock
) -> None:
    """a's tasks wait in the shared queue and no process polls or serves `job`: past 60 s on
    a's clock, one warning (shared) and one count; not again at the next looks."""
    async with two_processes(pg_url, clock) as (a, _b):
        with capture_logs(logging.WARNING) as logs:
            for n in range(2):
                await a.start("one", {"n": n})
            await a.settle()
            await look(a)
            await clock.advance(59.0)
            await look(a)
            assert not unserved(logs)
            await clock.advance(2.0)
            await look(a)
            await look(a)
        (warned,) = unserved(logs)
        assert (warned["task_type"], warned["group"], warned["queued"]) == ("job", "default", 2)
        assert warned["shared"] is True
        assert warned["waited_s"] >= 60.0
        assert "any process" in warned["remedy"]
        assert a.metrics is not None
        count = a.metrics.get_sample_value(
            "cadenza_task_unserved_total", {"task_type": "job", "group": "default"}
        )
        assert count == 1


async def test_a_shared_type_served_by_a_busy_puller_elsewhere_is_not_unserved(
    pg_url: str, clock: VirtualClock
) -> None:
    """b's one slot is busy with a's first task, so a's second waits in the shared queue for
    more than 60 s of a's clock: b's puller records that it serves `job`, so a does not warn.
    (b has a clock of its own: advancing a's must not wait for b's hung worker.)"""
    async with (
        cadenza.Runtime(pg_url, clock=clock, seed=1, lease_s=LEASE_S) as a,
        cadenza.Runtime(
            pg_url, clock=VirtualClock(start=clock.now()), seed=2, lease_s=LEASE_S
        ) as b,
    ):
        for rt in (a, b):
            await rt.register(ONE)
        await parts(a).tick()
        await parts(b).tick()
        await b.settle()
        gate = anyio.Event()
        busy = anyio.Event()

        async def job(data: dict[str, Any]) -> dict[str, Any]:
            busy.set()
            await gate.wait()
            return {"n": data["n"]}

        b.worker("job", job, concurrency=1)
        with capture_logs(logging.WARNING) as logs:
            first = await a.start("one", {"n": 1})
            with anyio.fail_after(30):
                await busy.wait()
            second = await a.start("one", {"n": 2})
            await a.settle()
            await look(a)
            await clock.advance(61.0)
            await sql(pg_url, "UPDATE cadenza.queue_polls SET at = at - interval '120 seconds'")
            pulls = parts(b).pullers
            assert pulls is not None
            pulls.shared._noted.clear()  # b's last record is as old as the database now says
            await pulls.pull()  # records the poll (busy: takes nothing)
            await look(a)
            assert not unserved(logs)
        gate.set()
        for run_id in (first, second):
            with anyio.fail_after(30):
                assert (await a.wait(run_id)).status == "COMPLETED"


async def test_a_poll_on_another_process_makes_its_group_active_for_routing(
    pg_url: str, clock: VirtualClock
) -> None:
    """taskToDomain `job: gpu,NO_DOMAIN` at a, the owner: while no process polled `gpu` the
    task goes to the default group; once a worker polled `gpu` at b (finding nothing), a's
    next look counts that poll and the next run's task goes to `gpu`, where b's poll gets
    it."""
    routes = {"job": "gpu,NO_DOMAIN"}
    async with two_processes(pg_url, clock) as (a, b):
        before = await a.start("one", {"n": 1}, task_to_group=routes)
        await a.settle()
        assert await b.poll("job", group="gpu") is None
        await look(a)
        after = await a.start("one", {"n": 2}, task_to_group=routes)
        await a.settle()
        rows = await sql(pg_url, "SELECT run_id, grp FROM cadenza.queue ORDER BY age")
        assert [(r[0], r[1]) for r in rows] == [(before, "default"), (after, "gpu")]
        task = await b.poll("job", group="gpu", wait=10)
        assert task is not None
        assert task.run_id == after
