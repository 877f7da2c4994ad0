"""Local workers pulling from the shared worker-group queues (issue 17): a process with a
worker for a type runs that type's tasks of runs other processes own, which have none.

Each `Runtime` stands for one process (heartbeats ticked by hand, as in
test_shared_poll.py); the crash test kills a real puller process with SIGKILL.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import anyio
import pytest

import cadenza
from cadenza.persistence._postgres_queue import SharedQueue
from cadenza.persistence._postgres_schema import partition_of
from cadenza.testing import VirtualClock
from tests.postgres.test_shared_poll import (
    ONE,
    ROOT,
    expire_queue_leases,
    queue_rows,
    two_processes,
)
from tests.postgres.test_shared_runtime import LEASE_S, held, parts


def _spawn_puller(url: str) -> subprocess.Popen[bytes]:
    """A real process whose worker for `job` pulls a task and hangs in it (`pull_child`)."""
    return subprocess.Popen(
        [sys.executable, "-m", "tests.postgres.pull_child", url],
        cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
    )  # fmt: skip


def pullers(rt: cadenza.Runtime) -> Any:
    found = parts(rt).pullers
    assert found is not None
    return found


async def test_only_b_serves_the_type_and_runs_owned_by_a_complete(
    pg_url: str, clock: VirtualClock
) -> None:
    """a has no worker for `job`: its tasks are posted; b's local worker pulls them, and its
    results reach a's runs through a's inbox, as an external worker's would."""
    async with two_processes(pg_url, clock) as (a, b):
        seen: list[str] = []

        async def double(data: dict[str, Any], ctx: cadenza.TaskContext) -> dict[str, Any]:
            seen.append(ctx.run_id)
            return {"n": data["n"] * 2}

        b.worker("job", double, concurrency=2)
        ids = [await a.start("two", {"n": n}) for n in range(1, 5)]
        assert all(partition_of(run_id) in held(a) for run_id in ids)
        for n, run_id in enumerate(ids, start=1):
            with anyio.fail_after(30):
                done = await a.wait(run_id)
            assert (done.status, done.output) == ("COMPLETED", {"result": n * 4})
            assert [t.worker_id for t in done.tasks] == ["pull:default", "pull:default"]
        assert sorted(set(seen)) == sorted(ids)
        assert pullers(b).pulled == 8
        assert pullers(a).pulled == 0
        await a.settle()
        await b.settle()
        assert await queue_rows(pg_url) == []


async def test_a_concurrency_limit_holds_with_pullers_on_two_processes(
    pg_url: str, clock: VirtualClock
) -> None:
    """concurrentExecLimit 2; c owns the runs and serves nothing; a and b each have a worker
    of 4 slots pulling: never more than two tasks run at once across them, and all end."""
    runs = 16
    taskdef = {"name": "job", "concurrentExecLimit": 2}
    async with (
        cadenza.Runtime(pg_url, clock=clock, seed=1, lease_s=LEASE_S) as a,
        cadenza.Runtime(pg_url, clock=clock, seed=2, lease_s=LEASE_S) as b,
        cadenza.Runtime(pg_url, clock=clock, seed=3, lease_s=LEASE_S) as c,
    ):
        for rt in (a, b, c):
            await rt.register(ONE)
            await rt.register_task(taskdef)
        for _ in range(2):  # a gives up its surplus, b and c take their shares
            for rt in (a, b, c):
                await parts(rt).tick()
                await rt.settle()
        assert held(c)
        assert held(c).isdisjoint(held(a) | held(b))
        running = 0
        most = 0
        where: list[int] = []

        def job_on(index: int) -> Any:
            async def job(data: dict[str, Any]) -> dict[str, Any]:
                nonlocal running, most
                running += 1
                most = max(most, running)
                where.append(index)
                await anyio.sleep(0.01)
                running -= 1
                return {"n": data["n"]}

            return job

        a.worker("job", job_on(0), concurrency=4)
        b.worker("job", job_on(1), concurrency=4)
        ids = [await c.start("one", {"n": n}) for n in range(runs)]
        for n, run_id in enumerate(ids):
            with anyio.fail_after(60):
                done = await c.wait(run_id)
            assert (done.status, done.output) == ("COMPLETED", {"result": n})
        assert most == 2
        assert len(where) == runs
        assert pullers(a).pulled + pullers(b).pulled == runs
        assert pullers(c).pulled == 0


