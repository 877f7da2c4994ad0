"""The `Journal` promises, checked on every implementation."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from cadenza._errors import PayloadError
from cadenza.persistence import (
    Append,
    DuplicateKey,
    Journal,
    JournalClosed,
    MemoryJournal,
    SqliteJournal,
)
from tests.persistence._helpers import KINDS, append, info, make_journal


async def test_append_then_load_round_trips_events_and_row(journal: Journal) -> None:
    """What was appended is what `load` returns, events and stream row alike."""
    events = [{"type": "started", "input": {"n": 1, "s": "é☃", "l": [1.5, None, True]}}]
    seq = await journal.append(append("run-1", events, key="k-1", correlation_id="c"))
    loaded = await journal.load("run-1")
    assert seq == 1
    assert loaded is not None
    assert loaded.events == events
    assert loaded.snapshot is None
    assert loaded.info == info("run-1", key="k-1", correlation_id="c")
    assert await journal.info("run-1") == loaded.info


async def test_unknown_stream_loads_as_none(journal: Journal) -> None:
    """A stream never appended to has no history and no row."""
    assert await journal.load("nope") is None
    assert await journal.info("nope") is None
    assert await journal.find_key("nope") is None


async def test_records_of_a_stream_come_back_in_append_order(journal: Journal) -> None:
    """Interleaved appends to several streams keep each stream's order; seq grows globally."""
    seqs = []
    for i in range(12):
        sid = f"run-{i % 3}"
        seqs.append(await journal.append(append(sid, [{"i": i}, {"i": i, "second": True}])))
    assert seqs == list(range(1, 13))
    for r in range(3):
        loaded = await journal.load(f"run-{r}")
        assert loaded is not None
        assert [e["i"] for e in loaded.events] == [i for i in range(12) if i % 3 == r for _ in "ab"]
    assert journal.stats.records == 12
    assert journal.stats.events == 24


async def test_load_starts_from_the_latest_snapshot(journal: Journal) -> None:
    """Events up to a snapshot are folded into it; only later events are returned."""
    await journal.append(append("run", [{"i": 1}]))
    await journal.append(append("run", [{"i": 2}], snapshot={"upto": 2}))
    await journal.append(append("run", [{"i": 3}]))
    await journal.append(append("run", [{"i": 4}], snapshot={"upto": 4}))
    await journal.append(append("run", [{"i": 5}]))
    await journal.append(append("run", [{"i": 6}], status="DONE"))
    loaded = await journal.load("run")
    assert loaded is not None
    assert loaded.snapshot == {"upto": 4}
    assert loaded.events == [{"i": 5}, {"i": 6}]
    assert loaded.info.status == "DONE"


async def test_streams_filter_and_list_newest_first(journal: Journal) -> None:
    """Filters combine; order is created_at descending, ties broken by creation order."""
    await journal.append(append("a", kind="order", created_at=1.0, correlation_id="x"))
    await journal.append(append("b", kind="order", created_at=3.0))
    await journal.append(append("c", kind="ship", created_at=2.0, correlation_id="x"))
    await journal.append(append("d", kind="order", created_at=3.0, status="DONE", terminal=True))
    await journal.append(append("e", kind="order", created_at=3.0))

    async def ids(**filters: object) -> list[str]:
        return [s.stream_id for s in await journal.streams(**filters)]  # type: ignore[arg-type]

    assert await ids() == ["e", "d", "b", "c", "a"]
    assert await ids(kind="order") == ["e", "d", "b", "a"]
    assert await ids(kind="order", terminal=False) == ["e", "b", "a"]
    assert await ids(terminal=True) == ["d"]
    assert await ids(status="DONE") == ["d"]
    assert await ids(correlation_id="x") == ["c", "a"]
    assert await ids(kind="ship", correlation_id="x") == ["c"]
    assert await ids(limit=2) == ["e", "d"]
    assert await ids(limit=0) == []
    with pytest.raises(ValueError, match="limit"):
        await journal.streams(limit=-1)


