"""The timers section: the last firings' lateness, kept by the timer service for the dashboard."""

from __future__ import annotations

from typing import Any

import httpx

import cadenza
from cadenza.actors import Actor, ActorSystem, VirtualClock
from cadenza.dispatch._timers import LATENESS_KEPT, Arm, TimerService, TimerState


class Sink(Actor[Any]):
    async def receive_batch(self, messages: list[Any]) -> None:
        return None


async def test_each_firing_keeps_how_late_it_was_and_only_the_last_ones() -> None:
    clock = VirtualClock(start=100.0)
    state = TimerState()
    async with ActorSystem(clock=clock) as system:
        clock.attach(system.quiescent)
        timers = system.spawn(lambda: TimerService(clock, state=state), name="timers")
        sink = system.spawn(Sink, name="sink")
        await timers.tell(Arm(97.5, sink, "overdue"))  # armed 2.5 s after its deadline
        await timers.tell(Arm(104.0, sink, "on time"))
        await clock.advance(10)
        assert list(state.lateness) == [2.5, 0.0]
        for n in range(LATENESS_KEPT + 5):
            await timers.tell(Arm(clock.now() - n, sink, n))
        await clock.advance(1)
        assert len(state.lateness) == LATENESS_KEPT  # bounded: the oldest firings leave
        assert 2.5 not in state.lateness
        clock.detach(system.quiescent)


async def test_the_groups_page_shows_pending_timers_and_the_lateness_of_firings(
    ui: httpx.AsyncClient, flows: cadenza.Runtime, clock: VirtualClock
) -> None:
    await flows.register(
        {"name": "nap", "version": 1,
         "tasks": [{"name": "nap", "taskReferenceName": "nap", "type": "WAIT", "inputParameters": {"duration": "5 seconds"}}]}
    )  # fmt: skip
    run_id = await flows.start("nap", {})
    await flows.settle()
    before = (await ui.get("/ui/groups")).text
    assert '<dd id="timers-pending">1</dd>' in before
    assert '<dd id="timers-lateness">-</dd>' in before
    await clock.advance(5.0)
    assert (await flows.get(run_id)).status == "COMPLETED"
    after = (await ui.get("/ui/groups")).text
    assert '<dd id="timers-pending">0</dd>' in after
    assert "Lateness, last 1 firings" in after
    assert "last 0 ms · median 0 ms · worst 0 ms" in after  # the virtual clock fires on the dot


async def test_the_groups_page_says_when_each_worker_last_polled(
    ui: httpx.AsyncClient, flows: cadenza.Runtime, clock: VirtualClock
) -> None:
    await flows.poll("ui_a", worker_id="worker-early")
    await clock.advance(3.0)
    await flows.poll("ui_a", worker_id="worker-late")
    await flows.poll("ui_b", group="blue", worker_id="worker-blue")
    await flows.settle()
    page = (await ui.get("/ui/groups")).text
    assert 'data-worker="worker-early">worker-early: 3.0 s ago<' in page
    assert 'data-worker="worker-late">worker-late: 0 ms ago<' in page
    assert page.index("worker-late:") < page.index("worker-early:")  # the latest first
    assert 'data-group="blue"' in page
    assert 'data-worker="worker-blue"' in page


async def test_a_group_remembers_a_bounded_number_of_pollers(
    flows: cadenza.Runtime, clock: VirtualClock
) -> None:
    """Many short-lived worker ids cannot grow a group's memory: the oldest are forgotten."""
    from cadenza.dispatch._groups import POLLERS_KEPT

    for n in range(POLLERS_KEPT + 10):
        await flows.poll("ui_a", worker_id=f"w{n}")
        await clock.advance(0.001)
    await flows.settle()
    (state, _ref) = flows._engine._groups[flows._engine.default_group]
    assert len(state.polled) == POLLERS_KEPT
    assert ("ui_a", "w0") not in state.polled
    assert ("ui_a", f"w{POLLERS_KEPT + 9}") in state.polled
