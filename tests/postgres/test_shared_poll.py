"""External workers polling any of several runtimes on one PostgreSQL journal (issue 17,
item 4): the shared worker-group queues, wired to `rt.poll` / `rt.complete`.

Each `Runtime` stands for one process (its heartbeat ticked by hand, as in
test_shared_runtime.py); leases and rate windows are moved on the database's
clock, never slept for. The hammer uses real concurrent polls on the server.
"""

from __future__ import annotations

import random
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import asyncpg
import pytest

import cadenza
from cadenza.persistence._postgres_schema import partition_of
from cadenza.testing import VirtualClock
from tests.postgres.test_shared_runtime import LEASE_S, held, kill_on_the_database_clock, parts

ROOT = Path(__file__).resolve().parents[2]
ONE: dict[str, Any] = {
    "name": "one",
    "tasks": [{"name": "job", "taskReferenceName": "job",
               "inputParameters": {"n": "${workflow.input.n}"}}],
    "outputParameters": {"result": "${job.output.n}"},
}  # fmt: skip
TWO: dict[str, Any] = {
    "name": "two",
    "tasks": [
        {"name": "job", "taskReferenceName": "first", "inputParameters": {"n": "${workflow.input.n}"}},
        {"name": "job", "taskReferenceName": "second", "inputParameters": {"n": "${first.output.n}"}},
    ],
    "outputParameters": {"result": "${second.output.n}"},
}  # fmt: skip


def _spawn_owner(url: str, runs: int) -> subprocess.Popen[bytes]:
    """A real process owning `runs` runs of `ONE` whose tasks it posted (`poll_child`)."""
    return subprocess.Popen(
        [sys.executable, "-m", "tests.postgres.poll_child", url, "3.0", str(runs)],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
    )  # fmt: skip