async def test_unfinished_lists_streams_not_terminal_oldest_first(journal: Journal) -> None:
    """A stream leaves `unfinished` when its latest row is terminal."""
    await journal.append(append("late", created_at=5.0))
    await journal.append(append("early", created_at=1.0))
    await journal.append(append("done", created_at=0.5))
    await journal.append(append("done", created_at=0.5, status="DONE", terminal=True))
    await journal.append(append("tie", created_at=5.0))
    assert await journal.unfinished() == ["early", "late", "tie"]


async def test_an_idempotency_key_belongs_to_one_stream(journal: Journal) -> None:
    """A key held by one stream is refused to another, kept on re-append, freed on release."""
    await journal.append(append("a", key="K"))
    await journal.append(append("a", [{"again": 1}], key="K"))
    with pytest.raises(DuplicateKey) as caught:
        await journal.append(append("b", [{"lost": 1}], key="K"))
    assert (caught.value.key, caught.value.holder) == ("K", "a")
    assert "'K'" in str(caught.value)
    assert "'a'" in str(caught.value)
    assert await journal.load("b") is None
    assert await journal.find_key("K") == "a"
    await journal.append(append("a", key=None))  # the row no longer carries the key
    assert await journal.find_key("K") is None
    await journal.append(append("b", key="K"))
    assert await journal.find_key("K") == "b"


async def test_find_keys_answers_the_held_keys_of_many_in_one_call(journal: Journal) -> None:
    """`find_keys` (the batch start's lookup): each held key's stream; free keys left out."""
    await journal.append(append("a", key="K1"))
    await journal.append(append("b", key="K2"))
    assert await journal.find_keys(["K2", "free", "K1", "K2"]) == {"K1": "a", "K2": "b"}
    assert await journal.find_keys([]) == {}


async def test_duplicate_key_fails_only_that_append_of_a_concurrent_batch(
    journal: Journal,
) -> None:
    """Appends sharing a transaction with a refused one are written regardless."""
    await journal.append(append("holder", key="K"))
    before = journal.stats.commits
    outcomes: dict[str, object] = {}

    async def attempt(sid: str, key: str | None) -> None:
        try:
            outcomes[sid] = await journal.append(append(sid, [{"sid": sid}], key=key))
        except DuplicateKey as exc:
            outcomes[sid] = exc

    async with anyio.create_task_group() as tg:
        tg.start_soon(attempt, "lead", None)
        tg.start_soon(attempt, "x", "K")
        tg.start_soon(attempt, "y", "fresh")
        tg.start_soon(attempt, "z", "fresh")
        tg.start_soon(attempt, "w", None)
    assert isinstance(outcomes["x"], DuplicateKey)
    assert isinstance(outcomes["z"], DuplicateKey)
    assert outcomes["z"].holder == "y"
    for sid in ("lead", "y", "w"):
        assert isinstance(outcomes[sid], int)
        loaded = await journal.load(sid)
        assert loaded is not None
        assert loaded.events == [{"sid": sid}]
    assert await journal.load("x") is None
    assert await journal.load("z") is None
    assert await journal.find_key("fresh") == "y"
    assert journal.stats.records == 4
    if isinstance(journal, SqliteJournal):  # all five were gathered into one transaction
        assert journal.stats.commits - before == 1
        assert journal.stats.largest_batch == 3


@pytest.mark.parametrize(
    ("bad", "fragment"),
    [
        ({"events": [{"s": {1, 2}}]}, "events of stream 'run'"),
        ({"events": [{"f": math.nan}]}, "events of stream 'run'"),
        ({"events": [{"f": math.inf}]}, "events of stream 'run'"),
        ({"events": [["not", "an", "object"]]}, "event 0"),
        ({"events": "string"}, "sequence of JSON objects"),
        ({"snapshot": {"when": object()}}, "snapshot of stream 'run'"),
    ],
)
async def test_payload_error_leaves_nothing_written(
    journal: Journal, bad: dict[str, object], fragment: str
) -> None:
    """A value that is not JSON fails its append before anything is queued or written."""
    events = bad.get("events", [{"ok": 1}])
    snapshot = bad.get("snapshot")
    with pytest.raises(PayloadError, match=fragment) as caught:
        await journal.append(Append(info("run"), events, snapshot))  # type: ignore[arg-type]
    assert isinstance(caught.value, TypeError)  # PayloadError is also a TypeError
    assert "nothing was journaled" in str(caught.value) or "expected" in str(caught.value)
    assert await journal.load("run") is None
    assert journal.stats.records == 0
    assert await journal.append(append("run", [{"ok": 1}])) == 1  # no seq was used up


