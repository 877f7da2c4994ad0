"""Checks of the public calls' arguments, before anything is queued.

Each raises `InvalidArgument` naming the parameter, what was expected and
what was given (a bool is not accepted where a number is meant).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from cadenza._errors import InvalidArgument

PRIORITY_MAX = 99
ID_MAX = 1024  # characters in an id, name, key or reference


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def text(argument: str, value: Any) -> str:
    """A non-empty string of at most `ID_MAX` characters that SQLite and JSON can hold."""
    if not isinstance(value, str):
        raise InvalidArgument(argument, f"expected a string, got {type(value).__name__}")
    if not value or len(value) > ID_MAX:
        raise InvalidArgument(argument, f"expected 1 to {ID_MAX} characters, got {len(value)}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidArgument(
            argument, f"not valid text (a lone surrogate?): {_shown(value)}"
        ) from None
    return value


def optional_text(argument: str, value: Any) -> str | None:
    """`text`, or None."""
    return None if value is None else text(argument, value)


def integer(argument: str, value: Any, low: int, high: int) -> int:
    """An int (not a bool) from `low` to `high`."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(argument, f"expected an integer, got {type(value).__name__}")
    if not low <= value <= high:
        raise InvalidArgument(argument, f"expected an integer from {low} to {high}, got {value}")
    return value


def priority(value: Any) -> int:
    """A run's priority: 0 to 99, higher first."""
    return integer("priority", value, 0, PRIORITY_MAX)


def seconds(argument: str, value: Any, *, optional: bool = True) -> float | None:
    """A finite, non-negative number of seconds (or None when `optional`)."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidArgument(argument, f"expected seconds as a number, got {type(value).__name__}")
    if not math.isfinite(value) or value < 0:
        raise InvalidArgument(argument, f"expected finite, non-negative seconds, got {value!r}")
    return float(value)


def routes(argument: str, value: Any) -> dict[str, str] | None:
    """A map of task type to worker group, or None."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise InvalidArgument(
            argument, f"expected a dict of str to str, got {type(value).__name__}"
        )
    return {text(f"{argument} key", k): text(f"{argument}[{k!r}]", v) for k, v in value.items()}
