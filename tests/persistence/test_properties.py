"""Property: `load` is the latest snapshot plus exactly the events appended after it."""

from __future__ import annotations

import itertools
from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cadenza.persistence import Journal, MemoryJournal, PostgresJournal, SqliteJournal
from tests.persistence._helpers import append

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=6,
)
events = st.lists(st.dictionaries(st.text(max_size=4), json_values, max_size=3), max_size=3)
# One step: (stream number, events of the record, take a snapshot after it?)
steps = st.lists(st.tuples(st.integers(0, 2), events, st.booleans()), max_size=25)


def _journal(kind: str, url: str | None = None) -> Journal:
    if kind == "postgres":
        assert url is not None
        return PostgresJournal(url)
    return MemoryJournal() if kind == "memory" else SqliteJournal(":memory:")


async def _check(
    kind: str,
    plan: list[tuple[int, list[dict[str, Any]], bool]],
    url: str | None = None,
    prefix: str = "",
) -> None:
    """`prefix` keeps the streams of examples sharing one database apart."""
    by_stream: dict[str, list[tuple[list[dict[str, Any]], bool]]] = {}
    for number, evs, snap in plan:
        by_stream.setdefault(f"{prefix}run-{number}", []).append((evs, snap))
    expected: dict[str, tuple[dict[str, Any] | None, list[dict[str, Any]]]] = {}
    for sid, records in by_stream.items():
        snapshot: dict[str, Any] | None = None
        after: list[dict[str, Any]] = []
        history: list[dict[str, Any]] = []
        for evs, snap in records:
            history.extend(evs)
            after.extend(evs)
            if snap:
                snapshot, after = {"history": list(history)}, []
        expected[sid] = (snapshot, after)

    async with _journal(kind, url) as journal:

        async def write(sid: str) -> None:  # one stream's records, in order
            history: list[dict[str, Any]] = []
            for i, (evs, snap) in enumerate(by_stream[sid]):
                history.extend(evs)
                snapshot = {"history": list(history)} if snap else None
                await journal.append(append(sid, evs, snapshot=snapshot, status=f"s{i}"))

        async with anyio.create_task_group() as tg:  # streams concurrently: group commit
            for sid in by_stream:
                tg.start_soon(write, sid)
        assert journal.stats.records == len(plan)
        for sid, (snapshot, after) in expected.items():
            loaded = await journal.load(sid)
            assert loaded is not None
            assert loaded.snapshot == snapshot
            assert loaded.events == after
            assert loaded.info.status == f"s{len(by_stream[sid]) - 1}"
        unfinished = [sid for sid in await journal.unfinished() if sid.startswith(prefix)]
        assert sorted(unfinished) == sorted(by_stream)


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plan=steps)
def test_load_is_the_last_snapshot_plus_later_events(
    kind: str, plan: list[tuple[int, list[dict[str, Any]], bool]]
) -> None:
    """For any appends over a few streams with random snapshots, load reconstructs them."""
    anyio.run(_check, kind, plan)


_examples = itertools.count()


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(plan=steps)
def test_load_is_the_last_snapshot_plus_later_events_on_postgres(
    pg_url: str, plan: list[tuple[int, list[dict[str, Any]], bool]]
) -> None:
    """The same property on PostgreSQL: the examples share one database, each its own streams."""
    anyio.run(_check, "postgres", plan, pg_url, f"ex{next(_examples)}-")
