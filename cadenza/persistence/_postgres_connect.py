"""Reaching the PostgreSQL journal's database: URLs, the connections, the schema check.

`connect(url, durability)` opens the journal's two asyncpg pools — the
writer (one connection) and the readers — with `synchronous_commit` set
from the durability, after checking that the database holds no journal
schema this cadenza cannot read and creating what is missing
(`_postgres_schema`). Every failure to reach or log in to the server is
turned into `JournalUnavailable` naming the URL without its password;
nothing half-open is left behind.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from cadenza._errors import JournalCorrupted
from cadenza.persistence import _postgres_schema as sql
from cadenza.persistence._journal import JournalUnavailable

SCHEMES = ("postgresql://", "postgres://")
SYNCHRONOUS_COMMIT = {"full": "on", "normal": "off"}
CONNECT_TIMEOUT_S = 10.0


def is_postgres_url(path: str) -> bool:
    """Whether `path` names a PostgreSQL database rather than a SQLite file."""
    return path.startswith(SCHEMES)


def redact_url(url: str) -> str:
    """`url` with its password (if any) replaced by `***`, for messages and logs.

    Anything but a URL (a SQLite path) is returned as it is.
    """
    if "://" not in url:
        return url
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[-1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


async def connect(url: str, durability: str, *, read_connections: int) -> tuple[Any, Any]:
    """(the writer's pool, the readers' pool), the schema checked and created.

    Raises `JournalUnavailable` (server unreachable, login refused, no such
    database, driver missing) or `JournalCorrupted` (a schema of another
    version).
    """
    try:
        import asyncpg
    except ImportError as exc:  # pragma: no cover - the `postgres` extra is missing
        raise JournalUnavailable(
            redact_url(url),
            "the PostgreSQL driver is missing: pip install 'cadenza[postgres]'",
            exc,
        ) from exc
    settings = {
        "synchronous_commit": SYNCHRONOUS_COMMIT[durability],
        "application_name": "cadenza",
    }
    wpool: Any = None
    rpool: Any = None
    try:
        try:
            wpool = await asyncpg.create_pool(
                url, min_size=1, max_size=1, timeout=CONNECT_TIMEOUT_S, server_settings=settings
            )
            async with wpool.acquire() as conn:
                await _prepare(conn, redact_url(url))
            rpool = await asyncpg.create_pool(
                url,
                min_size=1,
                max_size=read_connections,
                timeout=CONNECT_TIMEOUT_S,
                server_settings=settings,
            )
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise JournalUnavailable(redact_url(url), _why(exc), exc) from exc
    except BaseException:
        for pool in (rpool, wpool):
            if pool is not None:
                pool.terminate()  # synchronous: nothing half-open stays behind
        raise
    return wpool, rpool


async def _prepare(conn: Any, where: str) -> None:
    """Check the database holds no journal we cannot read, then create what is missing."""
    found = None
    if await conn.fetchval(sql.HAS_SCHEMA):
        found = await conn.fetchval(sql.FOUND_SCHEMA_VERSION)
        found = "none" if found is None else found  # a meta table without a version row
    if found is not None and found != str(sql.SCHEMA_VERSION):
        raise JournalCorrupted(
            f"the database {where!r} has journal schema version {found!r} in schema "
            f"{sql.SCHEMA!r}, this cadenza reads only {sql.SCHEMA_VERSION!r} (a newer cadenza "
            "wrote it, or it is damaged); nothing was modified"
        )
    async with conn.transaction():
        await conn.execute(sql.DDL)


def _why(exc: BaseException) -> str:
    """A short reason for a failed connection or schema check."""
    name = type(exc).__name__
    if isinstance(exc, OSError):
        return "the server cannot be reached"
    if name in ("InvalidPasswordError", "InvalidAuthorizationSpecificationError"):
        return "the server refused the login"
    if name == "InvalidCatalogNameError":
        return "the database does not exist (create it first)"
    return "the server refused to open the journal"
