"""The cost of metrics on `cadenza bench throughput`: metrics on against off, same run.

Runs the throughput benchmark (three-step workflows, no-op local workers,
durability "full") in pairs, alternating which goes first, each run in a
fresh runtime and journal in this process, so drift of the machine (other
processes on shared cores) falls on both sides alike. Prints one JSON
object: for every run its workflows/s and its CPU ms per workflow (this
process's CPU time: what metrics cost, and far less disturbed by other
processes than wall time), the median of each side, and the overhead of
metrics on — median(on) / median(off) - 1 in CPU per workflow, and
1 - median(on) / median(off) in workflows/s — with the per-pair
overheads (their spread is the noise floor). The bar is overhead <= 10 %.

    .venv/bin/python benchmarks/bench_metrics_overhead.py --pairs 5 --workflows 2000
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cadenza.bench._throughput import measure


async def bench(workflows: int, callers: int, concurrency: int, metrics: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(dir=os.environ.get("CADENZA_BENCH_DIR")) as tmp:
        return await measure(
            os.path.join(tmp, "bench.db"),
            workflows=workflows,
            callers=callers,
            concurrency=concurrency,
            metrics=metrics,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--workflows", type=int, default=2000)
    parser.add_argument("--starters", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    runs: dict[str, list[float]] = {"on": [], "off": []}
    cpu: dict[str, list[float]] = {"on": [], "off": []}
    pair_overheads: list[float] = []
    pair_cpu_overheads: list[float] = []
    for pair in range(args.pairs):
        order = ("on", "off") if pair % 2 == 0 else ("off", "on")
        got: dict[str, float] = {}
        got_cpu: dict[str, float] = {}
        for side in order:
            result: dict[str, Any] = anyio.run(
                bench, args.workflows, args.starters, args.concurrency, side == "on"
            )
            got[side] = result["workflows_per_s"]
            got_cpu[side] = result["cpu_ms_per_workflow"]
            runs[side].append(got[side])
            cpu[side].append(got_cpu[side])
        pair_overheads.append(round(1 - got["on"] / got["off"], 4))
        pair_cpu_overheads.append(round(got_cpu["on"] / got_cpu["off"] - 1, 4))
    on, off = statistics.median(runs["on"]), statistics.median(runs["off"])
    cpu_on, cpu_off = statistics.median(cpu["on"]), statistics.median(cpu["off"])
    print(
        json.dumps(
            {
                "workflows_per_run": args.workflows,
                "pairs": args.pairs,
                "cpus": os.cpu_count(),
                "workflows_per_s": runs,
                "median_on": on,
                "median_off": off,
                "overhead": round(1 - on / off, 4),
                "pair_overheads": pair_overheads,
                "cpu_ms_per_workflow": cpu,
                "median_cpu_on": cpu_on,
                "median_cpu_off": cpu_off,
                "cpu_overhead": round(cpu_on / cpu_off - 1, 4),
                "pair_cpu_overheads": pair_cpu_overheads,
                "bar": 0.10,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
