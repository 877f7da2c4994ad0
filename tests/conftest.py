"""Shared fixtures: a runtime on a virtual clock, over a real SQLite file; a private PostgreSQL."""

from __future__ import annotations

import itertools
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

import cadenza
from cadenza.testing import VirtualClock
from tests._postgres import PostgresServer
from tests._postgres import missing as postgres_missing
from tests._settles import SettlesChecker


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


@pytest.fixture(autouse=True)
def settles_checked(monkeypatch: pytest.MonkeyPatch) -> Iterator[SettlesChecker]:
    """Every skipped confirming decide walk is made anyway and must find nothing
    (`tests/_settles.py`)."""
    checker = SettlesChecker()
    monkeypatch.setattr("cadenza.engine.run._actor.decide", checker.decide)
    monkeypatch.setattr("cadenza.engine.run._actor.settles", checker.settles)
    yield checker
    assert not checker.violations, "\n".join(checker.violations[:5])


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


def _postgres_unavailable() -> str | None:
    why = postgres_missing()
    try:
        import asyncpg  # noqa: F401
    except ImportError:
        why = why or "asyncpg is not installed: pip install -e '.[test]'"
    return why


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A private PostgreSQL server for the whole session (see tests/_postgres.py).

    Skips, with the reason, only when its binaries or driver cannot be had;
    under CI (`CI` set) that fails instead: .ci/run installs them.
    """
    why = _postgres_unavailable()
    if why is not None:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL tests cannot run in CI: {why}")
        pytest.skip(why)
    server = PostgresServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


_databases = itertools.count(1)


@pytest.fixture
def pg_url(postgres_server: PostgresServer) -> Iterator[str]:
    """The URL of a fresh, empty database on the private server, dropped after the test."""
    name = f"test_{os.getpid()}_{next(_databases)}"
    postgres_server.sql(f"CREATE DATABASE {name} TEMPLATE template0")
    yield postgres_server.url(name)
    postgres_server.sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
