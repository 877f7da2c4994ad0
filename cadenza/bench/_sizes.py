"""Size flags: each benchmark's `--workflows`, `--timers`, ... with a default and a `--tiny` value.

A size flag left out takes its default, or its tiny value under `--tiny`; a
flag given explicitly wins either way, so `--tiny --workflows 50` works. A
size that is not a positive number is refused by the parser with one line
naming the flag's expectation (`argparse.ArgumentTypeError`).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any


def positive_int(text: str) -> int:
    """A whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1, got {value}")
    return value


def positive_float(text: str) -> float:
    """A finite number above 0 (seconds, mostly)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number above 0, got {text!r}")
    return value


@dataclass(frozen=True)
class Size:
    """One size flag: `--flag`, its full-size default and its `--tiny` value."""

    flag: str
    default: float
    tiny: float
    help: str
    kind: Callable[[str], Any] = positive_int

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")


def add_sizes(parser: argparse.ArgumentParser, sizes: Sequence[Size]) -> None:
    """Add each size flag to `parser` (its default left as None until `resolve`)."""
    for size in sizes:
        parser.add_argument(
            size.flag,
            type=size.kind,
            default=None,
            help=f"{size.help} (default: {size.default:,}; with --tiny: {size.tiny:,})",
        )


def resolve(args: argparse.Namespace, sizes: Sequence[Size]) -> dict[str, Any]:
    """Fill every size flag left out (its tiny value under `args.tiny`); returns them all."""
    chosen: dict[str, Any] = {}
    for size in sizes:
        value = getattr(args, size.dest, None)
        if value is None:
            value = size.kind(str(size.tiny if args.tiny else size.default))
            setattr(args, size.dest, value)
        chosen[size.dest] = value
    return chosen
