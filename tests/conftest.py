"""Shared fixtures: a runtime on a virtual clock, over a real SQLite file."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import cadenza
from cadenza.testing import VirtualClock


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--run-slow", action="store_true", default=False, help="run soak and simulation runs"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="slow: opt in with --run-slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def three_steps(name: str = "three_steps", version: int = 1, **extra: Any) -> dict[str, Any]:
    """A Conductor definition of three SIMPLE tasks passing data along."""
    return {
        "name": name,
        "version": version,
        "tasks": [
            {
                "name": "step_a",
                "taskReferenceName": "a",
                "inputParameters": {"n": "${workflow.input.n}"},
            },
            {"name": "step_b", "taskReferenceName": "b", "inputParameters": {"n": "${a.output.n}"}},
            {"name": "step_c", "taskReferenceName": "c", "inputParameters": {"n": "${b.output.n}"}},
        ],
        "outputParameters": {"result": "${c.output.n}"},
        **extra,
    }


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(start=1_800_000_000.0)


@pytest.fixture
def db_path(tmp_path: Path) -> str:
    return str(tmp_path / "journal.db")


@pytest.fixture
async def rt(db_path: str, clock: VirtualClock) -> AsyncIterator[cadenza.Runtime]:
    async with cadenza.Runtime(db_path, clock=clock, seed=1) as runtime:
        yield runtime
