"""Circuit breakers: one per (worker group, task type), closed / open / half-open.

Design note — the transitions
-----------------------------
Configured by a TaskDef's `circuitBreaker` object (parsed here, so a bad
value is a `DefinitionError` naming the field)::

    "circuitBreaker": {"failureRateThreshold": 50,   # percent, 0 < x <= 100
                       "minimumCalls": 10,           # outcomes before the rate counts
                       "windowSize": 20,             # the last N outcomes (count-based)
                       "openSeconds": 30,            # cool-down while open
                       "halfOpenProbes": 3}          # tasks let through to test it

- **closed**: every outcome of a task handed out from the group (a completion,
  a failure, a lease timeout) enters a sliding window of the last
  `windowSize` outcomes. Once it holds at least `minimumCalls` and the
  share of failures reaches `failureRateThreshold`, the breaker **opens**.
- **open**: nothing of that type is handed out — tasks stay queued, never
  failed — until `openSeconds` have passed on the runtime's clock. The
  group arms one wake-up for that moment; the first look at or after it
  moves the breaker to **half-open**.
- **half-open**: at most `halfOpenProbes` tasks are handed out (a probe
  handed back without a verdict — cancelled, requeued — frees its place).
  One probe failing reopens it (a new cool-down); all of them succeeding
  closes it with an empty window. Outcomes of tasks handed out before the
  breaker opened are ignored while it is open or half-open (their
  `generation` is stale).

The breaker is pure state plus structlog events (`breaker.opened`,
`breaker.half_open`, `breaker.closed`); the `Ledger` owns one per
(group, task type) with a configuration, and consults it in `admit`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cadenza._errors import DefinitionError

WINDOW_MAX = 10_000  # a longer window is a configuration mistake, not a need


@dataclass(frozen=True, slots=True)
class BreakerConfig:
    """A TaskDef's `circuitBreaker`, validated."""

    failure_rate_pct: float = 50.0
    minimum_calls: int = 10
    window_size: int = 20
    open_s: float = 30.0
    half_open_probes: int = 1


def parse_breaker(raw: Any, *, where: str) -> BreakerConfig | None:
    """Parse `circuitBreaker` (None or absent: no breaker); raises `DefinitionError`."""
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise DefinitionError(
            f"circuitBreaker must be an object, got {type(raw).__name__}", workflow=where
        )
    known = {
        "failureRateThreshold",
        "minimumCalls",
        "windowSize",
        "openSeconds",
        "halfOpenProbes",
    }
    unknown = sorted(set(raw) - known)
    if unknown:
        raise DefinitionError(
            f"circuitBreaker.{unknown[0]} is not a known field (expected one of {sorted(known)})",
            workflow=where,
        )
    defaults = BreakerConfig()
    rate = _num(raw, "failureRateThreshold", defaults.failure_rate_pct, where)
    if not 0 < rate <= 100:
        raise DefinitionError(
            f"circuitBreaker.failureRateThreshold must be a percentage in (0, 100], got {rate!r}",
            workflow=where,
        )
    window = _int(raw, "windowSize", defaults.window_size, where, low=1, high=WINDOW_MAX)
    minimum = _int(raw, "minimumCalls", min(defaults.minimum_calls, window), where, low=1)
    if minimum > window:
        raise DefinitionError(
            f"circuitBreaker.minimumCalls ({minimum}) must not exceed windowSize ({window}):"
            " the breaker could never open",
            workflow=where,
        )
    open_s = _num(raw, "openSeconds", defaults.open_s, where)
    if not open_s > 0 or math.isinf(open_s):
        raise DefinitionError(
            f"circuitBreaker.openSeconds must be a positive finite number, got {open_s!r}",
            workflow=where,
        )
    probes = _int(raw, "halfOpenProbes", defaults.half_open_probes, where, low=1)
    return BreakerConfig(rate, minimum, window, open_s, probes)


def _num(raw: Mapping[str, Any], key: str, default: float, where: str) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise DefinitionError(
            f"circuitBreaker.{key} must be a number, got {value!r}", workflow=where
        )
    return float(value)


def _int(
    raw: Mapping[str, Any], key: str, default: int, where: str, *, low: int, high: int | None = None
) -> int:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise DefinitionError(
            f"circuitBreaker.{key} must be an integer of at least {low}, got {value!r}",
            workflow=where,
        )
    if high is not None and value > high:
        raise DefinitionError(
            f"circuitBreaker.{key} must be at most {high}, got {value!r}", workflow=where
        )
    return value
