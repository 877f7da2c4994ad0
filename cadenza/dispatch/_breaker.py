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
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from cadenza._log import get_logger
from cadenza.language._breaker_config import BreakerConfig

log = get_logger("cadenza.dispatch")

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"
_EVENTS = {CLOSED: "breaker.closed", OPEN: "breaker.opened", HALF_OPEN: "breaker.half_open"}


@dataclass(slots=True)
class Breaker:
    """The state of one breaker; see the module note."""

    group: str
    task_type: str
    config: BreakerConfig
    state: str = CLOSED
    outcomes: deque[bool] = field(default_factory=deque)  # True: failed
    failures: int = 0
    open_until: float = 0.0
    generation: int = 0  # bumped on every transition; fences late outcomes
    probes_handed: int = 0
    probes_ok: int = 0

    def reconfigure(self, config: BreakerConfig) -> None:
        """A TaskDef registered again: keep the state, trim the window to the new size."""
        self.config = config
        while len(self.outcomes) > config.window_size:
            self.failures -= self.outcomes.popleft()

    def allows(self, now: float) -> float | None:
        """None if a task may be handed out now, else when to look again (inf: on a verdict)."""
        if self.state == CLOSED:
            return None
        if self.state == OPEN:
            if now < self.open_until:
                return self.open_until
            self._move(HALF_OPEN, now)
        if self.probes_handed < self.config.half_open_probes:
            return None
        return math.inf

    def handed(self) -> int:
        """A task was handed out; returns the generation its outcome must carry."""
        if self.state == HALF_OPEN:
            self.probes_handed += 1
        return self.generation

    def record(self, generation: int, failed: bool | None, now: float) -> None:
        """The outcome of a task handed out at `generation` (None: it ended without a verdict)."""
        if generation != self.generation:
            return
        if self.state == HALF_OPEN:
            if failed is None:
                self.probes_handed -= 1
            elif failed:
                self._open(now)
            else:
                self.probes_ok += 1
                if self.probes_ok >= self.config.half_open_probes:
                    self._move(CLOSED, now)
            return
        if self.state != CLOSED or failed is None:
            return
        self.outcomes.append(failed)
        self.failures += failed
        if len(self.outcomes) > self.config.window_size:
            self.failures -= self.outcomes.popleft()
        calls = len(self.outcomes)
        if (
            calls >= self.config.minimum_calls
            and self.failures * 100 >= self.config.failure_rate_pct * calls
        ):
            self._open(now)

    def _open(self, now: float) -> None:
        calls, failures = len(self.outcomes), self.failures
        self.open_until = now + self.config.open_s
        self._move(OPEN, now, calls=calls, failures=failures, until=self.open_until)

    def _move(self, state: str, now: float, **details: Any) -> None:
        self.state = state
        self.generation += 1
        self.outcomes.clear()
        self.failures = 0
        self.probes_handed = 0
        self.probes_ok = 0
        event = _EVENTS[state]
        emit = log.warning if state == OPEN else log.info
        emit(event, group=self.group, task_type=self.task_type, at=now, **details)
