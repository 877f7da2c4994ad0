"""Time compression of the deterministic simulation, beside the bare loop's in the same run.

Prints JSON: for each start rate, seeds of the Conductor-like load with
every fault on — simulated seconds per wall second (the compression), runs
simulated per wall second, and wall milliseconds per simulated run — and,
as the baseline, the same `Simulation` driving nothing but timers at the
same event rate (a workflow makes about twelve loop events: three tasks,
each scheduled, polled, started and completed), which is the ceiling any
workload on this loop can reach on this machine.

usage: python simulations/bench_simulation.py [--seeds 6] [--seconds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cadenza.testing import Simulation
from cadenza.testing._simulation.sweep import run_seed

EVENTS_PER_RUN = 12


def bare_loop(rate_per_s: float, seconds: float) -> float:
    """Compression of the simulation loop firing `rate_per_s` timers per simulated second."""
    sim = Simulation(0)
    gap = 1.0 / rate_per_s

    async def ticker() -> None:
        for _ in range(int(rate_per_s * seconds)):
            await asyncio.sleep(gap)

    wall = time.perf_counter()
    sim.run(ticker())
    wall = time.perf_counter() - wall
    sim.close()
    return seconds / wall


def workload(rate_per_s: float, seeds: int, seconds: float) -> dict[str, float]:
    simulated = wall = 0.0
    runs = 0
    for seed in range(seeds):
        result = run_seed(seed, duration_s=seconds, rate_per_s=rate_per_s, crashes_max=2)
        if result.violations:
            raise SystemExit(f"seed {seed}: {result.violations[0]}")
        simulated += result.simulated_s
        wall += result.wall_s
        runs += result.runs
    return {
        "rate_per_s": rate_per_s,
        "seeds": seeds,
        "runs": runs,
        "compression": round(simulated / wall, 1),
        "runs_per_wall_s": round(runs / wall, 1),
        "wall_ms_per_run": round(1000 * wall / max(runs, 1), 3),
        "bare_loop_compression": round(bare_loop(rate_per_s * EVENTS_PER_RUN, seconds), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    rows = [workload(rate, args.seeds, args.seconds) for rate in (9.0, 90.0, 900.0)]
    print(json.dumps({"simulation": rows}, indent=2))


if __name__ == "__main__":
    main()
