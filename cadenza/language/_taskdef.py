"""Task definitions (Conductor's `TaskDef`): a task type's retry, timeout and rate policies.

Design note
-----------
`parse_task_def` takes a Conductor `TaskDef` dict, ignores unknown fields,
fills missing ones with Conductor's defaults (TaskDef.java) and returns an
immutable `TaskDef`; anything malformed raises `DefinitionError` naming the
task (and the workflow, for an inline `taskDefinition`). `_number` and
`_enum` are shared with the workflow parser in `_definition.py`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from cadenza._errors import DefinitionError
from cadenza.language._breaker_config import BreakerConfig, parse_breaker


class RetryLogic(StrEnum):
    FIXED = "FIXED"
    LINEAR_BACKOFF = "LINEAR_BACKOFF"
    EXPONENTIAL_BACKOFF = "EXPONENTIAL_BACKOFF"


class TimeoutPolicy(StrEnum):
    RETRY = "RETRY"
    TIME_OUT_WF = "TIME_OUT_WF"
    ALERT_ONLY = "ALERT_ONLY"


def _input_template(raw: Mapping[str, Any], where: str) -> dict[str, Any]:
    template = raw.get("inputTemplate") or {}
    if not isinstance(template, Mapping):
        raise DefinitionError("inputTemplate must be an object", workflow=where)
    return dict(template)


@dataclass(frozen=True, slots=True)
class TaskDef:
    """A task type's policies (Conductor's `TaskDef`), with Conductor's defaults."""

    name: str
    retry_count: int = 3
    retry_logic: RetryLogic = RetryLogic.FIXED
    retry_delay_s: float = 60.0
    backoff_scale_factor: float = 1.0
    max_retry_delay_s: float | None = None
    backoff_jitter_ms: int = 0
    timeout_s: float = 0.0
    response_timeout_s: float = 3600.0
    poll_timeout_s: float | None = None
    timeout_policy: TimeoutPolicy = TimeoutPolicy.TIME_OUT_WF
    concurrent_exec_limit: int | None = None
    rate_limit_per_frequency: int = 0
    rate_limit_frequency_s: float = 1.0
    circuit_breaker: BreakerConfig | None = None  # `circuitBreaker`; see _breaker.py
    input_template: Mapping[str, Any] = field(
        default_factory=dict
    )  # defaults under inputParameters
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def retry_delay_for(self, retry_count: int) -> float:
        """Seconds to wait before attempt `retry_count + 1` (jitter not included)."""
        if self.retry_logic is RetryLogic.FIXED:
            delay = self.retry_delay_s
        elif self.retry_logic is RetryLogic.LINEAR_BACKOFF:
            delay = self.retry_delay_s * self.backoff_scale_factor * (retry_count + 1)
        else:
            delay = self.retry_delay_s * (2**retry_count)
        if self.max_retry_delay_s is not None:
            delay = min(delay, self.max_retry_delay_s)
        return max(0.0, delay)


def _number(
    raw: Mapping[str, Any], key: str, default: float, *, where: str, ref: str | None
) -> float:
    value = raw.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DefinitionError(f"{key} must be a number, got {value!r}", workflow=where, ref=ref)
    if value < 0:
        raise DefinitionError(f"{key} must not be negative, got {value!r}", workflow=where, ref=ref)
    return float(value)


def _enum(enum: type[StrEnum], raw: Mapping[str, Any], key: str, default: Any, **where: Any) -> Any:
    value = raw.get(key) or default
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(member.value for member in enum)
        raise DefinitionError(f"{key} {value!r} is not one of {allowed}", **where) from None


def parse_task_def(raw: Mapping[str, Any], *, workflow: str | None = None) -> TaskDef:
    """Parse a Conductor `TaskDef` dict; raises `DefinitionError`."""
    if not isinstance(raw, Mapping):
        raise DefinitionError(f"a task definition must be an object, got {type(raw).__name__}")
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise DefinitionError("a task definition needs a non-empty 'name'", workflow=workflow)
    where = workflow or name
    retry_count = int(_number(raw, "retryCount", 3, where=where, ref=None))
    max_delay = raw.get("maxRetryDelaySeconds")
    poll_timeout = raw.get("pollTimeoutSeconds")
    concurrent = raw.get("concurrentExecLimit")
    if concurrent is not None and (not isinstance(concurrent, int) or concurrent < 0):
        raise DefinitionError(f"concurrentExecLimit must be a non-negative integer, got {concurrent!r}",
                              workflow=workflow or name)  # fmt: skip
    frequency = _number(raw, "rateLimitFrequencyInSeconds", 1, where=where, ref=None)
    per = raw.get("rateLimitPerFrequency")
    if per is not None and (isinstance(per, bool) or not isinstance(per, int) or per < 0):
        raise DefinitionError(f"rateLimitPerFrequency must be a non-negative integer, got {per!r}",
                              workflow=where)  # fmt: skip
    if _number(raw, "responseTimeoutSeconds", 3600, where=where, ref=None) <= 0:
        raise DefinitionError("responseTimeoutSeconds must be positive (it is a lease)",
                              workflow=where)  # fmt: skip
    if raw.get("rateLimitPerFrequency") and frequency <= 0:
        raise DefinitionError(
            "rateLimitFrequencyInSeconds must be positive", workflow=workflow or name
        )
    return TaskDef(
        name=name,
        retry_count=retry_count,
        retry_logic=_enum(RetryLogic, raw, "retryLogic", "FIXED", workflow=workflow or name),
        retry_delay_s=_number(raw, "retryDelaySeconds", 60, where=where, ref=None),
        backoff_scale_factor=_number(raw, "backoffScaleFactor", 1, where=where, ref=None),
        max_retry_delay_s=None
        if max_delay is None
        else _number(raw, "maxRetryDelaySeconds", 0, where=where, ref=None),
        backoff_jitter_ms=int(_number(raw, "backoffJitterMs", 0, where=where, ref=None)),
        timeout_s=_number(raw, "timeoutSeconds", 0, where=where, ref=None),
        response_timeout_s=_number(raw, "responseTimeoutSeconds", 3600, where=where, ref=None),
        poll_timeout_s=None
        if poll_timeout is None
        else _number(raw, "pollTimeoutSeconds", 0, where=where, ref=None),
        timeout_policy=_enum(
            TimeoutPolicy, raw, "timeoutPolicy", "TIME_OUT_WF", workflow=workflow or name
        ),
        concurrent_exec_limit=concurrent,
        rate_limit_per_frequency=int(
            _number(raw, "rateLimitPerFrequency", 0, where=where, ref=None)
        ),
        rate_limit_frequency_s=frequency,
        circuit_breaker=parse_breaker(raw.get("circuitBreaker"), where=where),
        input_template=_input_template(raw, where),
        raw=dict(raw),
    )
