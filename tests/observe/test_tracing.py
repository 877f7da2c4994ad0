"""OpenTelemetry spans: StartWorkflow:{name} and RunTask:{task_type}, joined across a restart.

The SDK's in-memory exporter records the spans. The tests hand cadenza a
tracer of their own provider (monkeypatched), so the process-wide provider
stays unset and every other test runs as without an SDK.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

import cadenza
from cadenza import _trace
from cadenza.testing import VirtualClock
from tests.conftest import three_steps


@pytest.fixture
def provider(monkeypatch: pytest.MonkeyPatch) -> Iterator[TracerProvider]:
    """An SDK provider of the test's own, recording into `exporter`; cadenza traces with it."""
    provider = TracerProvider()
    monkeypatch.setattr(_trace, "_tracer", provider.get_tracer("cadenza"))
    monkeypatch.setattr(_trace, "enabled", lambda: True)
    yield provider
    provider.shutdown()


@pytest.fixture
def exporter(provider: TracerProvider) -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


def by_name(exporter: InMemorySpanExporter) -> dict[str, list[ReadableSpan]]:
    found: dict[str, list[ReadableSpan]] = {}
    for span in exporter.get_finished_spans():
        found.setdefault(span.name, []).append(span)
    return found


async def noop(data: dict[str, Any]) -> dict[str, Any]:
    return {"n": data.get("n")}


def workers(rt: cadenza.Runtime) -> None:
    for name in ("step_a", "step_b", "step_c"):
        rt.worker(name, noop, group="cpu")


async def test_task_spans_join_the_trace_the_run_started_in(
    rt: cadenza.Runtime, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """The caller's span -> StartWorkflow:{name} -> RunTask:{type} per task, with the attributes."""
    app = provider.get_tracer("app")
    await rt.register(three_steps())
    workers(rt)
    with app.start_as_current_span("handle-request") as request:
        run_id = await rt.start(
            "three_steps",
            {"n": 1},
            task_to_group={"step_a": "cpu", "step_b": "cpu", "step_c": "cpu"},
        )
    run = await rt.wait(run_id, timeout=5)
    spans = by_name(exporter)
    (start,) = spans["StartWorkflow:three_steps"]
    trace_id = request.get_span_context().trace_id
    assert start.context.trace_id == trace_id
    assert start.parent is not None
    assert start.parent.span_id == request.get_span_context().span_id
    assert start.attributes == {
        "cadenza.workflow.name": "three_steps",
        "cadenza.workflow.id": run_id,
    }
    for task in run.tasks:
        (span,) = spans[f"RunTask:{task.type}"]
        assert span.context.trace_id == trace_id
        assert span.parent is not None
        assert span.parent.span_id == start.context.span_id
        assert span.attributes == {
            "cadenza.workflow.id": run_id,
            "cadenza.workflow.name": "three_steps",
            "cadenza.task.id": task.id,
            "cadenza.task.type": task.type,
            "cadenza.task.attempt": 0,
            "cadenza.worker_group": "cpu",
        }


async def test_the_trace_context_is_journaled_and_joined_after_a_restart(
    db_path: str, clock: VirtualClock, exporter: InMemorySpanExporter
) -> None:
    """Started in one runtime, its tasks run in the next: their spans still join that trace."""
    async with cadenza.Runtime(db_path, clock=clock, seed=1) as rt:
        await rt.register(three_steps())
        run_id = await rt.start("three_steps", {"n": 1})
    (start,) = by_name(exporter)["StartWorkflow:three_steps"]
    exporter.clear()
    async with cadenza.Runtime(db_path, clock=clock, seed=2) as rt:
        for name in ("step_a", "step_b", "step_c"):
            rt.worker(name, noop)
        assert (await rt.wait(run_id, timeout=5)).status == "COMPLETED"
    spans = exporter.get_finished_spans()
    assert sorted(span.name for span in spans) == [
        "RunTask:step_a", "RunTask:step_b", "RunTask:step_c",
    ]  # fmt: skip
    for span in spans:
        assert span.context.trace_id == start.context.trace_id
        assert span.parent is not None
        assert span.parent.span_id == start.context.span_id


async def test_a_failing_worker_s_span_records_the_exception(
    rt: cadenza.Runtime, exporter: InMemorySpanExporter
) -> None:
    async def boom(data: dict[str, Any]) -> dict[str, Any]:
        raise ValueError("no")

    await rt.register(three_steps())
    await rt.register_task({"name": "step_a", "retryCount": 0})
    rt.worker("step_a", boom)
    run = await rt.wait(await rt.start("three_steps", {"n": 1}), timeout=5)
    assert run.status == "FAILED"
    (span,) = by_name(exporter)["RunTask:step_a"]
    assert span.status.status_code == StatusCode.ERROR
    assert [event.name for event in span.events] == ["exception"]
    assert span.events[0].attributes is not None
    assert span.events[0].attributes["exception.type"] == "ValueError"


async def test_without_an_sdk_nothing_is_traced_or_journaled(rt: cadenza.Runtime) -> None:
    """No SDK configured (the process default): no span context is journaled with the run."""
    assert not _trace.enabled()
    await rt.register(three_steps())
    workers(rt)
    run_id = await rt.start(
        "three_steps", {"n": 1}, task_to_group={"step_a": "cpu", "step_b": "cpu", "step_c": "cpu"}
    )
    assert (await rt.wait(run_id, timeout=5)).status == "COMPLETED"
    loaded = await rt._engine.journal.load(run_id)
    assert loaded is not None
    assert loaded.snapshot is not None
    assert loaded.snapshot["trace"] is None


async def test_concurrent_starts_each_keep_their_own_trace(
    rt: cadenza.Runtime, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """Starts gathered into one pass (`_fresh.CoalescedStarts`) each carry their own caller's
    trace context, not that of the caller whose turn ran the pass."""
    app = provider.get_tracer("app")
    await rt.register(three_steps())
    workers(rt)
    groups = {"step_a": "cpu", "step_b": "cpu", "step_c": "cpu"}

    async def start(n: int) -> tuple[int, str]:
        with app.start_as_current_span(f"request-{n}") as request:
            run_id = await rt.start("three_steps", {"n": n}, task_to_group=groups)
        return request.get_span_context().trace_id, run_id

    started = await asyncio.gather(*(start(n) for n in range(8)))
    for _trace_id, run_id in started:
        await rt.wait(run_id, timeout=5)
    traces: dict[Any, set[int]] = {}
    for span in exporter.get_finished_spans():
        if span.name.startswith("RunTask:") and span.attributes is not None:
            traces.setdefault(span.attributes["cadenza.workflow.id"], set()).add(
                span.context.trace_id
            )
    assert traces == {run_id: {trace_id} for trace_id, run_id in started}
