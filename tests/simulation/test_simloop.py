"""The simulation loop: virtual time, seeded interleavings, the synchronous step API."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import cadenza
from cadenza.persistence import MemoryJournal
from cadenza.testing import SimDeadlock, SimTimeout, Simulation
from tests.conftest import three_steps


def _order(seed: int, count: int = 8) -> list[int]:
    sim = Simulation(seed)
    seen: list[int] = []

    async def one(index: int) -> None:
        await asyncio.sleep(0)
        seen.append(index)

    async def main() -> None:
        await asyncio.gather(*(one(i) for i in range(count)))

    sim.run(main())
    sim.close()
    return seen


def test_one_seed_gives_one_interleaving() -> None:
    """Running the same tasks twice under one seed yields the same order."""
    for seed in range(5):
        assert _order(seed) == _order(seed)


def test_different_seeds_give_different_interleavings() -> None:
    """Across 10 seeds the ready batch is shuffled into more than one order."""
    orders = {tuple(_order(seed)) for seed in range(10)}
    assert len(orders) > 5


def test_time_jumps_to_the_next_deadline_when_nothing_is_ready() -> None:
    """An hour's sleep costs no wall time and ends exactly an hour later."""
    sim = Simulation(1)
    start = sim.now()

    async def nap() -> float:
        await asyncio.sleep(3600)
        return asyncio.get_running_loop().time()

    assert sim.run(nap()) == 3600.0
    assert sim.now() == start + 3600.0
    sim.close()


def test_run_until_idle_never_moves_time_and_advance_fires_in_order() -> None:
    """Timers fire at their deadlines in deadline order; run_until_idle leaves time alone."""
    sim = Simulation(2)
    fired: list[tuple[str, float]] = []
    for name, when in (("late", 5.0), ("early", 1.0), ("middle", 2.5)):
        sim.clock.call_at(sim.now() + when, lambda n=name: fired.append((n, sim.time)))
    sim.run_until_idle()
    assert sim.time == 0.0
    assert fired == []
    sim.advance(3.0)
    assert fired == [("early", 1.0), ("middle", 2.5)]
    assert sim.time == 3.0
    sim.advance(10.0)
    assert fired[-1] == ("late", 5.0)
    assert sim.time == 13.0
    sim.close()


def test_step_reports_when_nothing_is_left_to_do() -> None:
    """step() is False on an empty loop, and run() of a stuck coroutine is a deadlock."""
    sim = Simulation(3)
    assert sim.step() is False

    async def stuck() -> None:
        await asyncio.Event().wait()

    with pytest.raises(SimDeadlock):
        sim.run(stuck())

    async def slow() -> None:
        await asyncio.sleep(100)

    with pytest.raises(SimTimeout):
        sim.run(slow(), timeout_s=10)
    assert sim.time == 10.0
    sim.close()


def test_the_runtime_runs_three_step_workflows_on_the_simulation() -> None:
    """A Runtime on the sim clock and an in-memory journal completes runs with local workers."""
    sim = Simulation(4)

    async def main() -> list[tuple[str, object]]:
        rt = cadenza.Runtime(clock=sim.clock, seed=4, journal=MemoryJournal())

        async def inc(data: dict[str, object]) -> dict[str, object]:
            await asyncio.sleep(0.25)
            return {"n": int(str(data["n"])) + 1}

        for task_type in ("step_a", "step_b", "step_c"):
            rt.worker(task_type, inc, concurrency=2)
        async with rt:
            await rt.register(three_steps())
            ids = [await rt.start("three_steps", {"n": i}) for i in range(4)]
            runs = [await rt.wait(run_id, timeout=60) for run_id in ids]
        return [(run.status.value, run.output.get("result")) for run in runs]

    assert sim.run(main(), timeout_s=120) == [("COMPLETED", n + 3) for n in range(4)]
    # two slots per step type, four runs: a pipeline of four 0.25 s phases
    assert sim.time == pytest.approx(1.0)
    sim.close()


def test_cadenza_testing_exports_the_simulation_beside_the_virtual_clock() -> None:
    """The simulation's public names live in `cadenza.testing`, next to `VirtualClock`."""
    import cadenza.testing

    assert set(cadenza.testing.__all__) == {
        "SimClock",
        "SimDeadlock",
        "SimLoop",
        "SimTimeout",
        "Simulation",
        "VirtualClock",
    }


def test_the_simulation_loop_stands_in_the_kernel_alone() -> None:
    """`_simloop` imports nothing from the runtime or the journal (the kernel's layering)."""
    import cadenza.actors._simloop as simloop

    source = Path(simloop.__file__).read_text(encoding="utf-8")
    assert "cadenza.runtime" not in source
    assert "cadenza.persistence" not in source


def test_held_callbacks_wait_while_time_moves_on_and_run_once_released() -> None:
    """A context the loop holds (a paused process) runs nothing, its timers included, until
    released; the others run on and time jumps past the held deadlines."""
    import contextvars

    tag: contextvars.ContextVar[str] = contextvars.ContextVar("tag", default="")
    sim = Simulation(1)
    seen: list[tuple[str, float]] = []
    sim.loop.hold = lambda handle: (
        getattr(handle, "_context", None) is not None
        and (
            handle._context.get(tag) == "paused"  # type: ignore[attr-defined]
        )
    )

    async def ticker(name: str) -> None:
        for _ in range(3):
            await asyncio.sleep(1.0)
            seen.append((name, sim.time))

    paused = contextvars.copy_context()
    paused.run(tag.set, "paused")
    stopped = sim.spawn(ticker("stopped"), context=paused)
    running = sim.spawn(ticker("running"))
    sim.wait(running)
    assert seen == [("running", 1.0), ("running", 2.0), ("running", 3.0)]
    assert sim.loop.held  # the paused task's first step, set aside
    sim.advance(2.0)
    assert not stopped.done()
    sim.loop.hold = None
    assert sim.loop.release_held() > 0
    sim.wait(stopped)
    # held from its very first step: it starts at the release (t=5), a second a tick
    assert [at for name, at in seen if name == "stopped"] == [6.0, 7.0, 8.0]
    sim.close()
