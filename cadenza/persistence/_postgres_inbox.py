"""The inbox of a shared PostgreSQL journal: messages for runs another process owns.

Design note
-----------
A process that holds a message for a run whose partition another process
owns (an external worker's completion polled here, an operation, a child's
news to its parent) cannot apply it: only the owner writes the run. It
posts the message to `inbox` (one row: the run, its partition, a kind and a
JSON body), and the owner applies its partitions' rows in `id` order, then
deletes them (`take`, `done`). A row outlives a crash of either side: the
poster's caller is answered once the row is committed, and an owner that
dies before `done` leaves the rows to the partition's next owner (so a
message may be applied twice; the run's actor refuses the repeat as it
refuses any stale result).

Waking the owner: each post also sends `NOTIFY cadenza_inbox` in its own
transaction (never in a journal round: the hot write path carries no
NOTIFY); the owner `LISTEN`s on a connection of its own and a notification
only sets a flag, so many posts wake one drain (`wait`). Notifications can
be lost (the listening connection dropped), so `wait` also returns after
`poll_s`: the polling fallback.

Outcomes (`_shared` says what they promise): a message posted `awaited`
has its outcome written by `done` in the transaction that deletes it, with
`NOTIFY cadenza_outcome, '<id>'`; the listening connection wakes the one
`outcome(id)` waiting for it, which takes the row (`DELETE ... RETURNING`);
without a notification it looks again every `poll_s`. The same `done`
deletes outcomes older than `OUTCOME_TTL_S` (their posters gave up).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import anyio

from cadenza._log import get_logger
from cadenza.persistence._journal import JournalClosed
from cadenza.persistence._postgres_connect import CONNECT_TIMEOUT_S, redact_url
from cadenza.persistence._postgres_schema import INBOX_SEEN, SCHEMA, partition_of
from cadenza.persistence._shared import (
    OUTCOME_TTL_S,
    DeadLetter,
    Inbox,
    Posted,
    read_body,
    taken_outcome,
)

log = get_logger("cadenza.persistence")

CHANNEL = "cadenza_inbox"
POST = (
    f"WITH posted AS (INSERT INTO {SCHEMA}.inbox (partition, run_id, kind, body) "
    "VALUES ($1, $2, $3, $4) RETURNING id) "
    f"SELECT id, pg_notify('{CHANNEL}', $1::text) FROM posted"
)
DONE = f"DELETE FROM {SCHEMA}.inbox WHERE id = ANY($1::bigint[])"
COUNT = f"SELECT count(*) FROM {SCHEMA}.inbox"
OUTCOME_CHANNEL = "cadenza_outcome"
POST_AWAITED = (
    f"WITH posted AS (INSERT INTO {SCHEMA}.inbox (partition, run_id, kind, body, awaited) "
    "VALUES ($1, $2, $3, $4, true) RETURNING id) "
    f"SELECT id, pg_notify('{CHANNEL}', $1::text) FROM posted"
)
TAKE = (
    f"SELECT id, run_id, kind, body, awaited FROM {SCHEMA}.inbox "
    "WHERE partition = ANY($1::integer[]) ORDER BY id LIMIT $2"
)
DECIDE = (
    f"INSERT INTO {SCHEMA}.inbox_outcome (id, body) "
    "SELECT * FROM unnest($1::bigint[], $2::text[]) ON CONFLICT (id) DO NOTHING"
)
TELL_DECIDED = f"SELECT count(pg_notify('{OUTCOME_CHANNEL}', i::text)) FROM unnest($1::bigint[]) i"
FORGET_OUTCOMES = (
    f"DELETE FROM {SCHEMA}.inbox_outcome WHERE decided_at < now() - make_interval(secs => $1)"
)
TAKE_OUTCOME = f"DELETE FROM {SCHEMA}.inbox_outcome WHERE id = $1 RETURNING body"
BURY = (
    f"WITH gone AS (DELETE FROM {SCHEMA}.inbox WHERE id = ANY($1::bigint[]) "
    "RETURNING id, partition, run_id, kind, body, awaited, posted_at) "
    f"INSERT INTO {SCHEMA}.inbox_dead "
    "(id, partition, run_id, kind, body, awaited, posted_at, reason) "
    "SELECT g.id, g.partition, g.run_id, g.kind, g.body, g.awaited, g.posted_at, w.reason "
    "FROM gone g JOIN unnest($1::bigint[], $2::text[]) AS w (id, reason) ON w.id = g.id "
    "ON CONFLICT (id) DO NOTHING"
)
DEAD = (
    f"SELECT id, run_id, kind, body, awaited, reason FROM {SCHEMA}.inbox_dead ORDER BY id LIMIT $1"
)


class PostgresInbox(Inbox):
    """The inbox table of the journal at `url`; see the module note.

    `open()` raises what `asyncpg` raises when the server cannot be reached.
    """

    def __init__(self, url: str, *, poll_s: float = 1.0):
        if poll_s <= 0:
            raise ValueError(f"poll_s must be above 0, got {poll_s!r}")
        self.url = url
        self.poll_s = poll_s
        self.notified = 0  # notifications heard (for tests and metrics)
        self._pool: Any = None
        self._listener: Any = None
        self._wake = anyio.Event()
        self._outcomes: dict[int, anyio.Event] = {}  # awaited message id → its waiter's wake

    async def open(self) -> None:
        """Connect and start listening."""
        import asyncpg

        self._pool = await asyncpg.create_pool(
            self.url, min_size=1, max_size=4, timeout=CONNECT_TIMEOUT_S
        )
        await self._listen()  # the table: made with the journal's schema (`_postgres_schema`)

    async def _listen(self) -> None:
        import asyncpg

        try:
            self._listener = await asyncpg.connect(self.url, timeout=CONNECT_TIMEOUT_S)
            await self._listener.add_listener(CHANNEL, self._heard)
            await self._listener.add_listener(OUTCOME_CHANNEL, self._decided)
        except Exception as exc:  # polling still delivers; listening is retried at the next wait
            log.warning("inbox.listen_failed", url=redact_url(self.url), error=repr(exc))
            self._listener = None

    def _heard(self, *_args: Any) -> None:
        self.notified += 1
        self._wake.set()

    def _decided(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        with contextlib.suppress(ValueError):
            waiter = self._outcomes.get(int(payload))
            if waiter is not None:
                waiter.set()

    def kick(self) -> None:
        """Make the current (or next) `wait` return at once: there may be work (no NOTIFY)."""
        self._wake.set()

    async def close(self) -> None:
        """Stop listening and close the connections (idempotent)."""
        with anyio.CancelScope(shield=True):
            for conn in (self._listener,):
                if conn is not None:
                    try:
                        await conn.close()
                    except Exception:  # a broken connection: drop it
                        conn.terminate()
            if self._pool is not None:
                await self._pool.close()
        self._listener = self._pool = None

    async def post(
        self, run_id: str, kind: str, body: dict[str, Any], *, awaited: bool = False
    ) -> int:
        """Post a message for run `run_id`; its id once committed (and its owner notified)."""
        async with self._pool.acquire() as conn:
            posted: int = await conn.fetchval(
                POST_AWAITED if awaited else POST,
                partition_of(run_id), run_id, kind, json.dumps(body),
            )  # fmt: skip
        return posted

    async def take(self, partitions: Iterable[int], limit: int = 1000) -> list[Posted]:
        """The oldest messages (in posting order) for runs of `partitions`, at most `limit`."""
        wanted = sorted(set(partitions))
        if not wanted:
            return []
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(TAKE, wanted, limit)
        return [_posted(*row) for row in rows]

    async def done(
        self,
        ids: Sequence[int],
        outcomes: Mapping[int, dict[str, Any]] | None = None,
        dead: Mapping[int, str] | None = None,
    ) -> None:
        """Delete applied messages (move the `dead` ones to `inbox_dead`), write the awaited
        ones' `outcomes` and wake their posters (one transaction); drop outcomes nobody took
        within `OUTCOME_TTL_S`."""
        if not ids:
            return
        decided = sorted((outcomes or {}).items())
        buried = sorted((dead or {}).items())
        async with self._pool.acquire() as conn, conn.transaction():
            if buried:
                await conn.execute(BURY, [i for i, _ in buried], [r for _, r in buried])
            await conn.execute(DONE, list(ids))
            if decided:
                await conn.execute(
                    DECIDE, [i for i, _ in decided], [json.dumps(o) for _, o in decided]
                )
                await conn.fetchval(TELL_DECIDED, [i for i, _ in decided])
                await conn.execute(FORGET_OUTCOMES, OUTCOME_TTL_S)

    async def outcome(self, id: int) -> dict[str, Any]:
        """Wait for awaited message `id`'s outcome and take it; see `Inbox.outcome`."""

        async def take() -> str | None:
            pool = self._pool
            if pool is None:
                raise JournalClosed("the inbox is closed")
            try:
                async with pool.acquire() as conn:
                    body: str | None = await conn.fetchval(TAKE_OUTCOME, id)
                    return body
            except Exception as exc:  # the server away: the next poll looks again
                if self._pool is None:
                    raise
                log.warning("inbox.outcome_read_failed", id=id, error=repr(exc))
                return None

        return await taken_outcome(self._outcomes, id, self.poll_s, take)

    async def applied_through(self, run_ids: Iterable[str]) -> dict[str, int]:
        """See `Inbox.applied_through` (the journal's `streams.inbox_seen`)."""
        wanted = sorted(set(run_ids))
        if not wanted:
            return {}
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(INBOX_SEEN, wanted)
        return {row[0]: row[1] for row in rows}

    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """The messages set aside as unreadable, oldest first."""
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(DEAD, limit)
        return [DeadLetter(_posted(*row[:5]), row[5]) for row in rows]

    async def size(self) -> int:
        """How many messages wait, all partitions."""
        async with self._pool.acquire() as conn:
            count: int = await conn.fetchval(COUNT)
        return count

    async def wait(self) -> None:
        """Return once a post was heard since the last wait, or after `poll_s` (the fallback)."""
        if self._listener is None or self._listener.is_closed():
            await self._listen()
        with anyio.move_on_after(self.poll_s):
            await self._wake.wait()
        self._wake = anyio.Event()


def _posted(id: int, run_id: str, kind: str, text: str, awaited: bool) -> Posted:
    body, unreadable = read_body(text)
    return Posted(id, run_id, kind, body, awaited, unreadable)
