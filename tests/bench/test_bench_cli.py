"""`cadenza bench X --tiny` runs every benchmark end to end, so none rots.

Each runs in a subprocess exactly as a user types it (`python -m cadenza.cli
bench X --tiny`), and the JSON it prints must hold its figures and the
ceilings measured beside them. Tiny sizes keep each to a few seconds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import cadenza
from cadenza.bench import BENCHMARKS, report
from cadenza.bench._sizes import resolve
from cadenza.cli import main, parser

SHARED_CEILINGS = (
    "sqlite_executemany_rows_per_s",
    "sqlite_single_row_commits_per_s",
    "asyncio_queue_messages_per_s",
    "loop_callbacks_per_s",
)


def _bench(tmp_path: Path, *args: str) -> dict[str, Any]:
    ran = subprocess.run(
        [sys.executable, "-m", "cadenza.cli", "bench", *args, "--tiny"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "CADENZA_BENCH_DIR": str(tmp_path)},
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    report: dict[str, Any] = json.loads(ran.stdout)
    assert report["benchmark"] == args[0]
    assert report["tiny"] is True
    assert report["machine"]["sqlite"]
    return report


def _positive(figures: dict[str, Any], *keys: str) -> None:
    for key in keys:
        assert figures[key] > 0, (key, figures)


def _percentiles(figures: dict[str, Any]) -> None:
    assert 0 <= figures["p50_ms"] <= figures["p99_ms"] <= figures["max_ms"], figures


def _shared_ceilings(ceilings: dict[str, Any]) -> None:
    _positive(ceilings, *SHARED_CEILINGS)
    call_at = ceilings["loop_call_at"]
    assert call_at["never_early"] is True
    _positive(call_at, "armed_per_s")
    _percentiles(call_at["lateness"])


def test_every_benchmark_has_a_test_here() -> None:
    """A benchmark added to `cadenza.bench` without a tiny run below fails this."""
    tested = {
        name[len("test_bench_") :].split("_")[0]
        for name in globals()
        if name.startswith("test_bench_")
    }
    assert set(BENCHMARKS) <= tested


def test_bench_throughput_tiny_prints_workflows_per_s_beside_the_ceilings(tmp_path: Path) -> None:
    """Workflows/s, CPU per workflow and start-to-done percentiles, beside the shared ceilings."""
    report = _bench(tmp_path, "throughput")
    figures = report["figures"]
    assert figures["workflows"] == report["sizes"]["workflows"] == 60
    _positive(figures, "workflows_per_s", "cpu_ms_per_workflow", "records_per_workflow")
    _percentiles(figures["start_to_done"])
    assert figures["durability"] == "full"
    _shared_ceilings(report["ceilings"])


def test_bench_throughput_batch_tiny_starts_with_start_many_or_says_unavailable(
    tmp_path: Path,
) -> None:
    """`--batch` uses `rt.start_many` where the Runtime has it, and says so where it has not."""
    report = _bench(tmp_path, "throughput", "--batch")
    figures = report["figures"]
    if figures.get("start_many") == "unavailable":
        assert figures["mode"] == "batch"
    else:
        assert figures["mode"].startswith("rt.start_many")
        _positive(figures, "workflows_per_s")
    _shared_ceilings(report["ceilings"])


def test_bench_journal_tiny_prints_records_per_s_as_a_percentage_of_executemany(
    tmp_path: Path,
) -> None:
    """Records/s with 64 appenders per durability, beside raw executemany at the same level,
    and beside what the same appenders reach with a commit that writes nothing (the bound
    the loop side alone sets)."""
    report = _bench(tmp_path, "journal")
    figures, ceilings = report["figures"], report["ceilings"]
    assert figures["appenders"] == 64
    _positive(figures, "without_sqlite_records_per_s")
    for level in ("full", "normal"):
        _positive(
            figures[level],
            "records_per_s",
            "commits_per_s",
            "percent_of_executemany",
            "without_sqlite_percent_of_executemany",
        )
        assert figures[level]["records"] == 64 * figures["per_appender"]
        _positive(ceilings[level], *SHARED_CEILINGS[:2])


def test_bench_timers_tiny_fires_every_wait_none_early(tmp_path: Path) -> None:
    """Lateness, arming rate, memory per parked run and idle CPU, beside `loop.call_at`."""
    report = _bench(tmp_path, "timers")
    figures = report["figures"]
    assert figures["timers"] == 200
    assert figures["none_early"] is True
    assert figures["early"] == 0
    assert (figures["fired"], figures["unfinished"]) == (200, 0)
    assert figures["armed_before_window"] is True, figures["attempts"]
    assert 0 < figures["window_s"] <= 1.0 + 0.5
    assert not figures["attempts"][-1]["aborted"]
    _percentiles(figures["lateness_event"])
    _percentiles(figures["lateness_durable"])
    _positive(figures, "arming_per_s", "idle_s")
    assert figures["idle_cpu_percent_of_a_core"] >= 0
    assert figures["rss_bytes_per_parked_run"] is not None
    assert 50 <= figures["memory_measured_over"] <= 200
    assert figures["live_memory_measured_over"] == 100
    assert 0 < figures["live_bytes_per_parked_run"] < 100_000  # traced, not resident
    same = report["ceilings"]["loop_call_at_same_schedule"]
    assert same["timers"] == 200
    _percentiles(same["lateness"])
    _shared_ceilings(report["ceilings"])


def test_bench_groups_tiny_hands_out_in_priority_order(tmp_path: Path) -> None:
    """Hand-out rate and enqueue-to-start latency, beside bare heapq."""
    report = _bench(tmp_path, "groups")
    figures = report["figures"]
    assert figures["handed_out_in_order"] is True
    _positive(figures, "group_enqueue_per_s", "group_handout_per_s", "handout_vs_heapq")
    _percentiles(figures["enqueue_to_start"])
    _positive(report["ceilings"], "bare_heapq_push_pop_per_s")
    _shared_ceilings(report["ceilings"])


def test_bench_simulation_tiny_simulates_runs_without_violations(tmp_path: Path) -> None:
    """Runs per wall second and compression, beside the bare simulation loop."""
    report = _bench(tmp_path, "simulation")
    (row,) = report["figures"]["rates"]
    assert row["violations"] == []
    _positive(row, "runs", "runs_per_wall_s", "compression", "wall_ms_per_run")
    assert report["ceilings"]["bare_simulation_loop_compression"]["90.0"] > 0
    _shared_ceilings(report["ceilings"])


def test_an_explicit_size_wins_over_tiny() -> None:
    """`--tiny --workflows 50` runs 50 workflows; the other sizes stay tiny."""
    args = parser().parse_args(["bench", "throughput", "--tiny", "--workflows", "50"])
    sizes = resolve(args, BENCHMARKS["throughput"].SIZES)
    assert sizes["workflows"] == 50
    assert sizes["callers"] == 20


@pytest.mark.parametrize(
    "argv",
    [
        ["bench", "timers", "--timers", "0"],
        ["bench", "timers", "--due-within-s", "-1"],
        ["bench", "throughput", "--workflows", "many"],
        ["bench", "simulation", "--rates", "9,x"],
        ["bench", "nothing"],
    ],
)
def test_a_bad_bench_flag_is_one_line_and_exit_code_2(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """A size that is not positive, or an unknown benchmark, is refused before anything runs."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err


