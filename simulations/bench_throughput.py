"""Moved into the package: `cadenza bench throughput` (cadenza/bench/_throughput.py).

This wrapper runs it with the same flags, for old habits and scripts:
`python simulations/bench_throughput.py --tiny` is `cadenza bench throughput --tiny`.
See `cadenza bench throughput --help` and docs/benchmarks.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # a checkout without an install

from cadenza.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["bench", "throughput", *sys.argv[1:]]))
