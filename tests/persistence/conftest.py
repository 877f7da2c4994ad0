"""Fixtures shared by the journal tests: one open journal of each implementation.

The PostgreSQL journal gets a fresh database of the session's private server
(`pg_url`, tests/conftest.py); the other kinds never start that server.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from cadenza.persistence import Journal
from tests.persistence._helpers import KINDS, make_journal


@pytest.fixture
def url_for(request: pytest.FixtureRequest) -> Callable[[str], str | None]:
    """`url_for(kind)`: a fresh database's URL for "postgres" (starting the server), else None."""

    def url_for(kind: str) -> str | None:
        if kind != "postgres":
            return None
        url: str = request.getfixturevalue("pg_url")
        return url

    return url_for


@pytest.fixture(params=KINDS)
def journal_kind(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    return kind


@pytest.fixture
def journal_url(journal_kind: str, url_for: Callable[[str], str | None]) -> str | None:
    return url_for(journal_kind)


@pytest.fixture
async def journal(
    journal_kind: str, journal_url: str | None, tmp_path: Path
) -> AsyncIterator[Journal]:
    """An open journal of each implementation, closed after the test."""
    async with make_journal(journal_kind, tmp_path, journal_url) as j:
        yield j
