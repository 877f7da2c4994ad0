"""A supervised restart of the timer service keeps every pending timer.

The service's heap lives outside its actor instance (`TimerState`, made by
whoever spawns it, as a worker group's `GroupState`), so a crash costs at most
the one entry whose delivery failed: every WAIT, retry delay and delayed
enqueue still fires, on time and never early.
"""

from __future__ import annotations

from typing import Any

import cadenza
from cadenza.actors import ActorSystem, Strategy, VirtualClock
from cadenza.dispatch._timers import Arm, TimerService, TimerState
from tests._logs import capture_logs
from tests.timers.test_parked_reads import pending_timers
from tests.timers.test_timer_service import Recorder
from tests.timers.test_wait_and_timeouts import one_task, waiting


class Exploding:
    """A target whose delivery fails: the timer service crashes handing it its message."""

    async def tell(self, message: Any) -> None:
        raise RuntimeError(f"injected: delivering {message!r} failed")


async def test_a_restart_keeps_the_heap_and_arms_the_earliest_again() -> None:
    """Entries armed before the crash and in the crashing batch all fire at their deadlines."""
    clock = VirtualClock(start=100.0)
    seen: list[tuple[str, float]] = []
    state = TimerState()
    async with ActorSystem(clock=clock) as system:
        clock.attach(system.quiescent)
        services = system.supervisor("services", strategy=Strategy.ONE_FOR_ONE)
        timers = services.spawn(lambda: TimerService(clock, state=state), name="timers")
        target = system.spawn(lambda: Recorder(clock, seen, []), name="target")
        for when, label in ((110.0, "b"), (105.0, "a"), (130.0, "c")):
            await timers.tell(Arm(when, target, label))
        await system.quiescent()
        with capture_logs() as logs:
            timers.tell_nowait(Arm(100.0, Exploding(), "boom"))  # due now: the batch crashes
            timers.tell_nowait(Arm(120.0, target, "in-the-crashing-batch"))
            await system.quiescent()
        assert [e["actor"] for e in logs if e["event"] == "actor.restarted"] == ["timers"]
        assert state.pending() == 4
        await clock.advance(4.999)
        assert seen == []
        await clock.advance(40)
        clock.detach(system.quiescent)
    assert [label for label, _ in seen] == ["a", "b", "in-the-crashing-batch", "c"]
    due = {"a": 105.0, "b": 110.0, "in-the-crashing-batch": 120.0, "c": 130.0}
    assert [at for _, at in seen] == [due[label] for label, _ in seen]  # each on time, none early
    assert state.pending() == 0


async def test_waits_and_a_retry_delay_survive_a_crash_of_the_timer_service(
    rt: cadenza.Runtime, clock: VirtualClock
) -> None:
    """Crash the runtime's timer service: its supervisor restarts it, nothing pending is lost."""
    await rt.register(waiting(wait_input={"duration": "${workflow.input.wait}"}))
    await rt.register(one_task())
    await rt.register_task({"name": "work", "retryCount": 1, "retryDelaySeconds": 30})
    waits = {seconds: await rt.start("waiting", {"wait": seconds}) for seconds in (60, 90, 3600)}
    retried = await rt.start("one")
    task = await rt.poll("work")
    assert task is not None
    await rt.fail(task.id, "try again in 30 s")
    await rt.settle()
    assert pending_timers(rt) == 4  # three WAITs and the retry's delayed enqueue
    with capture_logs() as logs:
        await rt._engine._timers.tell(Arm(clock.now(), Exploding(), "boom"))
        await rt.settle()
    assert [e["actor"] for e in logs if e["event"] == "actor.restarted"] == ["timers"]
    assert pending_timers(rt) == 4

    await clock.advance(29.999)
    assert await rt.poll("work") is None
    await clock.advance(0.001)
    again = await rt.poll("work")
    assert again is not None
    assert again.id == f"{retried}-1"  # the retry, not the failed attempt
    await rt.complete(again.id, {})
    assert (await rt.get(retried)).status == "COMPLETED"

    for seconds, elapsed in ((60, 30), (90, 60), (3600, 90)):
        await clock.advance(seconds - elapsed - 0.001)
        assert (await rt.get(waits[seconds])).tasks[0].status == "IN_PROGRESS"
        await clock.advance(0.001)
        run = await rt.get(waits[seconds])
        assert [t.status for t in run.tasks] == ["COMPLETED", "SCHEDULED"]
        assert run.tasks[0].ended_at == clock.now()
    assert pending_timers(rt) == 0
