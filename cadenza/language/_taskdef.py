"""Task definitions (Conductor's `TaskDef`): a task type's retry, timeout and rate policies.

Design note
-----------
`TaskDef` is its own wire schema (see `_wire.py`): Conductor's field
names, types and defaults from TaskDef.java, plus cadenza's
`maxRetryDelaySeconds`, `backoffJitterMs` and `circuitBreaker`.
`parse_task_def` decodes a Conductor `TaskDef` dict into one; anything
malformed raises `DefinitionError` naming the field (and the workflow and
the task, for an inline `taskDefinition`: see `_parse.py`).

A retry delay is capped before it is computed, never after: `2**n` for the
1,024th retry is past any float, and it must not raise inside `decide`.
As Conductor's `DeciderService.retry`, a delay too long to hold is reset to
`Integer.MAX_VALUE` seconds (`RETRY_DELAY_MAX_S`), then capped by
`maxRetryDelaySeconds`; EXPONENTIAL_BACKOFF ignores `backoffScaleFactor`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

import msgspec

from cadenza.language._breaker_config import BreakerConfig
from cadenza.language._wire import Count, Float, Name, Positive, decode

RETRY_DELAY_MAX_S = float(2**31 - 1)  # Conductor's reset for an overflowing delay


class RetryLogic(StrEnum):
    FIXED = "FIXED"
    LINEAR_BACKOFF = "LINEAR_BACKOFF"
    EXPONENTIAL_BACKOFF = "EXPONENTIAL_BACKOFF"


class TimeoutPolicy(StrEnum):
    RETRY = "RETRY"
    TIME_OUT_WF = "TIME_OUT_WF"
    ALERT_ONLY = "ALERT_ONLY"


def _named(name: str, default: Any) -> Any:
    return msgspec.field(default=default, name=name)


class TaskDef(msgspec.Struct, frozen=True, kw_only=True):
    """A task type's policies: Conductor's `TaskDef` (wire names as `name=`), its defaults."""

    name: Name
    retry_count: Count = _named("retryCount", 3)
    retry_logic: RetryLogic = _named("retryLogic", RetryLogic.FIXED)
    retry_delay_s: Float = _named("retryDelaySeconds", 60.0)
    backoff_scale_factor: Float = _named("backoffScaleFactor", 1.0)
    max_retry_delay_s: Float | None = _named("maxRetryDelaySeconds", None)
    backoff_jitter_ms: Count = _named("backoffJitterMs", 0)
    timeout_s: Float = _named("timeoutSeconds", 0.0)
    # a budget over all attempts, retry delays included (DeciderService checkTotalTimeout)
    total_timeout_s: Float = _named("totalTimeoutSeconds", 0.0)
    response_timeout_s: Positive = _named("responseTimeoutSeconds", 3600.0)  # a lease
    poll_timeout_s: Float | None = _named("pollTimeoutSeconds", None)
    timeout_policy: TimeoutPolicy = _named("timeoutPolicy", TimeoutPolicy.TIME_OUT_WF)
    concurrent_exec_limit: Count | None = _named("concurrentExecLimit", None)
    rate_limit_per_frequency: Count = _named("rateLimitPerFrequency", 0)
    rate_limit_frequency_s: Float = _named("rateLimitFrequencyInSeconds", 1.0)
    circuit_breaker: BreakerConfig | None = _named("circuitBreaker", None)  # see _breaker.py
    input_template: dict[str, Any] = _named("inputTemplate", {})  # defaults under inputParameters

    def __post_init__(self) -> None:
        if self.rate_limit_per_frequency and self.rate_limit_frequency_s <= 0:
            raise ValueError(
                "rateLimitFrequencyInSeconds must be positive with rateLimitPerFrequency"
            )

    @property
    def limited(self) -> bool:
        """Whether a concurrency or rate limit caps how many of its tasks run."""
        return bool(self.concurrent_exec_limit or self.rate_limit_per_frequency)

    def retry_delay_for(self, retry_count: int) -> float:
        """Seconds to wait before attempt `retry_count + 1` (jitter not included); never raises."""
        ceiling = RETRY_DELAY_MAX_S
        if self.max_retry_delay_s is not None and self.max_retry_delay_s > 0:
            ceiling = min(ceiling, self.max_retry_delay_s)  # 0: no cap (applyMaxRetryDelayCap)
        base = self.retry_delay_s
        if self.retry_logic is RetryLogic.FIXED:
            delay = base
        elif self.retry_logic is RetryLogic.LINEAR_BACKOFF:
            delay = base * self.backoff_scale_factor * (retry_count + 1)  # floats: inf at worst
        elif base <= 0 or ceiling <= 0:
            delay = 0.0
        elif retry_count >= math.log2(ceiling) - math.log2(base):
            delay = ceiling  # base * 2**retry_count reaches the ceiling: the cap, uncomputed
        else:
            delay = math.ldexp(base, retry_count)
        return max(0.0, min(delay, ceiling))


def parse_task_def(raw: Mapping[str, Any], *, workflow: str | None = None) -> TaskDef:
    """Parse a Conductor `TaskDef` dict; raises `DefinitionError`."""
    name = raw.get("name") if isinstance(raw, Mapping) else None
    where = workflow or (name if isinstance(name, str) and name else None)
    return decode(raw, TaskDef, workflow=where, what="a task definition")
