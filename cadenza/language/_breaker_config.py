"""A TaskDef's `circuitBreaker` configuration: its wire schema is the value.

Design note
-----------
::

    "circuitBreaker": {"failureRateThreshold": 50,   # percent, 0 < x <= 100
                       "minimumCalls": 10,           # outcomes before the rate counts
                       "windowSize": 20,             # the last N outcomes (count-based)
                       "openSeconds": 30,            # cool-down while open
                       "halfOpenProbes": 3}          # tasks let through to test it

`circuitBreaker` is cadenza's, not Conductor's, so an unknown key in it is
refused (a misspelt setting would otherwise be silently off). The
breaker's transitions are in `cadenza/dispatch/_breaker.py`.
"""

from __future__ import annotations

import math
from typing import Annotated

import msgspec

WINDOW_MAX = 10_000  # a longer window is a configuration mistake, not a need


class BreakerConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, rename="camel"):
    """A TaskDef's `circuitBreaker`, validated as it is decoded."""

    failure_rate_pct: Annotated[float, msgspec.Meta(gt=0, le=100)] = msgspec.field(
        default=50.0, name="failureRateThreshold"
    )
    minimum_calls: Annotated[int, msgspec.Meta(ge=1)] = 0  # 0: 10, or the window if smaller
    window_size: Annotated[int, msgspec.Meta(ge=1, le=WINDOW_MAX)] = 20
    open_s: Annotated[float, msgspec.Meta(gt=0)] = msgspec.field(default=30.0, name="openSeconds")
    half_open_probes: Annotated[int, msgspec.Meta(ge=1)] = 1

    def __post_init__(self) -> None:
        if self.minimum_calls == 0:
            msgspec.structs.force_setattr(self, "minimum_calls", min(10, self.window_size))
        if self.minimum_calls > self.window_size:
            raise ValueError(
                f"minimumCalls ({self.minimum_calls}) must not exceed windowSize"
                f" ({self.window_size}): the breaker could never open"
            )
        if math.isinf(self.open_s):
            raise ValueError("openSeconds must be finite")
