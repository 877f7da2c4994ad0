"""Checks of `rt.schedule(...)`'s and `rt.backfill(...)`'s arguments, before anything is queued.

Each raises `InvalidArgument` naming the parameter. Instants are a
`datetime` (a naive one is read in the schedule's zone) or epoch seconds.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from cadenza._errors import InvalidArgument
from cadenza._json import check_payload
from cadenza.core._cron import parse_cron, zone_of
from cadenza.core._schedules import OVERLAPS, ScheduleSpec
from cadenza.runtime import _arguments as check

EVERY_MIN_S = 0.001


def instant(argument: str, value: Any, zone: str = "UTC", *, optional: bool = True) -> float | None:
    """Epoch seconds from a `datetime` (naive: in `zone`) or a number."""
    if value is None and optional:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=zone_of(zone))
        stamp: float = value.timestamp()
        return stamp
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidArgument(
            argument, f"expected a datetime or epoch seconds, got {type(value).__name__}"
        )
    number = float(value)
    if not math.isfinite(number):
        raise InvalidArgument(argument, f"expected a finite instant, got {value!r}")
    return number


def schedule_spec(
    name: Any,
    workflow: Any,
    *,
    cron: Any,
    every_s: Any,
    input: Any,
    zone: Any,
    start_at: Any,
    end_at: Any,
    overlap: Any,
    catchup_window_s: Any,
    jitter_s: Any,
    paused: Any,
    priority: Any,
    now: float,
) -> ScheduleSpec:
    """The checked `ScheduleSpec` for `rt.schedule(...)`.

    Raises:
        InvalidArgument: naming the first bad argument (`cron` when both or
            neither of `cron` and `every_s` are given).
        PayloadError: `input` is not a JSON object.
    """
    check.text("name", name)
    check.text("workflow", workflow)
    if (cron is None) == (every_s is None):
        raise InvalidArgument("cron", "give exactly one of cron= and every_s=")
    zone_of(zone)
    expression = None if cron is None else parse_cron(cron)[0]
    every = None
    if every_s is not None:
        every = check.seconds("every_s", every_s, optional=False)
        if every is None or every < EVERY_MIN_S:
            raise InvalidArgument("every_s", f"expected at least {EVERY_MIN_S} s, got {every_s!r}")
    start = instant("start_at", start_at, zone)
    end = instant("end_at", end_at, zone)
    if start is not None and end is not None and end < start:
        raise InvalidArgument("end_at", f"ends ({end}) before start_at ({start})")
    if overlap not in OVERLAPS:
        raise InvalidArgument("overlap", f"expected one of {', '.join(OVERLAPS)}, got {overlap!r}")
    window = check.seconds("catchup_window_s", catchup_window_s, optional=False)
    jitter = check.seconds("jitter_s", jitter_s, optional=False)
    check.flag("paused", paused)
    check.priority(priority)
    return ScheduleSpec(
        name=name, workflow=workflow, cron=expression, every_s=every,
        input=check_payload("schedule input", input), zone=zone, start_at=start,
        end_at=end, overlap=overlap, catchup_window_s=window or 0.0,
        jitter_s=jitter or 0.0, priority=priority,
        anchor=start if start is not None else now,
    )  # fmt: skip
