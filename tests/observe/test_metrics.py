"""Prometheus metrics: the names and labels API.md pins, read by scraping and parsing.

Every figure is checked against what the test did on the virtual clock:
counts, exact durations, queue depth and age, timers, the journal.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

import cadenza
from cadenza.http import create_app
from cadenza.testing import VirtualClock
from tests.conftest import three_steps

WAITING: dict[str, Any] = {
    "name": "waiting",
    "version": 1,
    "tasks": [{"name": "w", "taskReferenceName": "w", "type": "WAIT", "inputParameters": {"duration": "30 seconds"}}],
}  # fmt: skip


def scrape(
    registry: CollectorRegistry | None,
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the exposition, parsed back: (name, sorted labels) -> value."""
    assert registry is not None
    text = generate_latest(registry).decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict[Any, float], name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


async def drive_one(rt: cadenza.Runtime, clock: VirtualClock, fail: bool = False) -> str:
    """One `three_steps` run through external polls: each task waits 2 s queued and runs 3 s."""
    run_id = await rt.start("three_steps", {"n": 1})
    for task_type in ("step_a", "step_b", "step_c"):
        await clock.advance(2.0)
        task = await rt.poll(task_type)
        assert task is not None
        await clock.advance(3.0)
        if fail:
            await rt.fail(task.id, "no", terminal=True)
            break
        await rt.complete(task.id, {"n": 1})
    await rt.settle()
    return run_id


async def test_runs_and_tasks_are_counted_timed_and_labelled_by_type(
    rt: cadenza.Runtime, clock: VirtualClock
) -> None:
    """Started/finished counts, running gauge, durations and waits exactly as the clock ran."""
    await rt.register(three_steps())
    ok = await drive_one(rt, clock)
    failed = await drive_one(rt, clock, fail=True)
    m = scrape(rt.metrics)
    assert value(m, "cadenza_workflow_started_total", workflow="three_steps") == 2
    assert (
        value(m, "cadenza_workflow_finished_total", workflow="three_steps", status="COMPLETED") == 1
    )
    assert value(m, "cadenza_workflow_finished_total", workflow="three_steps", status="FAILED") == 1
    assert value(m, "cadenza_workflows_running", workflow="three_steps") == 0
    # durations: 3 tasks x 5 s, then 1 task x 5 s
    assert value(m, "cadenza_workflow_duration_seconds_count", workflow="three_steps") == 2
    assert value(m, "cadenza_workflow_duration_seconds_sum", workflow="three_steps") == 20.0
    assert (
        value(m, "cadenza_workflow_duration_seconds_bucket", workflow="three_steps", le="10.0") == 1
    )
    assert value(m, "cadenza_task_scheduled_total", task_type="step_a", group="default") == 2
    assert value(m, "cadenza_task_scheduled_total", task_type="step_c", group="default") == 1
    assert value(m, "cadenza_task_finished_total", task_type="step_a", status="COMPLETED") == 1
    assert (
        value(
            m,
            "cadenza_task_finished_total",
            task_type="step_a",
            status="FAILED_WITH_TERMINAL_ERROR",
        )
        == 1
    )
    assert (
        value(m, "cadenza_task_queue_wait_seconds_count", task_type="step_a", group="default") == 2
    )
    assert (
        value(m, "cadenza_task_queue_wait_seconds_sum", task_type="step_a", group="default") == 4.0
    )
    assert (
        value(
            m,
            "cadenza_task_queue_wait_seconds_bucket",
            task_type="step_a",
            group="default",
            le="1.0",
        )
        == 0
    )
    assert (
        value(
            m,
            "cadenza_task_queue_wait_seconds_bucket",
            task_type="step_a",
            group="default",
            le="2.5",
        )
        == 2
    )
    assert value(m, "cadenza_task_execution_seconds_sum", task_type="step_b") == 3.0
    assert value(m, "cadenza_task_execution_seconds_count", task_type="step_a") == 2
    # no label value is ever a run or task id
    for (_name, labels), _value in m.items():
        for _key, label in labels:
            assert ok not in label
            assert failed not in label


async def test_queue_depth_and_oldest_age_per_type_and_group(
    rt: cadenza.Runtime, clock: VirtualClock
) -> None:
    """What an autoscaler reads: tasks ready per (task type, group), and the oldest one's age."""
    await rt.register(three_steps())
    await rt.start("three_steps", {"n": 1})
    await clock.advance(7.0)
    await rt.start("three_steps", {"n": 2}, task_to_group={"step_a": "gpu"})
    await rt.start("three_steps", {"n": 3}, task_to_group={"step_a": "gpu"})
    await clock.advance(1.0)
    await rt.settle()
    m = scrape(rt.metrics)
    assert value(m, "cadenza_queue_depth", task_type="step_a", group="default") == 1
    assert value(m, "cadenza_queue_depth", task_type="step_a", group="gpu") == 2
    assert (
        value(m, "cadenza_queue_oldest_ready_age_seconds", task_type="step_a", group="default")
        == 8.0
    )
    assert (
        value(m, "cadenza_queue_oldest_ready_age_seconds", task_type="step_a", group="gpu") == 1.0
    )
    task = await rt.poll("step_a")
    assert task is not None
    m = scrape(rt.metrics)
    assert value(m, "cadenza_queue_depth", task_type="step_a", group="default") == 0  # emptied: 0
    assert (
        value(m, "cadenza_queue_oldest_ready_age_seconds", task_type="step_a", group="default") == 0
    )


