"""Paged, filtered reads of the current-state table (`streams`), for listings.

The dashboard's runs list asks for one page of rows and the count of rows
per status under the same filters. Both are answered from the `streams`
table (one row per run, kept current by every commit), never by reading
the event log, so a page costs the same with ten runs or a million.

`search_streams(journal, query, offset=, limit=)` and
`count_streams(journal, query)` use SQL on a `SqliteJournal` or a
`PostgresJournal` and fall back to filtering `journal.streams()` in Python
on any other journal (the in-memory one, for tests). Every value travels as an SQL parameter; only
column names from this module are ever spliced into a statement.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cadenza.persistence import _postgres_schema as pg
from cadenza.persistence._journal import Journal, StreamInfo
from cadenza.persistence._postgres import PostgresJournal
from cadenza.persistence._schema import STREAM_COLUMNS, fetchall, info_from_row
from cadenza.persistence._sqlite import SqliteJournal

_FALLBACK_ROWS_MAX = 1_000_000


@dataclass(frozen=True, slots=True)
class StreamQuery:
    """Filters over stream rows; None means "any". Times are epoch seconds, inclusive."""

    kind: str | None = None
    version: int | None = None
    status: str | None = None
    correlation_id: str | None = None
    key: str | None = None
    created_from: float | None = None
    created_to: float | None = None
    id_text: str | None = None  # a substring of the stream id
    not_kind: str | None = None  # rows of this kind are left out (schedules' own rows)

    def keeps(self, row: StreamInfo, *, status: bool = True) -> bool:
        """The row matches (the status filter left out unless `status`)."""
        return (
            (self.kind is None or row.kind == self.kind)
            and (self.version is None or row.version == self.version)
            and (not status or self.status is None or row.status == self.status)
            and (self.correlation_id is None or row.correlation_id == self.correlation_id)
            and (self.key is None or row.key == self.key)
            and (self.created_from is None or row.created_at >= self.created_from)
            and (self.created_to is None or row.created_at <= self.created_to)
            and (self.id_text is None or self.id_text in row.stream_id)
            and (self.not_kind is None or row.kind != self.not_kind)
        )


def _where(
    query: StreamQuery, *, status: bool = True, dollar: bool = False
) -> tuple[str, list[Any]]:
    """The WHERE clause and its parameters; `dollar`: PostgreSQL's `$n` placeholders."""
    clauses: list[str] = []
    params: list[Any] = []

    def bind(value: Any) -> str:
        params.append(value)
        return f"${len(params)}" if dollar else "?"

    for column, value in (
        ("kind", query.kind),
        ("version", query.version),
        ("status", query.status if status else None),
        ("correlation_id", query.correlation_id),
        ("key", query.key),
    ):
        if value is not None:
            clauses.append(f"{column} = {bind(value)}")
    if query.created_from is not None:
        clauses.append(f"created_at >= {bind(query.created_from)}")
    if query.created_to is not None:
        clauses.append(f"created_at <= {bind(query.created_to)}")
    if query.not_kind is not None:
        clauses.append(f"kind <> {bind(query.not_kind)}")
    if query.id_text is not None:
        # instr/strpos, not LIKE: '%' and '_' in the text are matched as themselves
        position = "strpos" if dollar else "instr"
        clauses.append(f"{position}(stream_id, {bind(query.id_text)}) > 0")
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def _check_page(offset: int, limit: int) -> None:
    if offset < 0 or limit < 0:
        raise ValueError(f"offset and limit must not be negative, got {offset} and {limit}")


async def search_streams(
    journal: Journal, query: StreamQuery, *, offset: int = 0, limit: int = 50
) -> list[StreamInfo]:
    """One page of matching rows, newest first (by creation time, then creation order)."""
    _check_page(offset, limit)
    if isinstance(journal, PostgresJournal):
        where, params = _where(query, dollar=True)
        n = len(params)
        sql = (
            f"SELECT {STREAM_COLUMNS} FROM {pg.SCHEMA}.streams{where} "
            f"ORDER BY created_at DESC, created_order DESC LIMIT ${n + 1} OFFSET ${n + 2}"
        )
        async with journal._reading() as conn:
            found = await conn.fetch(sql, *params, limit, offset)
        return [info_from_row(row) for row in found]
    if isinstance(journal, SqliteJournal):
        where, params = _where(query)
        sql = (
            f"SELECT {STREAM_COLUMNS} FROM streams{where} "
            "ORDER BY created_at DESC, created_order DESC LIMIT ? OFFSET ?"
        )
        async with journal._reading() as conn:
            rows = await fetchall(conn, sql, (*params, limit, offset))
        return [info_from_row(row) for row in rows]
    found = [row for row in await journal.streams(limit=_FALLBACK_ROWS_MAX) if query.keeps(row)]
    return found[offset : offset + limit]


async def count_streams(journal: Journal, query: StreamQuery) -> dict[str, int]:
    """How many rows match, by status, with the query's status filter left out."""
    if isinstance(journal, PostgresJournal):
        where, params = _where(query, status=False, dollar=True)
        sql = f"SELECT status, count(*) FROM {pg.SCHEMA}.streams{where} GROUP BY status"
        async with journal._reading() as conn:
            found = await conn.fetch(sql, *params)
        return {str(row[0]): int(row[1]) for row in found}
    if isinstance(journal, SqliteJournal):
        where, params = _where(query, status=False)
        sql = f"SELECT status, count(*) FROM streams{where} GROUP BY status"
        async with journal._reading() as conn:
            rows = await fetchall(conn, sql, tuple(params))
        return {str(status): int(count) for status, count in rows}
    counts: dict[str, int] = {}
    for row in await journal.streams(limit=_FALLBACK_ROWS_MAX):
        if query.keeps(row, status=False):
            counts[row.status] = counts.get(row.status, 0) + 1
    return counts
