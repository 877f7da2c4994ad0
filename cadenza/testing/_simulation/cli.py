"""The logic of `cadenza simulate`: sweep seeds of a workload, or replay one seed.

Design note
-----------
`cadenza.cli` parses the arguments and calls `run(args, console)`. A sweep
prints, per the issue: seeds run, simulated hours, time compression
(simulated / wall), each violation with its seed and a one-line replay
command, and one trace hash over every seed's hash (so a whole sweep can
be compared across commits). `--replay SEED` reruns one seed and prints the
tail of its readable trace (`sender|target|MessageType` per delivery).
"""

from __future__ import annotations

import argparse
import hashlib
import time
from typing import Any

from cadenza.testing._simulation.sweep import run_seed, run_seeds


def run(args: argparse.Namespace, console: Any) -> int:
    duration_s = float(args.hours) * 3600.0
    options: dict[str, Any] = {
        "workload": args.workload,
        "duration_s": duration_s,
        "rate_per_s": float(args.rate),
        "delay_max_s": float(args.delay_ms) / 1000.0,
        "crashes_max": int(args.crashes),
        "storm": int(args.storm),
    }
    if args.replay is not None:
        result = run_seed(int(args.replay), **options)
        for line in result.trace_tail[-int(args.trace_lines) :]:
            console.print(line, markup=False, highlight=False)
        console.print(
            f"seed {result.seed}: {result.simulated_s:.1f} simulated s, {result.runs} runs, "
            f"{result.crashes} crashes, {result.deliveries} deliveries, trace {result.trace_hash}"
        )
        for violation in result.violations:
            console.print(f"VIOLATION {violation}", markup=False)
        return 1 if result.violations else 0
    combined = hashlib.sha256()
    wall = time.perf_counter()
    simulated = 0.0
    found = 0
    first = int(args.first_seed)
    runs = 0
    for result in run_seeds(range(first, first + int(args.seeds)), int(args.jobs), options):
        seed = result.seed
        runs += result.runs
        simulated += result.simulated_s
        combined.update(result.trace_hash.encode())
        for violation in result.violations:
            found += 1
            console.print(
                f"VIOLATION seed {seed}: {violation}\n  replay: cadenza simulate "
                f"--workload {args.workload} --hours {args.hours} --rate {args.rate} "
                f"--delay-ms {args.delay_ms} --crashes {args.crashes} --storm {args.storm} "
                f"--replay {seed}",
                markup=False,
            )
    wall = time.perf_counter() - wall
    console.print(
        f"workload {args.workload}: {args.seeds} seeds, {runs} runs, "
        f"{simulated / 3600:.3f} simulated hours in {wall:.1f} s wall ({args.jobs} jobs), "
        f"compression {simulated / wall:.1f}x, {found} violations, trace {combined.hexdigest()}"
    )
    return 1 if found else 0
