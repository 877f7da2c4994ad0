"""Restart intensity: how many restarts within a period are too many.

One rule for every place that restarts something after a crash (a
supervisor's children, an entity of a pool, a local worker's slots), the
one Erlang/OTP's `supervisor` defines: *if more than `max_restarts`
restarts occur within `period_s` seconds, give up*. So exactly
`max_restarts` restarts within the period are allowed, one more escalates;
`max_restarts=0` gives up on the first crash.

"Within the period" is OTP's: a restart counts while it is at most
`period_s` old, the boundary included (OTP's `add_restart` keeps the
restarts `R >= Now - Period`, then compares their count, the new one
included, with `=< Intensity`). Times come from the caller's clock.
"""

from __future__ import annotations

from collections import deque


class RestartWindow:
    """The restarts of the last `period_s` seconds; `record` says when they are too many.

    `record(now)` counts a restart at `now` and returns True when that makes
    more than `max_restarts` within `period_s` (the caller gives up). The
    restart is counted either way, as OTP does.
    """

    __slots__ = ("_times", "max_restarts", "period_s")

    def __init__(self, max_restarts: int, period_s: float):
        if max_restarts < 0:
            raise ValueError(f"max_restarts must be >= 0, not {max_restarts}")
        if not period_s > 0:
            raise ValueError(f"period_s must be > 0, not {period_s}")
        self.max_restarts = max_restarts
        self.period_s = period_s
        self._times: deque[float] = deque()

    def __repr__(self) -> str:
        return f"<RestartWindow {len(self._times)}/{self.max_restarts} in {self.period_s:g} s>"

    def __len__(self) -> int:
        """The restarts counted so far and not yet expired by a `record` or `count`."""
        return len(self._times)

    def record(self, now: float) -> bool:
        """Count a restart at `now`; True if that is more than `max_restarts` within the period."""
        self._times.append(now)
        return self.count(now) > self.max_restarts

    def count(self, now: float) -> int:
        """How many restarts are at most `period_s` old at `now`; older ones are forgotten."""
        times = self._times
        oldest = now - self.period_s
        while times and times[0] < oldest:
            times.popleft()
        return len(times)

    def clear(self) -> None:
        """Forget every restart (the restarted thing starts with a clean history)."""
        self._times.clear()
