"""The runs list's paged query on the current-state table, the same on every journal."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cadenza.persistence import Journal, StreamQuery, count_streams, search_streams
from tests.persistence._helpers import KINDS, append, make_journal


@pytest.fixture(params=KINDS)
async def journal(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Journal]:
    """Ten runs in a journal of each kind (PostgreSQL: a fresh database of the session's server)."""
    url = request.getfixturevalue("pg_url") if request.param == "postgres" else None
    async with make_journal(request.param, tmp_path, url) as j:
        for n in range(10):
            await j.append(
                append(
                    f"run-{n}{'%' if n == 3 else ''}",
                    [{"n": n}],
                    kind="order" if n < 7 else "refund",
                    status="COMPLETED" if n % 3 == 0 else "RUNNING",
                    terminal=n % 3 == 0,
                    created_at=100.0 + n,
                    key=f"key-{n}",
                    correlation_id=f"c{n % 2}",
                )
            )
        yield j


def ids(rows: list[object]) -> list[str]:
    return [row.stream_id for row in rows]  # type: ignore[attr-defined]


async def test_pages_are_newest_first_and_do_not_overlap(journal: Journal) -> None:
    query = StreamQuery(kind="order")
    first = await search_streams(journal, query, offset=0, limit=3)
    second = await search_streams(journal, query, offset=3, limit=3)
    last = await search_streams(journal, query, offset=6, limit=3)
    assert ids(first) == ["run-6", "run-5", "run-4"]
    assert ids(second) == ["run-3%", "run-2", "run-1"]
    assert ids(last) == ["run-0"]


async def test_each_filter_narrows_and_counts_leave_the_status_filter_out(journal: Journal) -> None:
    completed = StreamQuery(status="COMPLETED")
    assert ids(await search_streams(journal, completed)) == ["run-9", "run-6", "run-3%", "run-0"]
    assert await count_streams(journal, completed) == {"COMPLETED": 4, "RUNNING": 6}
    odd = StreamQuery(correlation_id="c1", kind="order")
    assert ids(await search_streams(journal, odd)) == ["run-5", "run-3%", "run-1"]
    assert await count_streams(journal, odd) == {"COMPLETED": 1, "RUNNING": 2}
    assert ids(await search_streams(journal, StreamQuery(key="key-8"))) == ["run-8"]
    assert ids(await search_streams(journal, StreamQuery(version=2))) == []
    window = StreamQuery(created_from=102.0, created_to=104.0)
    assert ids(await search_streams(journal, window)) == ["run-4", "run-3%", "run-2"]


async def test_id_text_matches_literally(journal: Journal) -> None:
    """'%' and '_' are the characters themselves, not SQL wildcards."""
    assert ids(await search_streams(journal, StreamQuery(id_text="%"))) == ["run-3%"]
    assert ids(await search_streams(journal, StreamQuery(id_text="_"))) == []
    assert ids(await search_streams(journal, StreamQuery(id_text="n-7"))) == ["run-7"]


async def test_a_negative_page_is_refused(journal: Journal) -> None:
    with pytest.raises(ValueError, match="must not be negative"):
        await search_streams(journal, StreamQuery(), offset=-1)
