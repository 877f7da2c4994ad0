"""`cadenza bench NAME`: run one of the packaged benchmarks and print its JSON report.

The benchmarks themselves live in `cadenza.bench`; this module only adds
their subcommands to the parser and prints what they measure (JSON on
stdout, nothing else, so the output can be piped to `jq`).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from cadenza import bench


def add_parser(commands: Any) -> None:
    """`bench` and one subcommand per benchmark, each with its flags."""
    top = commands.add_parser(
        "bench", help="benchmarks, each beside this machine's ceilings (JSON)"
    )
    names = top.add_subparsers(dest="benchmark", required=True, metavar="BENCHMARK")
    for name, module in bench.BENCHMARKS.items():
        parser = names.add_parser(name, help=module.HELP, description=module.__doc__)
        parser.formatter_class = argparse.RawDescriptionHelpFormatter
        bench.add_arguments(name, parser)


def run(args: argparse.Namespace) -> int:
    """Run the benchmark `args` names; print its report as JSON; exit code 0."""
    json.dump(bench.report(args.benchmark, args), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0
