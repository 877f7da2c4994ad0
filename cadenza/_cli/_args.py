"""Argument types of the `cadenza` command: a bad value is one line and exit code 2.

Each type raises `argparse.ArgumentTypeError` with what was expected and
what was given; `Parser.error` turns it into `UsageError`, which `main`
prints as one line (never argparse's usage block, never a traceback).
"""

from __future__ import annotations

import argparse
import json
import re
import time
from datetime import UTC, datetime
from typing import Any, NoReturn

from cadenza.core._status import WorkflowStatus

LIMIT_MAX = 100_000
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.IGNORECASE)
_UNIT_S = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
STATUSES = ", ".join(status.value for status in WorkflowStatus)


class UsageError(Exception):
    """A bad command line: `message` is the one line to print; the exit code is 2."""

    def __init__(self, prog: str, message: str):
        super().__init__(f"{prog}: {message} (see `{prog} --help`)")


class Parser(argparse.ArgumentParser):
    """argparse, but an error raises `UsageError` instead of printing usage and exiting."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(self.prog, message)


def status(text: str) -> str:
    """A workflow status, case-insensitive: `failed` is FAILED; anything else is refused."""
    wanted = text.strip().upper()
    if wanted not in WorkflowStatus.__members__:
        raise argparse.ArgumentTypeError(f"expected one of {STATUSES}, got {text!r}")
    return wanted


def limit(text: str) -> int:
    """How many runs to list: 1 to 100,000."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not 1 <= value <= LIMIT_MAX:
        raise argparse.ArgumentTypeError(f"expected 1 to {LIMIT_MAX:,}, got {value}")
    return value


def since(text: str, *, now: float | None = None) -> float:
    """A moment as Unix seconds: a duration back from now (`90s`, `15m`, `2h`, `7d`, `1w`)
    or an ISO 8601 date or time (`2026-12-06`, `2026-12-06T18:00:00+01:00`; UTC if no zone)."""
    found = _DURATION.match(text)
    if found:
        amount = float(found.group(1)) * _UNIT_S[found.group(2).lower()]
        return (time.time() if now is None else now) - amount
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a duration back from now (90s, 15m, 2h, 7d, 1w) or an ISO 8601 "
            f"date or time (2026-12-06, 2026-12-06T18:00:00Z), got {text!r}"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def json_object(text: str) -> dict[str, Any]:
    """A JSON object given on the command line (`'{"approved": true}'`)."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {text!r} ({exc})") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(
            f"expected a JSON object, got {type(value).__name__} {text!r}"
        )
    return value
