"""Worker-group queues shared by every process on a PostgreSQL journal (issue 17, item 4).

Design note
-----------
One row per task waiting for (or leased to) an external worker: its group,
type, priority, age (a sequence: posting order) and the JSON the poller
gets. Any process may hand out any row, so a poller polling any process
gets the group's next task in *global* order: highest priority, then
oldest.

`claim` takes the next rows in that order with `FOR UPDATE SKIP LOCKED`
and leases them to the worker on the database's clock (`lease_until`): two
claimers never block each other and never get the same row; a row whose
lease ran out is claimable again (the worker died), and the old worker's
`ack` or `extend` is then refused.

A global concurrency limit (`concurrency`: at most that many rows of the
group and type leased at once, across processes) cannot use SKIP LOCKED.
DBOS Transact (`dbos/_sys_db.py`, its queue's dequeue) says why: with a
shared budget, SKIP LOCKED "would hand a peer disjoint rows, letting it
spend the same budget against its own pre-claim snapshot" — both count the
rows in flight, both see room for N, both take N different rows, and 2N
run. DBOS switches to `NOWAIT` there: the second claimer fails at once on
the rows the first holds instead of skipping past them, and tries again
later. Here the limited claim does the same (`FOR UPDATE NOWAIT`, an empty
answer on `LockNotAvailable`) and also takes a transaction-scoped advisory
lock on the task type first, without waiting: NOWAIT alone still lets a
claimer whose count was taken just before the other committed pass over the
now-claimed rows (read committed re-checks them) and take the next ones
against its stale count. Under the lock the count and the claim see every
committed claim, and a second claimer gets an empty answer, never a wait.
The limits are a TaskDef's, so they hold per task type across groups.

A global rate limit (`rate`: at most N claims in any window of W seconds,
Conductor's rateLimitPerFrequency / rateLimitFrequencyInSeconds) is counted
the way DBOS counts its queue limiter (the workflows started within the
period, checked before dequeuing): every limited claim logs its claim times
in `queue_claims`, and under the same advisory lock a claim counts the log's
entries inside the window and takes at most what is left (entries older
than the window are pruned there too).

Wake-ups: `push` sends one `NOTIFY cadenza_queue` in its own statement
(never in a journal write), so one flush of posts wakes every process
`listen`ing once. `polled` records (group, type, now) in `queue_polls`,
and `overview` reads, per group and type, the unclaimed tasks, how long
the oldest waited and how long since anyone polled (the unserved-type
warning of `cadenza.runtime._shared_watch`).

A run's owner posts its tasks fenced by its lease, and a process taking
runs over adopts their rows before it queues their tasks locally: see
`_postgres_queue_owner` (issue 17's double run after a takeover).

Leases that ran out are not claimed again: the same task id handed to a
second worker could not tell the late worker's result from the new one's.
`reap` marks such a row `lapsed` (never claimable, and the old worker's
`finish`/`touch` are refused as stale) and, in the same transaction, posts
a `lapsed` message to the run's inbox: its owner times the attempt out and
queues the retry, a new attempt with its own id (or, if the start never
reached it, queues the task again).
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from cadenza._log import get_logger
from cadenza.persistence._postgres_connect import CONNECT_TIMEOUT_S, redact_url
from cadenza.persistence._postgres_inbox import POST
from cadenza.persistence._postgres_queue_owner import adopt, push_fenced
from cadenza.persistence._postgres_schema import QUEUE_CHANNEL, SCHEMA, partition_of

CHANNEL = QUEUE_CHANNEL  # NOTIFY'd when a flush posted tasks (`SharedQueue.listen`)
log = get_logger("cadenza.persistence")

QUEUE_LOCK = 0x7175  # "qu": the advisory lock class of limited claims, with the task type hash
Verdict = Literal["held", "stale", "absent"]

PUSH = (
    f"INSERT INTO {SCHEMA}.queue (task_id, grp, task_type, priority, run_id, body) "
    "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::integer[], $5::text[], "
    "$6::text[]) ON CONFLICT (task_id) DO NOTHING"
)
_NEXT = (
    f"SELECT task_id FROM {SCHEMA}.queue WHERE grp = $1 AND task_type = $2 "
    "AND claimed_by IS NULL AND NOT lapsed AND run_id <> ALL($6::text[]) "
    "ORDER BY priority DESC, age LIMIT $4"
)
_LEASE = "claimed_by = $3, lease_s = $5, lease_until = now() + make_interval(secs => $5)"
CLAIM = (
    f"UPDATE {SCHEMA}.queue SET {_LEASE} WHERE task_id IN ({_NEXT} FOR UPDATE SKIP LOCKED) "
    "RETURNING task_id, run_id, priority, age, body"
)
CLAIM_NOWAIT = (
    f"UPDATE {SCHEMA}.queue SET {_LEASE} WHERE task_id IN ({_NEXT} FOR UPDATE NOWAIT) "
    "RETURNING task_id, run_id, priority, age, body"
)
TRY_LOCK = "SELECT pg_try_advisory_xact_lock($1, $2)"
_LIVE = "claimed_by IS NOT NULL AND NOT lapsed AND lease_until >= now()"
_RAN_OUT = "(lapsed OR (claimed_by IS NOT NULL AND lease_until < now()))"
IN_FLIGHT = f"SELECT count(*) FROM {SCHEMA}.queue WHERE task_type = $1 AND {_LIVE}"
RECENT = (
    f"SELECT count(*) FROM {SCHEMA}.queue_claims "
    "WHERE task_type = $1 AND at > now() - make_interval(secs => $2)"
)
PRUNE = (
    f"DELETE FROM {SCHEMA}.queue_claims "
    "WHERE task_type = $1 AND at <= now() - make_interval(secs => $2)"
)
LOG_CLAIMS = f"INSERT INTO {SCHEMA}.queue_claims SELECT $1, now() FROM generate_series(1, $2)"
EXTEND = (
    f"UPDATE {SCHEMA}.queue SET lease_until = now() + make_interval(secs => $3) "
    f"WHERE task_id = $1 AND claimed_by = $2 AND {_LIVE} RETURNING task_id"
)
ACK = f"DELETE FROM {SCHEMA}.queue WHERE task_id = $1 AND claimed_by = $2 AND {_LIVE} RETURNING task_id"
FINISH = (
    f"WITH gone AS (DELETE FROM {SCHEMA}.queue WHERE task_id = $1 AND NOT {_RAN_OUT} "
    "RETURNING 1) "
    f"SELECT (SELECT count(*) FROM gone), (SELECT count(*) FROM {SCHEMA}.queue "
    f"WHERE task_id = $1 AND {_RAN_OUT})"
)
TOUCH = (
    f"WITH kept AS (UPDATE {SCHEMA}.queue SET lease_until = now() + make_interval(secs => lease_s) "
    f"WHERE task_id = $1 AND {_LIVE} RETURNING 1) "
    f"SELECT (SELECT count(*) FROM kept), (SELECT count(*) FROM {SCHEMA}.queue "
    f"WHERE task_id = $1 AND {_RAN_OUT})"
)
REAP = (
    f"UPDATE {SCHEMA}.queue SET lapsed = true WHERE grp = $1 AND task_type = $2 "
    "AND claimed_by IS NOT NULL AND NOT lapsed AND lease_until < now() RETURNING task_id, run_id"
)
PUSH_NOTIFY = (
    f"WITH pushed AS ({PUSH} RETURNING 1) "
    f"SELECT pg_notify('{CHANNEL}', '') WHERE EXISTS (SELECT 1 FROM pushed)"
)
WITHDRAW = f"DELETE FROM {SCHEMA}.queue WHERE task_id = ANY($1::text[])"
RELEASE = (
    f"UPDATE {SCHEMA}.queue SET claimed_by = NULL, lease_until = NULL "
    "WHERE task_id = ANY($1::text[]) AND NOT lapsed"
)
POLLED = (
    f"INSERT INTO {SCHEMA}.queue_polls (grp, task_type, at) "
    "SELECT g, t, now() FROM unnest($1::text[], $2::text[]) AS p(g, t) "
    "ON CONFLICT (grp, task_type) DO UPDATE SET at = excluded.at"
)
OVERVIEW = (
    "SELECT q.grp, q.task_type, q.waiting, q.oldest_s, "
    "extract(epoch FROM now() - p.at)::float8 "
    "FROM (SELECT grp, task_type, count(*) AS waiting, "
    "extract(epoch FROM now() - min(posted_at))::float8 AS oldest_s "
    f"FROM {SCHEMA}.queue WHERE claimed_by IS NULL AND NOT lapsed GROUP BY grp, task_type) q "
    f"LEFT JOIN {SCHEMA}.queue_polls p ON p.grp = q.grp AND p.task_type = q.task_type"
)
POLLS = (
    f"SELECT grp, task_type, extract(epoch FROM now() - at)::float8 FROM {SCHEMA}.queue_polls "
    "WHERE at > now() - make_interval(secs => $1)"
)
UNCLAIMED = (
    f"SELECT task_id FROM {SCHEMA}.queue WHERE task_id = ANY($1::text[]) "
    "AND claimed_by IS NULL AND NOT lapsed"
)
LIVE = f"SELECT task_id FROM {SCHEMA}.queue WHERE task_id = ANY($1::text[]) AND {_LIVE}"
WAITING = (
    f"SELECT count(*) FROM {SCHEMA}.queue WHERE grp = $1 AND task_type = $2 "
    "AND claimed_by IS NULL AND NOT lapsed"
)


@dataclass(frozen=True, slots=True)
class QueuedRow:
    """A task to queue: what identifies and orders it, and what its poller gets."""

    task_id: str
    group: str
    task_type: str
    priority: int
    run_id: str
    body: dict[str, Any]
    epoch: int = 0  # the lease epoch its poster held the run's partition at (a fenced push)


@dataclass(frozen=True, slots=True)
class Claimed:
    """A task leased to one worker."""

    task_id: str
    run_id: str
    priority: int
    body: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Waiting:
    """The unclaimed tasks of one group and type: how many, how long the oldest has waited
    (the database's clock) and how long since anyone polled them (None: never recorded)."""

    group: str
    task_type: str
    count: int
    oldest_s: float
    polled_s: float | None


@dataclass(frozen=True, slots=True)
class Limits:
    """A task type's global limits: `concurrency` leased at once, `rate` = (N, W): at most N
    claims in any W seconds (None: no such limit)."""

    concurrency: int | None = None
    rate: tuple[int, float] | None = None


def _lock_key(task_type: str) -> int:
    return zlib.crc32(task_type.encode()) - 2**31  # a signed int4


class SharedQueue:
    """The shared queues of the journal at `url`; see the module note.

    `open()` raises what `asyncpg` raises when the server cannot be reached.
    """

    def __init__(self, url: str, *, connections: int = 4):
        if connections < 1:
            raise ValueError(f"connections must be at least 1, got {connections}")
        self.url = url
        self.connections = connections
        self._pool: Any = None
        self._listener: Any = None

    async def open(self) -> None:
        import asyncpg

        self._pool = await asyncpg.create_pool(
            self.url, min_size=1, max_size=self.connections, timeout=CONNECT_TIMEOUT_S
        )

    async def listen(self, heard: Callable[[], None]) -> bool:
        """Call `heard()` whenever any process posts tasks (LISTEN on a connection of its
        own); True if listening (again). A failure is logged and leaves polling to cover."""
        import asyncpg

        if self._listener is not None and not self._listener.is_closed():
            return True
        try:
            self._listener = await asyncpg.connect(self.url, timeout=CONNECT_TIMEOUT_S)
            await self._listener.add_listener(CHANNEL, lambda *_args: heard())
        except Exception as exc:
            log.warning("shared_queue.listen_failed", url=redact_url(self.url), error=repr(exc))
            self._listener = None
            return False
        return True

    async def close(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            try:
                await listener.close()
            except Exception:  # a broken connection: drop it
                listener.terminate()
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def __aenter__(self) -> SharedQueue:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def push(self, rows: Sequence[QueuedRow], owner: str | None = None) -> None:
        """Queue tasks (a task id already queued is left as it is). With `owner`, fenced
        (`_postgres_queue_owner`): a row whose run's partition `owner` no longer holds at
        the row's `epoch` is not written."""
        if not rows:
            return
        columns = (
            [r.task_id for r in rows], [r.group for r in rows], [r.task_type for r in rows],
            [r.priority for r in rows], [r.run_id for r in rows],
            [json.dumps(r.body) for r in rows],
        )  # fmt: skip
        async with self._pool.acquire() as conn:  # pollers and pullers listening wake up
            if owner is None:
                await conn.execute(PUSH_NOTIFY, *columns)
                return
            await push_fenced(conn, columns, columns[4], [r.epoch for r in rows], owner)

    async def claim(
        self,
        group: str,
        task_type: str,
        worker: str,
        lease_s: float,
        *,
        limit: int = 1,
        concurrency: int | None = None,
        limits: Limits | None = None,
        skip_runs: Sequence[str] = (),
    ) -> list[Claimed]:
        """Lease up to `limit` of the next tasks (priority, then age) to `worker`, none of
        a run in `skip_runs`.

        With a concurrency limit (`concurrency`, or `limits`), at most that
        many tasks of the type are leased at once across every process; with
        `limits.rate`, at most N are claimed in any window. A limited claim
        that meets another one in flight gets an empty answer (try again),
        never a wait.
        """
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        if lease_s <= 0:
            raise ValueError(f"lease_s must be above 0, got {lease_s}")
        if limits is None:
            limits = Limits(concurrency)
        async with self._pool.acquire() as conn:
            if limits.concurrency is None and limits.rate is None:
                rows = await conn.fetch(
                    CLAIM, group, task_type, worker, limit, lease_s, list(skip_runs)
                )
                return _in_order(rows)
            async with conn.transaction():
                rows = await _limited(
                    conn, group, task_type, worker, lease_s, limit, limits, list(skip_runs)
                )
            return _in_order(rows)

    async def reap(self, group: str, task_type: str) -> list[tuple[str, str]]:
        """Mark the rows whose lease ran out `lapsed` and tell each run's owner, in one
        transaction (inbox kind `lapsed`); their (task id, run id)."""
        async with self._pool.acquire() as conn, conn.transaction():
            gone = await conn.fetch(REAP, group, task_type)
            posts = [
                (partition_of(r[1]), r[1], "lapsed", json.dumps({"task_id": r[0]})) for r in gone
            ]
            if posts:
                await conn.executemany(POST, posts)
        return [(r[0], r[1]) for r in gone]

    async def finish(
        self, task_id: str, post: tuple[str, str, dict[str, Any]] | None = None
    ) -> Verdict:
        """A worker's verdict on `task_id`: `held` (its row removed; `post` = (run id, kind,
        body) put in that run's inbox in the same transaction), `stale` (its lease ran
        out: nothing done), or `absent` (no row: not a shared task, or already finished)."""
        async with self._pool.acquire() as conn:
            if post is None:  # one statement: atomic as it is
                return _verdict(*await conn.fetchrow(FINISH, task_id))
            async with conn.transaction():
                verdict = _verdict(*await conn.fetchrow(FINISH, task_id))
                if verdict == "held":
                    run_id, kind, body = post
                    await conn.fetchval(POST, partition_of(run_id), run_id, kind, json.dumps(body))
        return verdict

    async def touch(self, task_id: str) -> Verdict:
        """A heartbeat: `held` (the lease runs its length again from now), `stale` (it ran
        out), or `absent` (no live lease: not a shared task, or not claimed)."""
        async with self._pool.acquire() as conn:
            kept, ran_out = await conn.fetchrow(TOUCH, task_id)
        return _verdict(kept, ran_out)

    async def extend(self, task_id: str, worker: str, lease_s: float) -> bool:
        """Extend `worker`'s lease; False if it is no longer the holder (the lease ran out)."""
        async with self._pool.acquire() as conn:
            return await conn.fetchval(EXTEND, task_id, worker, lease_s) is not None

    async def ack(self, task_id: str, worker: str) -> bool:
        """The task is done: remove it; False if `worker` no longer holds its lease."""
        async with self._pool.acquire() as conn:
            return await conn.fetchval(ACK, task_id, worker) is not None

    async def release(self, task_ids: Sequence[str]) -> None:
        """Give claimed tasks back unstarted: claimable again at once (a lapsed row stays)."""
        async with self._pool.acquire() as conn:
            await conn.execute(RELEASE, list(task_ids))

    async def withdraw(self, task_ids: Sequence[str]) -> None:
        """Remove tasks whatever their state (their run withdrew them)."""
        async with self._pool.acquire() as conn:
            await conn.execute(WITHDRAW, list(task_ids))

    async def adopt(
        self, run_ids: Sequence[str], served: Sequence[tuple[str, str]]
    ) -> tuple[set[str], dict[str, str]]:
        """Runs changing owner: delete their unclaimed rows of the (group, type) pairs in
        `served`, in one statement; (the task ids deleted, task id -> run id of the tasks
        kept: rows left, or results in the inbox). See `_postgres_queue_owner`."""
        if not run_ids:
            return set(), {}
        async with self._pool.acquire() as conn:
            return await adopt(conn, run_ids, served)

    async def polled(self, pairs: Sequence[tuple[str, str]]) -> None:
        """Record that (group, task type) pairs were polled now (`overview`'s `polled_s`)."""
        if pairs:
            async with self._pool.acquire() as conn:
                await conn.execute(POLLED, [g for g, _t in pairs], [t for _g, t in pairs])

    async def polls(self, within_s: float) -> list[tuple[str, str, float]]:
        """(group, task type, seconds since) of every pair polled within `within_s`."""
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(POLLS, within_s)
        return [(r[0], r[1], r[2]) for r in rows]

    async def unclaimed(self, task_ids: Sequence[str]) -> set[str]:
        """Those of `task_ids` queued and held by no lease."""
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(UNCLAIMED, list(task_ids))
        return {r[0] for r in rows}

    async def live(self, task_ids: Sequence[str]) -> set[str]:
        """Those of `task_ids` whose row is claimed under a lease that has not run out (by
        the database's clock): the others ended (row gone), lapsed, or ran out."""
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(LIVE, list(task_ids))
        return {r[0] for r in rows}

    async def overview(self) -> list[Waiting]:
        """Every group and type with unclaimed tasks (`Waiting`)."""
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(OVERVIEW)
        return [Waiting(r[0], r[1], r[2], r[3], r[4]) for r in rows]

    async def waiting(self, group: str, task_type: str) -> int:
        """Tasks of the group and type no lease holds."""
        async with self._pool.acquire() as conn:
            count: int = await conn.fetchval(WAITING, group, task_type)
        return count

    async def in_flight(self, task_type: str) -> int:
        """Tasks of the type under a live lease, in every group."""
        async with self._pool.acquire() as conn:
            count: int = await conn.fetchval(IN_FLIGHT, task_type)
        return count


async def _limited(
    conn: Any,
    group: str,
    task_type: str,
    worker: str,
    lease_s: float,
    limit: int,
    limits: Limits,
    skip_runs: list[str],
) -> list[Any]:
    """A limited claim, inside the caller's transaction: see the module note."""
    import asyncpg

    if not await conn.fetchval(TRY_LOCK, QUEUE_LOCK, _lock_key(task_type)):
        return []
    room = limit
    if limits.concurrency is not None:
        room = min(room, limits.concurrency - await conn.fetchval(IN_FLIGHT, task_type))
    if limits.rate is not None:
        per, window_s = limits.rate
        await conn.execute(PRUNE, task_type, window_s)
        room = min(room, per - await conn.fetchval(RECENT, task_type, window_s))
    if room <= 0:
        return []
    try:
        rows: list[Any] = await conn.fetch(
            CLAIM_NOWAIT, group, task_type, worker, room, lease_s, skip_runs
        )
    except asyncpg.LockNotAvailableError:
        return []
    if rows and limits.rate is not None:
        await conn.execute(LOG_CLAIMS, task_type, len(rows))
    return rows


def _verdict(done: int, ran_out: int) -> Verdict:
    if done:
        return "held"
    return "stale" if ran_out else "absent"


def _in_order(rows: Sequence[Any]) -> list[Claimed]:
    ordered = sorted(rows, key=lambda r: (-r[2], r[3]))
    return [Claimed(r[0], r[1], r[2], json.loads(r[4])) for r in ordered]
