"""The collector is tuned while a runtime is open and left as found after (`cadenza._gc`)."""

from __future__ import annotations

import gc
import sys
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest

import cadenza
from cadenza import _gc

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def collector_as_found(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test starts from CPython's defaults, unfrozen, in a process that has not yet
    collected for a runtime, and puts back what it found."""
    monkeypatch.setattr(_gc, "_collected_at", None)
    thresholds, frozen = gc.get_threshold(), gc.get_freeze_count()
    gc.unfreeze()
    gc.set_threshold(700, 10, 10)
    assert _gc.holders() == 0
    yield
    while _gc.holders():
        _gc.release()
    gc.set_threshold(*thresholds)
    if frozen:
        gc.freeze()


def test_acquire_freezes_and_raises_the_young_threshold_and_release_undoes_it() -> None:
    _gc.acquire()
    assert gc.get_threshold() == (_gc.YOUNG_THRESHOLD, 10, 10)
    assert gc.get_freeze_count() > 0
    _gc.release()
    assert gc.get_threshold() == (700, 10, 10)
    assert gc.get_freeze_count() == 0


def test_nested_holders_tune_once_and_the_last_release_restores() -> None:
    _gc.acquire()
    _gc.acquire()
    _gc.release()
    assert gc.get_threshold()[0] == _gc.YOUNG_THRESHOLD  # one runtime still open
    assert gc.get_freeze_count() > 0
    _gc.release()
    assert gc.get_threshold() == (700, 10, 10)
    assert gc.get_freeze_count() == 0
    _gc.release()  # an extra release is harmless
    assert gc.get_threshold() == (700, 10, 10)


def test_an_application_that_froze_objects_keeps_them_frozen() -> None:
    gc.freeze()
    frozen = gc.get_freeze_count()
    _gc.acquire()
    _gc.release()
    assert gc.get_freeze_count() == frozen
    assert gc.get_threshold() == (700, 10, 10)


def test_a_larger_young_threshold_set_by_the_application_is_kept() -> None:
    gc.set_threshold(50_000, 20, 30)
    _gc.acquire()
    assert gc.get_threshold() == (50_000, 20, 30)
    _gc.release()
    assert gc.get_threshold() == (50_000, 20, 30)


async def test_a_runtime_tunes_while_open_and_restores_on_close() -> None:
    async with cadenza.Runtime(":memory:", seed=1):
        assert gc.get_threshold()[0] == _gc.YOUNG_THRESHOLD
        assert gc.get_freeze_count() > 0
        async with cadenza.Runtime(":memory:", seed=2):
            pass
        assert gc.get_threshold()[0] == _gc.YOUNG_THRESHOLD  # the first is still open
    assert gc.get_threshold() == (700, 10, 10)
    assert gc.get_freeze_count() == 0


async def test_gc_tuning_false_leaves_the_collector_alone() -> None:
    async with cadenza.Runtime(":memory:", seed=1, gc_tuning=False):
        assert gc.get_threshold() == (700, 10, 10)
        assert gc.get_freeze_count() == 0


async def test_a_runtime_that_fails_to_open_restores_the_collector(tmp_path: Path) -> None:
    damaged = tmp_path / "not-a-journal.db"
    damaged.write_bytes(b"this is not a SQLite database" * 100)
    with pytest.raises(cadenza.CadenzaError):
        async with cadenza.Runtime(str(damaged)):
            pass
    assert gc.get_threshold() == (700, 10, 10)
    assert gc.get_freeze_count() == 0


class _Cyclic:
    """Garbage only the cyclic collector frees: it refers to itself."""

    def __init__(self) -> None:
        self.me = self
        self.load: list[object] = []


def _cyclic_garbage(blocks: int) -> weakref.ref[_Cyclic]:
    """Make about `blocks` allocated blocks of garbage only a full collection frees."""
    garbage = _Cyclic()
    garbage.load = [object() for _ in range(blocks)]
    return weakref.ref(garbage)


def test_the_first_opening_collects_before_it_freezes() -> None:
    gc.disable()  # no collection may happen to run before `acquire` does its part
    try:
        gone = _cyclic_garbage(10)
        _gc.acquire()
        assert gone() is None
        _gc.release()
    finally:
        gc.enable()


def test_garbage_made_between_runtimes_waits_at_most_a_quarter_of_the_heap() -> None:
    """Before: each runtime opening froze whatever cyclic garbage was left uncollected, so a
    process opening runtime after runtime (the simulation's sweep workers) grew about 2 MB a
    runtime, to several GB, with nothing alive."""
    per_runtime = 100_000
    gc.disable()  # no collection may happen to run but the one `acquire` decides on
    try:
        _gc.acquire()
        _gc.release()
        allowed = int(_gc.GROWTH_BEFORE_COLLECT * sys.getallocatedblocks() / per_runtime) + 2
        left = []
        for _ in range(40):  # runtime after runtime, as a sweep worker runs them
            left.append(_cyclic_garbage(per_runtime))
            _gc.acquire()
            waiting = sum(ref() is not None for ref in left)
            assert waiting <= allowed, f"{waiting} runtimes' garbage uncollected"
            _gc.release()
        assert left[0]() is None
    finally:
        gc.enable()


def test_an_opening_on_a_heap_that_barely_grew_does_not_walk_it() -> None:
    """A full collection walks every live object: about 60 ms in a test process, paid by every
    opening before, which put the default test run over its time budget."""
    gc.disable()
    try:
        _gc.acquire()
        _gc.release()
        waiting = _cyclic_garbage(10)
        _gc.acquire()
        assert waiting() is not None  # not collected: it is frozen until the release
        _gc.release()
    finally:
        gc.enable()
