"""The journal: an append-only, checksummed event log per stream, with group commit.

Layering: persistence stands alone. It imports nothing of `cadenza.runtime`
or `cadenza.actors`; events and snapshots are opaque JSON objects to it.

- `SqliteJournal` — the embedded default: one SQLite file in WAL mode.
- `MemoryJournal` — the same promises in memory, for tests and simulation.
- `PostgresJournal` — the same promises in a PostgreSQL database (extra
  `cadenza[postgres]`; the driver is imported when it opens).
- `open_journal(path)` — the journal a `Runtime` uses for `path`.
- `redact_url(path)` — `path` fit for a log line: a URL's password hidden.
"""

from __future__ import annotations

from cadenza.persistence._faults import InjectedFault, JournalFaults
from cadenza.persistence._journal import (
    Append,
    DefinitionRecord,
    DuplicateKey,
    Journal,
    JournalClosed,
    JournalStats,
    JournalWriteError,
    Loaded,
    OwnershipLost,
    StreamInfo,
)
from cadenza.persistence._memory import MemoryJournal
from cadenza.persistence._postgres import PostgresJournal
from cadenza.persistence._postgres_connect import is_postgres_url, redact_url
from cadenza.persistence._search import StreamQuery, count_streams, search_streams
from cadenza.persistence._sqlite import SqliteJournal

__all__ = [
    "Append",
    "DefinitionRecord",
    "DuplicateKey",
    "InjectedFault",
    "Journal",
    "JournalClosed",
    "JournalFaults",
    "JournalStats",
    "JournalWriteError",
    "Loaded",
    "MemoryJournal",
    "OwnershipLost",
    "PostgresJournal",
    "SqliteJournal",
    "StreamInfo",
    "StreamQuery",
    "count_streams",
    "open_journal",
    "redact_url",
    "search_streams",
]


def open_journal(path: str, *, durability: str = "full") -> Journal:
    """The journal for `path`: a `postgresql://` (or `postgres://`) URL gives a
    `PostgresJournal`, anything else a SQLite file (":memory:" a private,
    ephemeral SQLite database).

    The journal is not opened yet: use `async with open_journal(path) as journal:`
    or call `await journal.open()`.
    """
    if is_postgres_url(path):
        return PostgresJournal(path, durability=durability)
    return SqliteJournal(path, durability=durability)
