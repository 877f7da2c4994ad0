"""The journal's fault points: failing commits in bounded bursts, a crash at the k-th append."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from cadenza.persistence import JournalFaults, JournalWriteError, MemoryJournal, SqliteJournal
from tests.persistence._helpers import append


def test_failing_commits_come_in_bounded_bursts() -> None:
    """With fail_p near 1, at most fail_burst_max commits in a row fail; the next gets through."""
    faults = JournalFaults(random.Random(1), fail_p=0.99, fail_burst_max=3)
    outcomes = []
    for _ in range(40):
        try:
            faults.before_commit("s")
            outcomes.append(True)
        except OSError:
            outcomes.append(False)
    runs = "".join("x" if ok else "f" for ok in outcomes).split("x")
    assert max(len(run) for run in runs) == 3
    assert outcomes.count(True) >= 9


async def test_a_failed_commit_writes_nothing_and_the_next_append_succeeds() -> None:
    journal = MemoryJournal()
    journal.faults = JournalFaults(random.Random(0), fail_p=0.999, fail_burst_max=1)
    async with journal:
        with pytest.raises(JournalWriteError) as failed:
            await journal.append(append("a"))
        assert failed.value.transient
        assert await journal.load("a") is None
        assert await journal.append(append("a")) == 1
        assert (await journal.load("a")) is not None


@pytest.mark.parametrize("seed", range(6))
async def test_a_crash_at_the_kth_append_keeps_the_image_of_that_instant(seed: int) -> None:
    """The image holds k-1 or k records; the k-th and every later append fail for good."""
    images: list[MemoryJournal] = []
    journal = MemoryJournal()
    journal.faults = JournalFaults(random.Random(seed), crash_at=3, on_crash=images.append)
    async with journal:
        assert [await journal.append(append(f"s{i}")) for i in range(2)] == [1, 2]
        for _ in range(2):
            with pytest.raises(JournalWriteError) as dead:
                await journal.append(append("late"))
            assert not dead.value.transient
    assert len(images) == 1
    assert images[0]._store.last_seq in (2, 3)
    assert journal.faults.crashed


async def test_a_failing_sqlite_commit_writes_nothing_of_its_round(tmp_path: Path) -> None:
    """On a real WAL file, an injected commit failure is a transient JournalWriteError."""
    journal = SqliteJournal(str(tmp_path / "j.db"))
    journal.faults = JournalFaults(random.Random(0), fail_p=0.999, fail_burst_max=1)
    async with journal:
        with pytest.raises(JournalWriteError) as failed:
            await journal.append(append("a", [{"n": 1}]))
        assert failed.value.transient
        assert await journal.load("a") is None
        assert await journal.append(append("a", [{"n": 2}])) == 1
        loaded = await journal.load("a")
        assert loaded is not None
        assert list(loaded.events) == [{"n": 2}]
    async with SqliteJournal(str(tmp_path / "j.db")) as reopened:
        assert (await reopened.load("a")) is not None