async def test_timers_pending_and_their_lateness(rt: cadenza.Runtime, clock: VirtualClock) -> None:
    """A WAIT's deadline is a pending timer; once it fires, its lateness is observed."""
    await rt.register(WAITING)
    await rt.start("waiting")
    await rt.settle()
    assert value(scrape(rt.metrics), "cadenza_timers_pending") == 1
    await clock.advance(31.0)
    await rt.settle()
    m = scrape(rt.metrics)
    assert value(m, "cadenza_timers_pending") == 0
    assert value(m, "cadenza_timer_lateness_seconds_count") == 1
    assert value(m, "cadenza_timer_lateness_seconds_sum") == 0.0  # the virtual clock is punctual
    assert value(m, "cadenza_workflow_finished_total", workflow="waiting", status="COMPLETED") == 1


async def test_journal_records_and_append_times(rt: cadenza.Runtime, clock: VirtualClock) -> None:
    """The journal's own record count is exposed; each durable batch observes its wait."""
    await rt.register(three_steps())
    await drive_one(rt, clock)
    m = scrape(rt.metrics)
    assert value(m, "cadenza_journal_records_total") == rt._engine.journal.stats.records > 0
    appended = value(m, "cadenza_journal_append_seconds_count")
    assert appended is not None
    assert appended >= 4
    assert value(m, "cadenza_journal_append_seconds_sum") > 0  # type: ignore[operator]


async def test_recovered_runs_count_as_running(db_path: str, clock: VirtualClock) -> None:
    """After a restart the running gauge counts the runs recovery found unfinished."""
    async with cadenza.Runtime(db_path, clock=clock, seed=1) as rt:
        await rt.register(three_steps())
        for n in range(3):
            await rt.start("three_steps", {"n": n})
    async with cadenza.Runtime(db_path, clock=clock, seed=2) as rt:
        m = scrape(rt.metrics)
        assert value(m, "cadenza_workflows_running", workflow="three_steps") == 3
        assert value(m, "cadenza_workflow_started_total", workflow="three_steps") is None
        assert value(m, "cadenza_queue_depth", task_type="step_a", group="default") == 3


async def test_an_application_registry_holds_the_metrics_while_open(
    tmp_path: Path, clock: VirtualClock
) -> None:
    """metrics=registry: registered on open, gone on close; a second open runtime is refused."""
    registry = CollectorRegistry()
    db = str(tmp_path / "a.db")
    async with cadenza.Runtime(db, clock=clock, metrics=registry) as rt:
        assert rt.metrics is registry
        await rt.register(three_steps())
        await rt.start("three_steps")
        assert (
            value(scrape(registry), "cadenza_workflow_started_total", workflow="three_steps") == 1
        )
        other = cadenza.Runtime(str(tmp_path / "b.db"), clock=clock, metrics=registry)
        with pytest.raises(cadenza.InvalidArgument, match="metrics: the registry already holds"):
            await other.__aenter__()
        assert not (tmp_path / "b.db").exists()  # refused before anything opened
        assert (
            value(scrape(registry), "cadenza_workflow_started_total", workflow="three_steps") == 1
        )
    assert not [name for name, _labels in scrape(registry) if name.startswith("cadenza_")]
    async with cadenza.Runtime(str(tmp_path / "c.db"), clock=clock, metrics=registry) as rt:
        assert value(scrape(registry), "cadenza_timers_pending") == 0  # free again


def test_a_registry_that_is_not_one_is_refused() -> None:
    with pytest.raises(cadenza.InvalidArgument, match="metrics: expected a prometheus_client"):
        cadenza.Runtime(":memory:", metrics="yes")  # type: ignore[arg-type]


async def test_metrics_are_served_at_slash_metrics(rt: cadenza.Runtime) -> None:
    """`/metrics` is Prometheus' text format (OpenMetrics when asked for)."""
    await rt.register(three_steps())
    await rt.start("three_steps")
    transport = httpx.ASGITransport(app=create_app(rt))
    async with httpx.AsyncClient(transport=transport, base_url="http://cadenza") as client:
        answer = await client.get("/metrics")
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
        families = {f.name: f for f in text_string_to_metric_families(answer.text)}
        assert families["cadenza_workflow_started"].type == "counter"
        assert families["cadenza_workflow_duration_seconds"].type == "histogram"
        assert families["cadenza_queue_depth"].type == "gauge"
        answer = await client.get("/metrics", headers={"Accept": "application/openmetrics-text"})
        assert answer.headers["content-type"].startswith("application/openmetrics-text")
        assert answer.text.rstrip().endswith("# EOF")


async def test_metrics_off_answers_404(tmp_path: Path, clock: VirtualClock) -> None:
    async with cadenza.Runtime(str(tmp_path / "j.db"), clock=clock, metrics=False) as rt:
        assert rt.metrics is None
        transport = httpx.ASGITransport(app=create_app(rt))
        async with httpx.AsyncClient(transport=transport, base_url="http://cadenza") as client:
            answer = await client.get("/metrics")
        assert answer.status_code == 404
        assert "metrics=False" in answer.json()["message"]
