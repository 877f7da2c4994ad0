"""Invariant 6: same seed, same simulated run — the trace hash is identical."""

from __future__ import annotations

from cadenza.testing._simulation.sweep import run_seed
from cadenza.testing._simulation.trace import TraceDelivery


def test_the_same_seed_gives_the_same_trace_hash_twice() -> None:
    """For a few seeds (crashes and random failures included), two runs hash identically."""
    for seed in (0, 1, 7):
        first = run_seed(seed, duration_s=2.0, crashes_max=1)
        second = run_seed(seed, duration_s=2.0, crashes_max=1)
        assert first.deliveries > 100
        assert first.trace_hash == second.trace_hash, f"seed {seed} is not deterministic"
        assert first.violations == second.violations == []


def test_different_seeds_give_different_interleavings() -> None:
    """Five seeds give five different trace hashes."""
    hashes = {run_seed(seed, duration_s=1.0, crashes_max=0).trace_hash for seed in range(5)}
    assert len(hashes) == 5


def test_message_delays_keep_each_senders_order() -> None:
    """With delays on, a run is still deterministic and finds no violation."""
    first = run_seed(3, duration_s=2.0, delay_max_s=0.01)
    second = run_seed(3, duration_s=2.0, delay_max_s=0.01)
    assert first.trace_hash == second.trace_hash
    assert first.violations == []


def test_the_trace_hash_covers_sender_target_and_type() -> None:
    """Two traces differing only in one message's type hash differently."""
    a, b = TraceDelivery(), TraceDelivery()
    a.deliver("x", "y", 1, lambda: None)
    b.deliver("x", "y", "1", lambda: None)
    assert a.digest() != b.digest()
    assert list(a.lines) == ["x|y|int"]


def test_the_random_definitions_workload_is_deterministic() -> None:
    """Seeded definitions, operators, mutating workers and supervised restarts: one seed,
    one trace hash (with a crash and a group restart)."""
    for seed in (2,):
        first = run_seed(
            seed, workload="random_definitions", duration_s=4.0, rate_per_s=20.0, crashes_max=1
        )
        second = run_seed(
            seed, workload="random_definitions", duration_s=4.0, rate_per_s=20.0, crashes_max=1
        )
        assert first.deliveries > 100
        assert first.trace_hash == second.trace_hash, f"seed {seed} is not deterministic"
        assert first.violations == second.violations == []
