"""`cadenza bench`: benchmarks that ship with the package, each beside this machine's ceilings.

Absolute figures drift on a shared machine; each benchmark therefore
measures, in the same run, the ceilings it is held against (`_ceilings`:
raw sqlite3 `executemany` rows/s and single-row commits/s, `loop.call_at`
timer rate and lateness, a bare asyncio loop's message and callback rates)
and prints one JSON object:

    {"benchmark": ..., "tiny": ..., "sizes": {...}, "machine": {...},
     "figures": {...}, "ceilings": {...}}

One module per benchmark (`_throughput`, `_journal`, `_timers`, `_groups`,
`_simulation`), each with `NAME`, `HELP`, `SIZES` (its size flags, with a
full and a `--tiny` value), `add_arguments(parser)` and `run(args)`.
`cadenza._cli._bench` wires them into the command line.
"""

from __future__ import annotations

import argparse
from types import ModuleType
from typing import Any

from cadenza.bench import _groups, _journal, _simulation, _throughput, _timers
from cadenza.bench._figures import machine
from cadenza.bench._sizes import add_sizes, resolve

BENCHMARKS: dict[str, ModuleType] = {
    module.NAME: module for module in (_throughput, _journal, _timers, _groups, _simulation)
}

__all__ = ["BENCHMARKS", "add_arguments", "report"]


def add_arguments(name: str, parser: argparse.ArgumentParser) -> None:
    """Add benchmark `name`'s flags, its size flags and `--tiny` to `parser`."""
    benchmark = BENCHMARKS[name]
    parser.add_argument(
        "--tiny", action="store_true", help="every size tiny: a smoke run of a few seconds"
    )
    add_sizes(parser, benchmark.SIZES)
    benchmark.add_arguments(parser)


def report(name: str, args: argparse.Namespace) -> dict[str, Any]:
    """Run benchmark `name` with parsed `args`; its JSON-ready report (see the module note).

    Call it outside any event loop (each benchmark runs its own).
    """
    benchmark = BENCHMARKS[name]
    sizes = resolve(args, benchmark.SIZES)
    measured = benchmark.run(args)
    return {
        "benchmark": name,
        "tiny": bool(args.tiny),
        "sizes": sizes,
        "machine": machine(),
        "figures": measured["figures"],
        "ceilings": measured["ceilings"],
    }