async def test_definitions_dedupe_by_digest_and_latest_wins(journal: Journal) -> None:
    """Bodies are stored once per digest; re-registering (name, version) replaces it."""
    v1 = await journal.put_definition("flow", 1, {"tasks": [1], "name": "flow"})
    same = await journal.put_definition("flow", 1, {"name": "flow", "tasks": [1]})
    assert same.digest == v1.digest  # key order does not matter
    other = await journal.put_definition("other", 1, {"tasks": []})
    v1b = await journal.put_definition("flow", 1, {"tasks": [1, 2], "name": "flow"})
    assert v1b.digest != v1.digest
    v2 = await journal.put_definition("flow", 2, {"tasks": [3]})
    listed = await journal.definitions()
    assert [(d.name, d.version, d.digest) for d in listed] == [
        ("other", 1, other.digest),
        ("flow", 1, v1b.digest),
        ("flow", 2, v2.digest),
    ]
    assert listed[1].body == {"tasks": [1, 2], "name": "flow"}
    old = await journal.definition_by_digest(v1.digest)  # runs started on v1 still find it
    assert old is not None
    assert old.body == {"tasks": [1], "name": "flow"}
    assert await journal.definition_by_digest("0" * 64) is None
    with pytest.raises(PayloadError, match="definition 'bad' version 1"):
        await journal.put_definition("bad", 1, {"x": {1}})


@pytest.mark.parametrize("kind", KINDS)
async def test_a_closed_journal_refuses_use_and_close_is_idempotent(
    kind: str, tmp_path: Path, url_for: Callable[[str], str | None]
) -> None:
    """Using a journal before open() or after close() raises JournalClosed."""
    j = make_journal(kind, tmp_path, url_for(kind))
    with pytest.raises(JournalClosed, match="not open"):
        await j.append(append("a"))
    await j.close()  # closing a journal never opened is harmless
    async with j:
        await j.append(append("a"))
    await j.close()
    with pytest.raises(JournalClosed, match="closed"):
        await j.append(append("b"))
    with pytest.raises(JournalClosed):
        await j.load("a")
    with pytest.raises(JournalClosed):
        await j.put_definition("a", 1, {})
    await j.flush()  # nothing pending: flushing a closed journal is a no-op


async def test_memory_crash_copy_holds_everything_appended() -> None:
    """The memory journal's crash copy is a separate journal with every durable record."""
    j = MemoryJournal()
    async with j:
        await j.append(append("a", [{"i": 1}], key="K"))
        await j.put_definition("flow", 1, {"t": 1})
        copy = j.crash_copy()
        await j.append(append("a", [{"i": 2}]))
    async with copy:
        loaded = await copy.load("a")
        assert loaded is not None
        assert loaded.events == [{"i": 1}]
        assert await copy.find_key("K") == "a"
        assert [d.name for d in await copy.definitions()] == ["flow"]
        assert await copy.append(append("b")) == 2
    async with j:  # reopening the same memory journal keeps its contents
        loaded = await j.load("a")
        assert loaded is not None
        assert loaded.events == [{"i": 1}, {"i": 2}]


async def test_last_seq_is_the_newest_records_seq(journal: Journal) -> None:
    """`last_seq` tells one opening of a journal from the next (seeded run ids use it)."""
    assert await journal.last_seq() == 0
    first = await journal.append(append("s1", [{"n": 1}]))
    second = await journal.append(append("s2", [{"n": 2}]))
    assert await journal.last_seq() == second > first