async def sql(url: str, query: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        return list(await conn.fetch(query, *args))
    finally:
        await conn.close()


async def queue_rows(url: str) -> list[tuple[str, str | None, bool]]:
    rows = await sql(url, "SELECT task_id, claimed_by, lapsed FROM cadenza.queue ORDER BY age")
    return [(r[0], r[1], r[2]) for r in rows]


async def expire_queue_leases(url: str) -> None:
    await sql(url, "UPDATE cadenza.queue SET lease_until = now() - interval '1 second'")


@asynccontextmanager
async def two_processes(
    url: str,
    clock: VirtualClock,
    taskdef: dict[str, Any] | None = None,
    *,
    clock_b: VirtualClock | None = None,
) -> AsyncIterator[tuple[cadenza.Runtime, cadenza.Runtime]]:
    """Runtimes a and b with half the partitions each, `ONE` and `TWO` registered, no worker
    (b on `clock_b` when given, else both on `clock`)."""
    async with (
        cadenza.Runtime(url, clock=clock, seed=1, lease_s=LEASE_S) as a,
        cadenza.Runtime(url, clock=clock_b or clock, seed=2, lease_s=LEASE_S) as b,
    ):
        for rt in (a, b):  # each process registers what it serves (registries are per process)
            await rt.register(ONE)
            await rt.register(TWO)
            if taskdef is not None:
                await rt.register_task({"name": "job", **taskdef})
        await parts(a).tick()
        await parts(b).tick()
        await b.settle()
        assert held(a)
        assert held(b)
        assert held(a).isdisjoint(held(b))
        yield a, b


async def test_a_poller_on_b_gets_a_task_of_a_run_owned_by_a(
    pg_url: str, clock: VirtualClock
) -> None:
    """a owns the run and posts its task; a worker polling b claims it, completes it at b
    (the row goes and the result reaches a's inbox in one transaction), and the run ends."""
    async with two_processes(pg_url, clock) as (a, b):
        run_id = await a.start("two", {"n": 1})
        assert partition_of(run_id) in held(a)
        await a.settle()
        assert [r[1] for r in await queue_rows(pg_url)] == [None]  # posted, unclaimed
        first = await b.poll("job", worker_id="w1", wait=10)
        assert first is not None
        assert (first.run_id, first.ref, first.input) == (run_id, "first", {"n": 1})
        await b.complete(first.id, {"n": 2})
        second = await b.poll("job", worker_id="w1", wait=10)  # posted by a, once it applied
        assert second is not None
        assert second.ref == "second"
        assert second.input == {"n": 2}
        await b.complete(second.id, {"n": 3})
        done = await b.wait(run_id, timeout=30)
        assert (done.status, done.output) == ("COMPLETED", {"result": 3})
        assert [t.worker_id for t in done.tasks] == ["w1", "w1"]  # the starts reached a too
        await a.settle()
        assert await queue_rows(pg_url) == []
        assert parts(a).applied == 4  # two starts, two results: through a's inbox
        assert parts(b).applied == 0
        assert parts(b).shared.handed == 2
        assert parts(a).shared.handed == 0


async def test_polls_on_either_process_follow_global_priority_then_age(
    pg_url: str, clock: VirtualClock
) -> None:
    async with two_processes(pg_url, clock) as (a, b):
        started = []
        for rt, priority in ((a, 0), (b, 5), (a, 5), (b, 9), (a, 0), (b, 9)):
            started.append(await rt.start("one", {"n": len(started)}, priority=priority))
            await rt.settle()  # posted before the next: age is the posting order
        got = []
        for rt in (b, a, a, b, a, b):
            task = await rt.poll("job", wait=5)
            assert task is not None
            got.append(task.run_id)
        assert got == [started[i] for i in (3, 5, 1, 2, 0, 4)]
        assert await a.poll("job") is None
        assert await b.poll("job") is None


async def test_a_concurrency_limit_of_one_holds_across_processes_under_a_hammer(
    pg_url: str, clock: VirtualClock
) -> None:
    """concurrentExecLimit 1: six pollers on two processes never hold two tasks at once."""
    runs = 12
    async with two_processes(pg_url, clock, {"concurrentExecLimit": 1}) as (a, b):
        ids = [await (a, b)[i % 2].start("one", {"n": i}) for i in range(runs)]
        await a.settle()
        await b.settle()
        rng = random.Random(17)
        holding = 0
        most = 0
        done: list[str] = []

        async def worker(rt: cadenza.Runtime, name: str) -> None:
            nonlocal holding, most
            while len(done) < runs:
                task = await rt.poll("job", worker_id=name, wait=0.05)
                if task is None:
                    continue
                holding += 1
                most = max(most, holding)
                await anyio.sleep(rng.uniform(0, 0.01))
                holding -= 1  # before the completion frees the slot: the count can only be low
                await rt.complete(task.id, {"n": -1})
                done.append(task.run_id)

        with anyio.fail_after(120):
            async with anyio.create_task_group() as tg:
                for n in range(6):
                    tg.start_soon(worker, (a, b)[n % 2], f"w{n}")
        assert most == 1
        assert sorted(done) == sorted(ids)
        for run_id in ids:
            assert (await a.wait(run_id, timeout=30)).status == "COMPLETED"


async def test_a_rate_limit_holds_across_processes(pg_url: str, clock: VirtualClock) -> None:
    """rateLimitPerFrequency 2 per 60 s: polls on both processes get two tasks in the window;
    once those claims are older than the window (the database's clock), two more."""
    taskdef = {"rateLimitPerFrequency": 2, "rateLimitFrequencyInSeconds": 60}
    async with two_processes(pg_url, clock, taskdef) as (a, b):
        for i in range(6):
            await (a, b)[i % 2].start("one", {"n": i})
        await a.settle()
        await b.settle()
        got = [await rt.poll("job") for rt in (a, b, a, b, a, b)]
        assert len([t for t in got if t is not None]) == 2
        await sql(pg_url, "UPDATE cadenza.queue_claims SET at = at - interval '61 seconds'")
        got = [await rt.poll("job") for rt in (b, a, b, a)]
        assert len([t for t in got if t is not None]) == 2


async def test_a_lease_that_ran_out_hands_the_task_out_again_and_refuses_the_old_worker(
    pg_url: str, clock: VirtualClock
) -> None:
    """w1 polls b for a's task and goes silent past its lease (responseTimeoutSeconds, on the
    database's clock). Its late completion is refused with StaleTask at either process; a
    poll reaps the lapsed row, a times the attempt out, and the retry is handed to w2."""
    taskdef = {"responseTimeoutSeconds": 30, "retryCount": 1, "retryDelaySeconds": 0}
    async with two_processes(pg_url, clock, taskdef) as (a, b):
        run_id = await a.start("one", {"n": 1})
        old = await b.poll("job", worker_id="w1", wait=10)
        assert old is not None
        await b.heartbeat(old.id)  # live: extended
        await expire_queue_leases(pg_url)
        for rt in (b, a):
            with pytest.raises(cadenza.StaleTask):
                await rt.complete(old.id, {"n": 99})
        with pytest.raises(cadenza.StaleTask):
            await b.heartbeat(old.id)
        retry = await a.poll("job", worker_id="w2", wait=10)
        assert retry is not None
        assert retry.id != old.id
        assert retry.attempt == old.attempt + 1
        await a.complete(retry.id, {"n": 2})
        done = await b.wait(run_id, timeout=30)
        assert (done.status, done.output) == ("COMPLETED", {"result": 2})
        assert [t.status for t in done.tasks] == ["TIMED_OUT", "COMPLETED"]
        await a.settle()
        assert await queue_rows(pg_url) == []


async def test_terminating_a_run_voids_its_rows_queued_or_claimed(
    pg_url: str, clock: VirtualClock
) -> None:
    async with two_processes(pg_url, clock) as (a, b):
        queued = await a.start("one", {"n": 1})
        claimed = await a.start("one", {"n": 2}, priority=9)
        await a.settle()
        task = await b.poll("job", worker_id="w1")
        assert task is not None
        assert task.run_id == claimed
        assert len(await queue_rows(pg_url)) == 2
        await b.terminate(queued, "not needed")  # through a's inbox
        await b.terminate(claimed, "not needed")
        for run_id in (queued, claimed):
            assert (await a.wait(run_id, timeout=30)).status == "TERMINATED"
        await a.settle()
        assert await queue_rows(pg_url) == []
        assert await b.poll("job") is None
        with pytest.raises(cadenza.StaleTask):  # the journal says CANCELED
            await b.complete(task.id, {"n": 3})


async def test_a_task_whose_post_was_lost_in_a_crash_is_posted_again_by_the_next_owner(
    pg_url: str, clock: VirtualClock
) -> None:
    """The post follows the run's commit: a crash between them loses the row (modelled by
    deleting it). The owner taking the run over recovers it and posts its task again; a
    task a worker held when its owner died stays that worker's, and completes."""
    async with two_processes(pg_url, clock) as (a, b):
        lost = await a.start("one", {"n": 1})
        held_task_run = await a.start("one", {"n": 2}, priority=9)
        await a.settle()
        task = await b.poll("job", worker_id="w1")
        assert task is not None
        assert task.run_id == held_task_run
        await sql(pg_url, "DELETE FROM cadenza.queue WHERE run_id = $1", lost)
        await kill_on_the_database_clock(pg_url, parts(a).leases.owner)
        await parts(b).tick()
        await b.settle()
        assert partition_of(lost) in held(b)
        again = await b.poll("job", worker_id="w2", wait=10)
        assert again is not None
        assert again.run_id == lost
        await b.complete(again.id, {"n": 10})
        await b.complete(task.id, {"n": 20})  # w1's lease outlived its owner
        assert (await b.wait(lost, timeout=30)).output == {"result": 10}
        assert (await b.wait(held_task_run, timeout=30)).output == {"result": 20}


async def test_a_local_worker_of_the_group_keeps_its_tasks_local(
    pg_url: str, clock: VirtualClock
) -> None:
    """A type served by a local worker of its group in the owner is dispatched there, as on
    one process; nothing reaches the shared queue."""
    async with two_processes(pg_url, clock) as (a, _b):

        async def double(data: dict[str, Any]) -> dict[str, Any]:
            return {"n": data["n"] * 2}

        a.worker("job", double)
        run_id = await a.start("one", {"n": 4})
        assert (await a.wait(run_id, timeout=30)).output == {"result": 8}
        assert await queue_rows(pg_url) == []


async def test_an_external_poll_where_a_local_worker_serves_the_type_sees_the_shared_queue(
    pg_url: str, clock: VirtualClock
) -> None:
    """b has a local worker for `job` (one slot, kept busy by b's own run); a owns a run
    whose `job` task waits in the shared queue. An external poll at b gets b's own queued
    task first, then a's from the shared queue. Before, a poll at b saw only b's local
    group: a's task was never handed out there."""
    async with two_processes(pg_url, clock) as (a, b):
        busy, release = anyio.Event(), anyio.Event()

        async def hold(data: dict[str, Any]) -> dict[str, Any]:
            busy.set()
            await release.wait()
            return {"n": data["n"]}

        b.worker("job", hold, concurrency=1)
        held_run = await b.start("one", {"n": 1})
        try:
            with anyio.fail_after(30):
                await busy.wait()  # b's only slot: no pulls from b now
            queued_here = await b.start("one", {"n": 2})  # waits in b's local group
            remote = await a.start("one", {"n": 3})
            await a.settle()
            assert [row[1] for row in await queue_rows(pg_url)] == [None]  # a's, unclaimed
            first = await b.poll("job", worker_id="ext")
            second = await b.poll("job", worker_id="ext")
            assert first is not None
            assert second is not None
            assert (first.run_id, second.run_id) == (queued_here, remote)
            await b.complete(first.id, {"n": 20})
            await b.complete(second.id, {"n": 30})
            async with anyio.create_task_group() as tg:  # a waiting poll hears a's post
                polled: list[Any] = []

                async def poll_at_b() -> None:
                    polled.append(await b.poll("job", worker_id="ext", wait=30))

                tg.start_soon(poll_at_b)
                later = await a.start("one", {"n": 4})
            assert polled[0] is not None
            assert polled[0].run_id == later
            await b.complete(polled[0].id, {"n": 40})
            assert (await a.wait(later, timeout=30)).output == {"result": 40}
        finally:
            release.set()
        assert (await a.wait(remote, timeout=30)).output == {"result": 30}
        assert (await b.wait(queued_here, timeout=30)).output == {"result": 20}
        assert (await b.wait(held_run, timeout=30)).output == {"result": 1}
        assert await queue_rows(pg_url) == []


async def test_tasks_posted_by_an_owner_killed_with_sigkill_complete_after_the_takeover(
    pg_url: str,
) -> None:
    """A real process owns six runs and has posted their tasks; it is SIGKILLed. A worker
    polling the survivor gets them (the rows outlive their poster), completes three before
    the survivor took the dead owner's partitions (the results wait in their inbox) and
    three after; every run completes, each task once."""
    child = _spawn_owner(pg_url, runs=6)
    try:
        assert child.stdout is not None
        lines = [child.stdout.readline().decode().strip() for _ in range(7)]
        assert lines[-1] == "posted", lines
        ids = lines[:-1]
        async with cadenza.Runtime(pg_url, lease_s=1.0) as b:
            assert held(b) == set()  # the child holds every partition (3 s leases: kept under load)
            child.kill()  # SIGKILL
            child.wait()
            got = []
            for _ in range(6):
                task = await b.poll("job", worker_id="w", wait=30)
                assert task is not None
                got.append(task)
                if len(got) <= 3:
                    await b.complete(task.id, {"n": task.input["n"] * 10})
            for task in got[3:]:
                await b.complete(task.id, {"n": task.input["n"] * 10})
            assert sorted(t.run_id for t in got) == sorted(ids)
            for i, run_id in enumerate(ids):
                with anyio.fail_after(60):
                    done = await b.wait(run_id)
                assert (done.status, done.output) == ("COMPLETED", {"result": i * 10})
                assert [t.status for t in done.tasks] == ["COMPLETED"]
            assert held(b)  # taken over
            await b.settle()
            assert await queue_rows(pg_url) == []
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        for stream in (child.stdin, child.stdout):
            if stream is not None:
                stream.close()


async def test_update_with_a_callback_and_a_failure_go_through_the_shared_queue(
    pg_url: str, clock: VirtualClock
) -> None:
    """At b, for a's run: `update(callback_after_s=0)` gives the task back (its row goes; a
    posts it again and it is polled again, same attempt); `fail` ends the attempt and a
    queues the retry, polled at b."""
    taskdef = {"retryCount": 1, "retryDelaySeconds": 0}
    async with two_processes(pg_url, clock, taskdef) as (a, b):
        run_id = await a.start("one", {"n": 1})
        task = await b.poll("job", worker_id="w1", wait=10)
        assert task is not None
        await b.update(task.id, output={"progress": 1}, callback_after_s=0)
        again = await b.poll("job", worker_id="w2", wait=10)
        assert again is not None
        assert again.id == task.id
        await b.fail(again.id, "flaky")
        retry = await b.poll("job", worker_id="w3", wait=10)
        assert retry is not None
        assert retry.attempt == task.attempt + 1
        await b.complete(retry.id, {"n": 5})
        done = await a.wait(run_id, timeout=30)
        assert (done.status, done.output) == ("COMPLETED", {"result": 5})
        assert [t.status for t in done.tasks] == ["FAILED", "COMPLETED"]
        await a.settle()
        assert await queue_rows(pg_url) == []