async def test_a_concurrency_limit_holds_across_processes_that_serve_their_own_runs(
    pg_url: str, clock: VirtualClock
) -> None:
    """concurrentExecLimit 2 (Conductor's is global); a and b each own runs of `one` and
    each has a local worker of 4 slots for `job`: never more than two tasks run at once
    across both processes, and every run ends. Before, each process held the limit for its
    own runs alone: four ran at once."""
    async with two_processes(pg_url, clock, {"concurrentExecLimit": 2}) as (a, b):
        running = 0
        most = 0
        two_run = anyio.Event()
        release = anyio.Event()

        async def job(data: dict[str, Any]) -> dict[str, Any]:
            nonlocal running, most
            running += 1
            most = max(most, running)
            if running >= 2:
                two_run.set()
            await release.wait()
            running -= 1
            return {"n": data["n"]}

        a.worker("job", job, concurrency=4)
        b.worker("job", job, concurrency=4)
        ids = [await rt.start("one", {"n": n}) for n in range(4) for rt in (a, b)]
        with anyio.fail_after(30):
            await two_run.wait()
            while running < 3:  # (or the condition on the database below)
                waiting = [row for row in await queue_rows(pg_url) if row[1] is None]
                if running == 2 and len(waiting) == len(ids) - 2:
                    break  # two run, the rest wait in the shared queue for the limit
                await anyio.sleep(0.01)
        assert most == 2  # before: each process ran its own two at once, four in all
        release.set()
        for n, run_id in enumerate(ids):
            owner = a if partition_of(run_id) in held(a) else b
            with anyio.fail_after(60):
                done = await owner.wait(run_id)
            assert (done.status, done.output) == ("COMPLETED", {"result": n // 2})
        assert most == 2


async def test_a_failing_worker_is_retried_per_the_taskdef(
    pg_url: str, clock: VirtualClock
) -> None:
    """b's worker raises on the first attempt of a's task: FAILED with its message, retried
    (retryCount 1), pulled again and completed; a TerminalError fails a run for good."""
    taskdef = {"retryCount": 1, "retryDelaySeconds": 0}
    async with two_processes(pg_url, clock, taskdef) as (a, b):

        async def flaky(data: dict[str, Any], ctx: cadenza.TaskContext) -> dict[str, Any]:
            if data["n"] < 0:
                raise cadenza.TerminalError("negative")
            if ctx.attempt == 0:
                raise RuntimeError("first try fails")
            return {"n": data["n"] + ctx.attempt}

        b.worker("job", flaky)
        retried = await a.start("one", {"n": 10})
        refused = await a.start("one", {"n": -1})
        with anyio.fail_after(30):
            done = await a.wait(retried)
        assert (done.status, done.output) == ("COMPLETED", {"result": 11})
        assert [t.status for t in done.tasks] == ["FAILED", "COMPLETED"]
        assert done.tasks[0].reason == "RuntimeError: first try fails"
        error = done.tasks[0].error  # the traceback crossed the inbox to a (was dropped)
        assert error is not None
        assert error.startswith("Traceback")
        assert "in flaky" in error
        with anyio.fail_after(30):
            ended = await a.wait(refused)
        assert ended.status == "FAILED"
        assert [t.status for t in ended.tasks] == ["FAILED_WITH_TERMINAL_ERROR"]
        assert ended.tasks[0].reason == "negative"


async def test_local_tasks_go_first_and_pulls_fill_idle_slots(
    pg_url: str, clock: VirtualClock
) -> None:
    """b's one slot runs b's own task; b's second own task waits locally and a's task waits
    in the shared queue: when the slot frees it takes b's own task, then pulls a's."""
    async with two_processes(pg_url, clock) as (a, b):
        gate = anyio.Event()
        busy = anyio.Event()
        order: list[str] = []

        async def job(data: dict[str, Any], ctx: cadenza.TaskContext) -> dict[str, Any]:
            order.append(ctx.run_id)
            busy.set()
            await gate.wait()
            return {"n": data["n"]}

        b.worker("job", job, concurrency=1)
        first = await b.start("one", {"n": 1})
        with anyio.fail_after(10):
            await busy.wait()
        second = await b.start("one", {"n": 2})
        remote = await a.start("one", {"n": 3})
        await a.settle()
        assert [r[0].startswith(remote) for r in await queue_rows(pg_url)] == [True]
        await pullers(b).pull()  # the slot is busy: nothing pulled
        assert pullers(b).pulled == 0
        gate.set()
        for run_id in (first, second, remote):
            with anyio.fail_after(30):
                assert (await a.wait(run_id)).status == "COMPLETED"
        assert order == [first, second, remote]


async def test_a_puller_killed_mid_task_lets_its_lease_lapse_and_the_task_is_retried(
    pg_url: str, clock: VirtualClock
) -> None:
    """A real process pulls a's task and hangs in it; it is SIGKILLed. Its lease runs out
    (moved on the database's clock); b, which registers a worker afterwards, reaps it, a
    times the attempt out and retries it, and b's pull of the retry completes the run."""
    taskdef = {"retryCount": 1, "retryDelaySeconds": 0, "responseTimeoutSeconds": 600}
    async with two_processes(pg_url, clock, taskdef) as (a, b):
        run_id = await a.start("one", {"n": 7})
        await a.settle()
        child = _spawn_puller(pg_url)
        try:
            assert child.stdout is not None
            stdout = child.stdout
            lines = [await anyio.to_thread.run_sync(stdout.readline) for _ in range(3)]
            got = lines[-1].decode().strip()
            assert got.startswith(f"got {run_id}"), lines
            rows = await queue_rows(pg_url)
            assert [(f"got {r[0]}", r[1] is not None) for r in rows] == [(got, True)]
            child.kill()  # SIGKILL, mid-task
            child.wait()
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
            if child.stdout is not None:
                child.stdout.close()
        await expire_queue_leases(pg_url)

        async def job(data: dict[str, Any]) -> dict[str, Any]:
            return {"n": data["n"] * 3}

        b.worker("job", job)
        with anyio.fail_after(60):
            done = await a.wait(run_id)
        assert (done.status, done.output) == ("COMPLETED", {"result": 21})
        assert [t.status for t in done.tasks] == ["TIMED_OUT", "COMPLETED"]
        await a.settle()
        await b.settle()
        assert await queue_rows(pg_url) == []


async def test_a_post_is_heard_by_a_listener_on_another_connection(pg_url: str) -> None:
    """Posting tasks sends one NOTIFY per push; a `listen`ing queue hears it."""
    from cadenza.persistence._postgres_queue import QueuedRow

    async with cadenza.Runtime(pg_url, lease_s=LEASE_S):  # makes the schema
        pass
    heard = anyio.Event()
    async with SharedQueue(pg_url) as poster, SharedQueue(pg_url) as listener:
        assert await listener.listen(heard.set)
        await poster.push([QueuedRow("t-1", "g", "x", 0, "r", {})])
        with anyio.fail_after(10):
            await heard.wait()


@pytest.mark.parametrize("served", [True, False])
async def test_a_worker_registered_later_starts_pulling_what_waits(
    pg_url: str, clock: VirtualClock, served: bool
) -> None:
    """Tasks posted before any process served the type wait; a worker registered on b
    afterwards pulls them (or, in another group, does not)."""
    async with two_processes(pg_url, clock) as (a, b):
        run_id = await a.start("one", {"n": 5})
        await a.settle()

        async def job(data: dict[str, Any]) -> dict[str, Any]:
            return {"n": data["n"]}

        b.worker("job", job, group=None if served else "elsewhere")
        if served:
            with anyio.fail_after(30):
                assert (await a.wait(run_id)).output == {"result": 5}
        else:
            await b.settle()
            await pullers(b).pull()
            assert pullers(b).pulled == 0
            assert len(await queue_rows(pg_url)) == 1


class _Crash(BaseException):
    """Not an Exception: a crash of the worker, not a failure of its task."""


async def test_a_pulled_tasks_heartbeat_is_rt_heartbeat_and_a_crash_fails_the_attempt(
    pg_url: str, clock: VirtualClock
) -> None:
    """b pulls a's task: `ctx.heartbeat()` extends the row's lease; once the lease ran out
    (moved on the database's clock) it raises StaleTask, the attempt times out at a and
    its retry is pulled. Another run's first attempt crashes the worker: FAILED, retried."""
    taskdef = {"retryCount": 1, "retryDelaySeconds": 0, "responseTimeoutSeconds": 30}
    async with two_processes(pg_url, clock, taskdef) as (a, b):
        beat = anyio.Event()
        gate = anyio.Event()
        stale: list[str] = []

        async def job(data: dict[str, Any], ctx: cadenza.TaskContext) -> dict[str, Any]:
            if data["n"] == 2 and ctx.attempt == 0:
                raise _Crash("boom")
            if data["n"] == 1 and ctx.attempt == 0:
                await ctx.heartbeat()  # held: extended
                beat.set()
                await gate.wait()
                try:
                    await ctx.heartbeat()
                except cadenza.StaleTask:
                    stale.append(ctx.task_id)
                    raise
            return {"n": data["n"] * 10}

        pullers(b).watch.check_every_s = 3600.0  # the heartbeat meets the lapse, not b's check
        b.worker("job", job, concurrency=2)
        held_run = await a.start("one", {"n": 1})
        with anyio.fail_after(30):
            await beat.wait()
        await expire_queue_leases(pg_url)
        gate.set()
        crashed = await a.start("one", {"n": 2})
        with anyio.fail_after(60):
            done = await a.wait(held_run)
        assert (done.status, done.output) == ("COMPLETED", {"result": 10})
        assert [t.status for t in done.tasks] == ["TIMED_OUT", "COMPLETED"]
        assert stale == [done.tasks[0].id]
        with anyio.fail_after(60):
            again = await a.wait(crashed)
        assert (again.status, again.output) == ("COMPLETED", {"result": 20})
        assert [t.status for t in again.tasks] == ["FAILED", "COMPLETED"]
        assert again.tasks[0].reason == "worker crashed: _Crash: boom"
