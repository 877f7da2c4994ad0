"""`cadenza bench simulation`: the deterministic simulation's speed, beside its bare loop.

For each start rate in `--rates`, `--seeds` seeds of the Conductor-like load
with every fault on and the checker on (`run_seed`, as `cadenza simulate`
runs them), each `--seconds` simulated seconds long. Figures per rate:
simulated seconds per wall second (the compression), runs simulated per
wall second, wall ms per simulated run. Ceiling per rate: the same
`Simulation` driving nothing but timers at the same event rate (a workflow
makes about twelve loop events: three tasks, each scheduled, polled,
started and completed) — the most any workload on this loop can reach on
this machine; plus the shared ceilings (a bare asyncio loop's rates).

A seed that finds a violation is reported in the figures, not raised: a
benchmark still prints its numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from cadenza.bench import _ceilings
from cadenza.bench._sizes import Size, positive_float
from cadenza.testing import Simulation
from cadenza.testing._simulation.sweep import run_seed

NAME = "simulation"
HELP = "simulated workflows per wall second vs the bare simulation loop"
EVENTS_PER_RUN = 12
SIZES = (
    Size("--seeds", 6, 1, "seeds per start rate"),
    Size("--seconds", 2.0, 0.3, "simulated seconds per seed", positive_float),
)


def _rates(text: str) -> list[float]:
    try:
        rates = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers like 9,90,900, got {text!r}") from None
    if not rates or any(not 0 < rate < float("inf") for rate in rates):
        raise argparse.ArgumentTypeError(f"expected start rates above 0, got {text!r}")
    return rates


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags beside the size flags."""
    parser.add_argument(
        "--rates",
        type=_rates,
        default=None,
        help="workflows started per simulated second, comma-separated "
        "(default: 9,90,900; with --tiny: 90)",
    )


def bare_loop(rate_per_s: float, seconds: float) -> float:
    """Compression of the simulation loop firing `rate_per_s` timers per simulated second."""
    sim = Simulation(0)
    gap = 1.0 / rate_per_s

    async def ticker() -> None:
        for _ in range(int(rate_per_s * seconds)):
            await asyncio.sleep(gap)

    wall = time.perf_counter()
    try:
        sim.run(ticker())
    finally:
        sim.close()
    return seconds / max(time.perf_counter() - wall, 1e-9)


def _workload(rate_per_s: float, seeds: int, seconds: float) -> dict[str, Any]:
    simulated = wall = 0.0
    runs = 0
    violations: list[str] = []
    for seed in range(seeds):
        result = run_seed(seed, duration_s=seconds, rate_per_s=rate_per_s, crashes_max=2)
        violations.extend(f"seed {seed}: {v}" for v in result.violations[:1])
        simulated += result.simulated_s
        wall += result.wall_s
        runs += result.runs
    wall = max(wall, 1e-9)
    return {
        "rate_per_s": rate_per_s,
        "seeds": seeds,
        "runs": runs,
        "compression": round(simulated / wall, 1),
        "runs_per_wall_s": round(runs / wall, 1),
        "wall_ms_per_run": round(1000 * wall / max(runs, 1), 3),
        "violations": violations,
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Each rate's seeds, then its bare loop, then the shared ceilings; see the module note."""
    rates = args.rates or ([90.0] if args.tiny else [9.0, 90.0, 900.0])
    figures = [_workload(rate, args.seeds, args.seconds) for rate in rates]
    ceilings: dict[str, Any] = {
        "bare_simulation_loop_compression": {
            str(rate): round(bare_loop(rate * EVENTS_PER_RUN, args.seconds), 1) for rate in rates
        }
    }
    ceilings.update(_ceilings.measure(0.02 if args.tiny else 1.0))
    return {"figures": {"rates": figures}, "ceilings": ceilings}
