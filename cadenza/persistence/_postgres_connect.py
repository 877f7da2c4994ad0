"""Reaching the PostgreSQL journal's database: URLs, the connections, the schema check.

`connect(url, durability)` opens the journal's connections — the writer
(one connection, opened again if it breaks) and a pool of readers — with `synchronous_commit` set
from the durability, after checking that the database holds no journal
schema this cadenza cannot read and creating what is missing
(`_postgres_schema`). Every failure to reach or log in to the server is
turned into `JournalUnavailable` naming the URL without its password;
nothing half-open is left behind.

One owner
---------
An *exclusive* journal (the default, and what a `Runtime` opens until runs
are shared between processes through partition leases) has one owning
process, as a SQLite journal has: its writer connection holds a
session-level advisory lock on the database for as long as it lives, and
writes its pid and host into `meta`. A second opener waits up to
`OWNER_WAIT_S` for the lock (long enough for the server to notice that a
SIGKILLed owner's connection is gone, which releases it), then gets
`JournalBusy` naming the owner. The lock is taken again by every new writer
connection (`Writer`), so a writer that lost its connection and
finds another owner in its place fails its writes instead of sharing.
"""

from __future__ import annotations

import os
import socket
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import anyio

from cadenza._errors import JournalBusy, JournalCorrupted
from cadenza.persistence import _postgres_schema as sql
from cadenza.persistence._faults import InjectedFault
from cadenza.persistence._journal import JournalUnavailable

SCHEMES = ("postgresql://", "postgres://")
SYNCHRONOUS_COMMIT = {"full": "on", "normal": "off"}
CONNECT_TIMEOUT_S = 10.0
OWNER_WAIT_S = 2.0
# The schema DDL, run at an open that does not find it applied (`DDL_DIGEST`), locks tables that exist (CREATE INDEX IF NOT EXISTS
# takes a ShareLock before it finds the index) and upserts rows every commit round locks:
# beside serving processes it can deadlock with a round, or stall their writes while it
# waits. It waits at most DDL_LOCK_WAIT_MS for a lock, and is retried after a growing
# pause (a deadlock or a lock wait given up: SQLSTATE 40P01, 55P03).
DDL_LOCK_WAIT_MS = 1000
DDL_ATTEMPTS = 30
DDL_RETRY_S = 0.05
DDL_RETRIED = frozenset({"40P01", "55P03"})


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


class Writer:
    """The journal's one write connection, opened again when it broke.

    Each new connection of an exclusive journal takes the owner's lock first
    (`JournalBusy` if another live journal holds it; the connection is then
    closed at once). Use `connection()` under the journal's write lock.
    """

    def __init__(self, asyncpg: Any, url: str, settings: dict[str, str], *, exclusive: bool):
        self._asyncpg = asyncpg
        self._url = url
        self._settings = settings
        self.exclusive = exclusive
        self._conn: Any = None

    async def connection(self) -> Any:
        """The open write connection, connecting (and locking) again if it was lost."""
        if self._conn is None or self._conn.is_closed():
            self._conn = None
            conn = await self._asyncpg.connect(
                self._url, timeout=CONNECT_TIMEOUT_S, server_settings=self._settings
            )
            try:
                if self.exclusive:
                    await _take_owner_lock(self._asyncpg, conn, redact_url(self._url))
            except BaseException:
                conn.terminate()
                raise
            self._conn = conn
        return self._conn

    async def close(self) -> None:
        """Close the connection (the owner's lock goes with it)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await conn.close(timeout=CONNECT_TIMEOUT_S)
            except Exception:  # a broken connection: drop it
                conn.terminate()

    def terminate(self) -> None:
        """Drop the connection at once; the next `connection()` opens a new one."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.terminate()

    def failed(self, exc: BaseException) -> None:
        """A write on the connection failed: drop it, unless nothing reached the server.

        Whatever broke (a session the server ended, a protocol state the
        driver cannot leave) stays behind with it; the next write reconnects.
        """
        if not isinstance(exc, InjectedFault):
            self.terminate()


async def connect(
    url: str,
    durability: str,
    *,
    read_connections: int,
    exclusive: bool = True,
    stalled_s: float | None = None,
) -> tuple[Writer, Any]:
    """(the writer, the readers' pool), the schema checked and created.

    With `stalled_s`, the server ends the writer's session once it has sat
    that long inside a transaction without a word (the process paused or
    stuck mid-round), rolling it back and freeing the fences it held.

    Raises `JournalUnavailable` (server unreachable, login refused, no such
    database, driver missing), `JournalCorrupted` (a schema of another
    version) or, when `exclusive`, `JournalBusy` (another live owner).
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
    writer_settings = dict(settings)
    if stalled_s is not None:
        writer_settings["idle_in_transaction_session_timeout"] = str(int(stalled_s * 1000))
    writer = Writer(asyncpg, url, writer_settings, exclusive=exclusive)
    rpool: Any = None
    try:
        try:
            conn = await writer.connection()
            await _prepare(conn, redact_url(url))
            if exclusive:
                await conn.execute(sql.CLAIM_OWNER, str(os.getpid()), socket.gethostname())
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
        if rpool is not None:
            rpool.terminate()  # synchronous: nothing half-open stays behind
        writer.terminate()
        raise
    return writer, rpool


async def _take_owner_lock(asyncpg: Any, conn: Any, where: str) -> None:
    """Take the owner's lock on `conn`, or raise `JournalBusy` naming the owner."""
    try:
        await conn.execute(f"SET lock_timeout = '{int(OWNER_WAIT_S * 1000)}ms'")
        await conn.execute(sql.OWNER_LOCK)
        await conn.execute("RESET lock_timeout")
    except asyncpg.LockNotAvailableError:
        pid, host = await _owner_of(conn)
        busy = JournalBusy(where, pid=pid, host=host)
        busy.args = (
            f"the journal {where!r} is owned by process {pid if pid is not None else '?'} "
            f"on host {host or '?'}; nothing was written. One Runtime owns a PostgreSQL "
            "journal until runs are shared between processes: close it (or stop that "
            "process) first",
        )
        raise busy from None


async def _owner_of(conn: Any) -> tuple[int | None, str | None]:
    """The pid and host the owner wrote into `meta`, as far as they can be read."""
    if not await conn.fetchval(sql.HAS_SCHEMA):
        return None, None
    found = dict(await conn.fetch(sql.OWNER))
    pid = found.get("owner_pid")
    return (int(pid) if pid and pid.isdigit() else None), found.get("owner_host")


async def _prepare(conn: Any, where: str) -> None:
    """Check the database holds no journal we cannot read, then create what is missing
    (nothing, without a lock, when this cadenza's DDL made the schema: `DDL_DIGEST`)."""
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
    if found is not None and await conn.fetchval(sql.FOUND_DDL) == sql.DDL_DIGEST:
        return  # made by this DDL already: running it again would only take locks
    for attempt in range(1, DDL_ATTEMPTS + 1):
        try:
            async with conn.transaction():
                await conn.execute(f"SET LOCAL lock_timeout = '{DDL_LOCK_WAIT_MS}ms'")
                await conn.execute(sql.DDL)
                await conn.execute(sql.MARK_DDL)
            return
        except Exception as exc:
            if getattr(exc, "sqlstate", None) not in DDL_RETRIED or attempt == DDL_ATTEMPTS:
                raise
            await anyio.sleep(DDL_RETRY_S * attempt)  # (the advisory lock orders the joiners)


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
