"""OpenTelemetry tracing: `StartWorkflow:{name}` and `RunTask:{task_type}` spans.

Design note
-----------
cadenza uses `opentelemetry-api` only; the application configures an SDK
(or not). Without one, `enabled()` is False and nothing here does any work
beyond that one check: no span, no context read, nothing journaled.

The trace context a run starts in — the `StartWorkflow` span's — is
captured as a W3C `traceparent` carrier (`carrier()`) when the start
message is made, in the caller's task, and journaled with the run's
`WorkflowStarted` event. A local worker's `RunTask` span takes that
carrier as its parent, so a run's task spans join the trace it was started
in, across restarts of the process (the carrier is read back from the
journal). Attributes: `cadenza.workflow.id`, `cadenza.workflow.name`,
`cadenza.task.id`, `cadenza.task.type`, `cadenza.task.attempt`,
`cadenza.worker_group`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_tracer = trace.get_tracer("cadenza")
_propagator = TraceContextTextMapPropagator()
_NO_SDK = (trace.ProxyTracerProvider, trace.NoOpTracerProvider)


# A provider named by the environment is loaded by the API's first lookup; read it once, at
# import, as auto-instrumentation sets it before the application starts.
_PROVIDER_FROM_ENV = "OTEL_PYTHON_TRACER_PROVIDER" in os.environ


def enabled() -> bool:
    """An SDK's tracer provider is set: spans are worth making.

    Asked for every start and every task, so it reads the API's global first:
    `get_tracer_provider()` without an SDK looks the environment up on each
    call (about 2% of a workflow's CPU in issue 14's profile).
    """
    provider = getattr(trace, "_TRACER_PROVIDER", None)
    if provider is None:
        if not _PROVIDER_FROM_ENV:
            return False
        provider = trace.get_tracer_provider()
    return not isinstance(provider, _NO_SDK)


def carrier() -> dict[str, str] | None:
    """The current span's W3C trace context, to journal (None: no SDK, or no span)."""
    if not enabled() or not trace.get_current_span().get_span_context().is_valid:
        return None
    found: dict[str, str] = {}
    _propagator.inject(found)
    return found or None


@contextmanager
def start_span(name: str) -> Iterator[Any]:
    """The `StartWorkflow:{name}` span around a start (None without an SDK)."""
    if not enabled():
        yield None
        return
    with _tracer.start_as_current_span(
        f"StartWorkflow:{name}",
        kind=trace.SpanKind.PRODUCER,
        attributes={"cadenza.workflow.name": name},
    ) as span:
        yield span


@contextmanager
def task_span(
    parent: dict[str, str] | None,
    *,
    run_id: str,
    workflow: str,
    task_id: str,
    task_type: str,
    attempt: int,
    group: str,
) -> Iterator[None]:
    """The `RunTask:{task_type}` span around a local worker's call, a child of `parent`.

    An exception raised inside is recorded on the span (its status ERROR) and raised on.
    """
    if not enabled():
        yield
        return
    context = _propagator.extract(parent) if parent else None
    attributes: dict[str, str | int] = {
        "cadenza.workflow.id": run_id,
        "cadenza.workflow.name": workflow,
        "cadenza.task.id": task_id,
        "cadenza.task.type": task_type,
        "cadenza.task.attempt": attempt,
        "cadenza.worker_group": group,
    }
    with _tracer.start_as_current_span(
        f"RunTask:{task_type}", context=context, kind=trace.SpanKind.CONSUMER, attributes=attributes
    ):
        yield
