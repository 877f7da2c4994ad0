"""WAIT task inputs, parsed as Conductor does.

- `duration`: "2 seconds", "1d 2h 3m 4s", "30m" — a sequence of
  `<number> <unit>` with units days/day/d, hours/hour/hrs/hr/h,
  minutes/minute/mins/min/m, seconds/second/secs/sec/s.
- `until`: "yyyy-MM-dd HH:mm", "yyyy-MM-dd HH:mm z", "yyyy-MM-dd". The zone
  `z` is an IANA name (`Europe/Paris`), `UTC`/`GMT`/`Z`, or an offset
  (`+02:00`); without one, UTC (Conductor uses its server's zone — an
  embedded engine has no better default than UTC, so say the zone).
- neither: the task waits for `Runtime.signal`;
- both, or a value that does not parse, or a deadline beyond float range
  ("9999…9 days"): the task fails FAILED_WITH_TERMINAL_ERROR with a reason
  naming the value (never the run's actor).
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_UNITS = {
    **dict.fromkeys(("days", "day", "d"), 86400.0),
    **dict.fromkeys(("hours", "hour", "hrs", "hr", "h"), 3600.0),
    **dict.fromkeys(("minutes", "minute", "mins", "min", "m"), 60.0),
    **dict.fromkeys(("seconds", "second", "secs", "sec", "s"), 1.0),
}
_PART = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]+)\s*")
_OFFSET = re.compile(r"^([+-])(\d{2}):?(\d{2})$")


class WaitInputError(ValueError):
    """A WAIT task's input cannot be understood; the message names the value."""


def parse_duration(text: str) -> float:
    """Seconds in a Conductor duration string; `WaitInputError` if it does not parse."""
    position = 0
    total = 0.0
    matched = False
    while position < len(text):
        part = _PART.match(text, position)
        if part is None or part.group(2).lower() not in _UNITS:
            raise WaitInputError(f"duration {text!r} is not like '1d 2h 3m 4s' or '30 seconds'")
        total += float(part.group(1)) * _UNITS[part.group(2).lower()]
        position = part.end()
        matched = True
    if not matched:
        raise WaitInputError(f"duration {text!r} is empty")
    return total


def _zone(name: str) -> Any:
    if name.upper() in ("UTC", "GMT", "Z"):
        return UTC
    offset = _OFFSET.match(name)
    if offset is not None:
        sign = -1 if offset.group(1) == "-" else 1
        return timezone(sign * timedelta(hours=int(offset.group(2)), minutes=int(offset.group(3))))
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise WaitInputError(f"unknown time zone {name!r}") from None


def parse_until(text: str) -> float:
    """Epoch seconds of a Conductor `until` string; `WaitInputError` if it does not parse."""
    stripped = text.strip()
    for layout, width in (("%Y-%m-%d %H:%M", 16), ("%Y-%m-%d", 10)):
        head, rest = stripped[:width], stripped[width:].strip()
        try:
            moment = datetime.strptime(head, layout)
        except ValueError:
            continue
        if layout == "%Y-%m-%d" and rest:
            continue
        zone = _zone(rest) if rest else UTC
        return moment.replace(tzinfo=zone).timestamp()
    raise WaitInputError(
        f"until {text!r} is not 'yyyy-MM-dd HH:mm', 'yyyy-MM-dd HH:mm z' or 'yyyy-MM-dd'"
    )


def wait_deadline(task_input: dict[str, Any], now: float) -> float | None:
    """When a WAIT task with this input wakes (None: at a signal); `WaitInputError`."""
    duration = task_input.get("duration")
    until = task_input.get("until")
    if duration is not None and until is not None:
        raise WaitInputError("a WAIT task takes 'duration' or 'until', not both")
    if duration is not None:
        if isinstance(duration, bool) or not isinstance(duration, (str, int, float)):
            raise WaitInputError(f"duration {duration!r} is not a string")
        try:
            seconds = float(duration) if not isinstance(duration, str) else parse_duration(duration)
        except OverflowError:  # an int past float range
            seconds = math.inf
        deadline = now + seconds
        if not math.isfinite(deadline):
            shown = repr(duration) if len(repr(duration)) <= 60 else repr(duration)[:57] + "..."
            raise WaitInputError(f"duration {shown} is beyond the range of a deadline")
        return deadline
    if until is not None:
        if not isinstance(until, str):
            raise WaitInputError(f"until {until!r} is not a string")
        return parse_until(until)
    return None
