"""Fixtures shared by the journal tests: one open journal of each implementation."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cadenza.persistence import Journal
from tests.persistence._helpers import KINDS, make_journal


@pytest.fixture(params=KINDS)
async def journal(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Journal]:
    """An open journal of each implementation, closed after the test."""
    async with make_journal(request.param, tmp_path) as j:
        yield j
