"""When a schedule ticks: cron expressions (croniter) and fixed intervals, in a time zone.

Design note
-----------
A `Cadence` answers one question: the first tick strictly after an instant
(epoch seconds), within `[start_at, end_at]`. Cron expressions are parsed
by croniter: the classic 5 fields, or 6 with the seconds FIRST as Conductor,
Spring and Quartz write them (`"0 30 2 * * *"`: 02:30:00 every day). They
are evaluated in `zone` (an IANA name, via `zoneinfo`), so daylight-saving
changes follow croniter's rule: a local time that does not exist that day
(02:30 on a spring-forward night in New York) fires at the first instant
after the gap, and one that happens twice (01:30 on a fall-back night)
fires at both instants. An interval (`every_s`) ticks at `anchor + k *
every_s`, the anchor being `start_at` (or the schedule's creation time).

Every tick is an absolute instant, so a tick's identity — its time — does
not depend on when or how often it is computed.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadCronError, CroniterBadDateError, CroniterError, croniter

from cadenza._errors import InvalidArgument

CRON_SEARCH_YEARS = 50  # a cron that matches no date within this is refused


def zone_of(zone: str) -> ZoneInfo:
    """The `ZoneInfo` for an IANA name.

    Raises:
        InvalidArgument: `zone` names no time zone.
    """
    if not isinstance(zone, str) or not zone:
        raise InvalidArgument("zone", f"expected an IANA time zone name, got {zone!r}")
    try:
        return ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidArgument("zone", f"no time zone {zone!r} ({exc})") from None


def parse_cron(expression: str) -> tuple[str, bool]:
    """The expression normalised, and whether it has a seconds field (6 fields, seconds first).

    Raises:
        InvalidArgument: not 5 or 6 fields, or a field croniter refuses.
    """
    if not isinstance(expression, str):
        raise InvalidArgument("cron", f"expected a string, got {type(expression).__name__}")
    fields = expression.split()
    if len(fields) not in (5, 6):
        raise InvalidArgument(
            "cron",
            f"expected 5 fields (minute hour day month weekday) or 6 with seconds first, "
            f"got {len(fields)} in {expression!r}",
        )
    normal = " ".join(fields)
    seconds = len(fields) == 6
    try:
        croniter(normal, datetime(2000, 1, 1, tzinfo=UTC), second_at_beginning=seconds)
    except (CroniterBadCronError, CroniterError, ValueError, KeyError) as exc:
        raise InvalidArgument("cron", f"{expression!r} is not a cron expression: {exc}") from None
    return normal, seconds


@dataclass(frozen=True, slots=True)
class Cadence:
    """A schedule's ticks: exactly one of `cron` and `every_s`; see the module note."""

    cron: str | None
    every_s: float | None
    zone: str = "UTC"
    anchor: float = 0.0  # every_s: ticks at anchor + k * every_s
    start_at: float | None = None
    end_at: float | None = None

    def after(self, instant: float) -> float | None:
        """The first tick strictly after `instant` and at or after `start_at`; None past `end_at`."""
        if self.start_at is not None and instant < self.start_at:
            instant = math.nextafter(self.start_at, -math.inf)  # start_at itself may tick
        tick = (
            self._interval_after(instant) if self.every_s is not None else self._cron_after(instant)
        )
        if tick is None or (self.end_at is not None and tick > self.end_at):
            return None
        return tick

    def between(self, first: float, last: float, limit: int) -> list[float]:
        """The ticks in `[first, last]`, in order, at most `limit` of them."""
        ticks: list[float] = []
        tick = self.after(math.nextafter(first, -math.inf))
        while tick is not None and tick <= last and len(ticks) < limit:
            ticks.append(tick)
            tick = self.after(tick)
        return ticks

    def _interval_after(self, instant: float) -> float:
        every = self.every_s
        assert every is not None
        k = math.floor((instant - self.anchor) / every) + 1
        tick = self.anchor + k * every
        while tick <= instant:  # float rounding
            k += 1
            tick = self.anchor + k * every
        return tick

    def _cron_after(self, instant: float) -> float | None:
        expression = self.cron
        assert expression is not None
        seconds = len(expression.split()) == 6
        # croniter counts in whole seconds: from the second at or before `instant`, the
        # next match is strictly after that second, so strictly after `instant` too
        start = datetime.fromtimestamp(math.floor(instant), tz=zone_of(self.zone))
        try:
            found = croniter(
                expression,
                start,
                second_at_beginning=seconds,
                max_years_between_matches=CRON_SEARCH_YEARS,
            ).get_next(datetime)
        except CroniterBadDateError:
            return None  # no date matches (February 30th)
        return float(found.timestamp())


def tick_key(name: str, generation: int, tick: float) -> str:
    """The idempotency key of schedule `name`'s tick at `tick`: one run per tick, ever."""
    return f"schedule:{name}:{generation}@{tick:.6f}"


def jitter_of(name: str, tick: float, jitter_s: float) -> float:
    """A delay in `[0, jitter_s)` fixed by (schedule, tick): the same after any restart."""
    if jitter_s <= 0:
        return 0.0
    digest = hashlib.sha256(f"{name}@{tick:.6f}".encode()).digest()
    return jitter_s * (int.from_bytes(digest[:8], "big") / 2**64)
