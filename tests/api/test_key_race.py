"""Idempotency keys raced by another process: the key lookup says "free", the commit says
"taken". A start that loses the race answers the run holding the key, as a start that found
it at once does; nothing crashes, no second run is made, and the winner is the only run."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

import cadenza
from cadenza.persistence import Append, Journal, StreamInfo
from tests._logs import capture_logs
from tests.conftest import three_steps


@pytest.fixture(params=["sqlite", "postgres"])
async def url(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield str(tmp_path / "race.db")
    else:
        yield request.getfixturevalue("pg_url")


def lose_the_race(journal: Journal, winner: str) -> None:
    """The first lookup of each key finds it free, and another process's run (`winner`, one
    record holding the key) commits right after it: the start that looked is too late."""
    looked: set[str] = set()
    find_key = journal.find_key

    async def racing(key: str) -> str | None:
        if key in looked:
            return await find_key(key)
        looked.add(key)
        info = StreamInfo(winner, "three_steps", 1, "RUNNING", False, 0.0, 0.0, key=key)
        await journal.append(Append(info=info, events=[]))
        return None

    async def racing_many(keys: Any) -> dict[str, str]:
        found = {key: await racing(key) for key in dict.fromkeys(keys)}
        return {key: holder for key, holder in found.items() if holder is not None}

    journal.find_key = racing  # type: ignore[method-assign]
    journal.find_keys = racing_many  # type: ignore[method-assign]


async def test_a_start_that_loses_its_key_to_another_process_answers_the_winner(
    url: str,
) -> None:
    async with cadenza.Runtime(url) as rt:
        await rt.register(three_steps())
        journal = rt._engine.journal
        lose_the_race(journal, "winner-run")
        with capture_logs() as logs:
            assert await rt.start("three_steps", {"n": 1}, key="order-1") == "winner-run"
            assert await rt.start("three_steps", {"n": 1}, key="order-1") == "winner-run"
        assert [e for e in logs if e["log_level"] in ("error", "warning")] == []
        assert [row.stream_id for row in await journal.unfinished_rows()] == ["winner-run"]


async def test_start_many_items_that_lose_their_key_answer_the_winner(url: str) -> None:
    async with cadenza.Runtime(url) as rt:
        await rt.register(three_steps())
        journal = rt._engine.journal
        lose_the_race(journal, "winner-run")
        with capture_logs() as logs:
            ids = await rt.start_many(
                "three_steps", [{"n": 1}, {"n": 2}], keys=["order-1", "order-1"]
            )
        assert ids == ["winner-run", "winner-run"]
        assert [e for e in logs if e["log_level"] in ("error", "warning")] == []
