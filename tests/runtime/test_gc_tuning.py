"""The collector is tuned while a runtime is open and left as found after (`cadenza._gc`)."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest

import cadenza
from cadenza import _gc

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def collector_as_found() -> Iterator[None]:
    """Each test starts from CPython's defaults, unfrozen, and puts back what it found."""
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


def test_garbage_made_between_runtimes_is_not_frozen_by_the_next_one() -> None:
    """Before: each runtime opening froze whatever cyclic garbage was left uncollected, so a
    process opening runtime after runtime (the simulation's sweep workers) grew about 2 MB a
    runtime, to several GB, with nothing alive."""
    gc.disable()  # no collection may happen to run before `acquire` does its part
    try:
        for _ in range(3):  # runtime after runtime, as a sweep worker runs them
            _gc.acquire()
            garbage = _Cyclic()
            gone = weakref.ref(garbage)
            del garbage
            _gc.release()
        _gc.acquire()  # the next runtime: what the last one left is freed, not frozen
        assert gone() is None
        _gc.release()
    finally:
        gc.enable()
