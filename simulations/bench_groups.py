"""Moved into the package: `cadenza bench groups` (cadenza/bench/_groups.py).

This wrapper runs it with the same flags, for old habits and scripts:
`python simulations/bench_groups.py --tiny` is `cadenza bench groups --tiny`.
See `cadenza bench groups --help` and docs/benchmarks.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # a checkout without an install

from cadenza.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["bench", "groups", *sys.argv[1:]]))