async def _start_many_one_by_one(
    self: cadenza.Runtime,
    name: str,
    inputs: list[dict[str, Any]],
    *,
    version: int | None = None,
    priority: int = 0,
    keys: list[str] | None = None,
) -> list[str]:
    """API.md's `start_many`, by `start` (for a Runtime that lacks it): the bench's batch path."""
    each: list[str | None] = list(keys) if keys is not None else [None] * len(inputs)
    return [
        await self.start(name, data, version=version, priority=priority, key=key)
        for data, key in zip(inputs, each, strict=True)
    ]


@pytest.fixture
def start_many(monkeypatch: pytest.MonkeyPatch) -> None:
    if not hasattr(cadenza.Runtime, "start_many"):
        monkeypatch.setattr(cadenza.Runtime, "start_many", _start_many_one_by_one, raising=False)


@pytest.mark.usefixtures("start_many")
def test_batch_mode_starts_every_workflow_through_start_many(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With `--batch`, throughput and timers arm through `rt.start_many` and see every run end."""
    monkeypatch.setenv("CADENZA_BENCH_DIR", str(tmp_path))
    for argv, name in (
        (["bench", "throughput", "--tiny", "--batch", "--workflows", "45"], "throughput"),
        (["bench", "timers", "--tiny", "--batch", "--timers", "120", "--lead-s", "2"], "timers"),
    ):
        figures = report(name, parser().parse_args(argv))["figures"]
        assert "start_many" not in figures, figures
        if name == "throughput":
            assert figures["mode"] == "rt.start_many, 20 a call"
            assert figures["workflows"] == 45
        else:
            assert figures["arming"] == "rt.start_many, 50 a call"
            assert figures["none_early"] is True
            assert figures["attempts"] == [{"lead_s": 2.0, "aborted": False}]  # --lead-s: one
