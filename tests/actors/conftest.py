"""Fixtures for the actor-kernel tests.

Systems are opened inside each test (`async with ActorSystem(...)`), not in a
fixture: an anyio task group must be left in the task that entered it.
"""

from __future__ import annotations

import pytest

from cadenza.actors import VirtualClock


@pytest.fixture
def vclock() -> VirtualClock:
    return VirtualClock()
