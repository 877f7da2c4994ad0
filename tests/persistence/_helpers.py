"""Builders shared by the journal tests: journals of each kind, stream rows, appends."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cadenza.persistence import (
    Append,
    Journal,
    MemoryJournal,
    PostgresJournal,
    SqliteJournal,
    StreamInfo,
)

KINDS = ["sqlite-file", "sqlite-memory", "memory", "postgres"]


def make_journal(kind: str, tmp_path: Path, pg_url: str | None = None, **kwargs: Any) -> Journal:
    """A journal of `kind`, not opened; "postgres" needs the `pg_url` of a fresh database."""
    if kind == "sqlite-file":
        return SqliteJournal(str(tmp_path / "journal.db"), **kwargs)
    if kind == "sqlite-memory":
        return SqliteJournal(":memory:", **kwargs)
    if kind == "postgres":
        assert pg_url is not None, "the postgres journal needs the pg_url fixture"
        return PostgresJournal(pg_url, **kwargs)
    return MemoryJournal(**kwargs)


def info(
    stream_id: str,
    *,
    kind: str = "order",
    status: str = "RUNNING",
    terminal: bool = False,
    created_at: float = 100.0,
    key: str | None = None,
    correlation_id: str | None = None,
    priority: int = 0,
) -> StreamInfo:
    return StreamInfo(
        stream_id=stream_id,
        kind=kind,
        version=1,
        status=status,
        terminal=terminal,
        created_at=created_at,
        updated_at=created_at + 1,
        key=key,
        correlation_id=correlation_id,
        priority=priority,
    )


def append(
    stream_id: str,
    events: Sequence[dict[str, Any]] = (),
    *,
    snapshot: dict[str, Any] | None = None,
    **row: Any,
) -> Append:
    return Append(info(stream_id, **row), list(events), snapshot)
