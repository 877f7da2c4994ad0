"""`cadenza simulate`: a sweep prints its figures; a replay prints a readable trace."""

from __future__ import annotations

import pytest

from cadenza.cli import main


def test_simulate_prints_seeds_hours_compression_violations_and_a_trace_hash(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Two seeds of the Conductor-like load: no violation, exit status 0, one summary line."""
    assert main(["simulate", "--workload", "conductor", "--seeds", "2", "--hours", "0.0003"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "2 seeds" in out
    assert "simulated hours" in out
    assert "compression" in out
    assert "0 violations" in out
    assert "trace " in out


def test_simulate_replay_prints_the_trace_of_one_seed(capsys: pytest.CaptureFixture[str]) -> None:
    """--replay SEED prints sender|target|MessageType lines and the seed's trace hash."""
    assert main(["simulate", "--hours", "0.0003", "--replay", "5", "--trace-lines", "3"]) == 0
    out = capsys.readouterr().out
    assert out.count("|") >= 6
    assert "seed 5:" in out
