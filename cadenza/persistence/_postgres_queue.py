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
lock on the (group, type) first, without waiting: NOWAIT alone still lets a
claimer whose count was taken just before the other committed pass over the
now-claimed rows (read committed re-checks them) and take the next ones
against its stale count. Under the lock the count and the claim see every
committed claim, and a second claimer gets an empty answer, never a wait.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cadenza.persistence._postgres_connect import CONNECT_TIMEOUT_S
from cadenza.persistence._postgres_schema import SCHEMA

QUEUE_LOCK = 0x7175  # "qu": the advisory lock class of limited claims, with the (group, type) hash

PUSH = (
    f"INSERT INTO {SCHEMA}.queue (task_id, grp, task_type, priority, run_id, body) "
    "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::integer[], $5::text[], "
    "$6::text[]) ON CONFLICT (task_id) DO NOTHING"
)
_NEXT = (
    f"SELECT task_id FROM {SCHEMA}.queue WHERE grp = $1 AND task_type = $2 "
    "AND (claimed_by IS NULL OR lease_until < now()) ORDER BY priority DESC, age LIMIT $4"
)
CLAIM = (
    f"UPDATE {SCHEMA}.queue SET claimed_by = $3, lease_until = now() + make_interval(secs => $5) "
    f"WHERE task_id IN ({_NEXT} FOR UPDATE SKIP LOCKED) "
    "RETURNING task_id, run_id, priority, age, body"
)
CLAIM_NOWAIT = (
    f"UPDATE {SCHEMA}.queue SET claimed_by = $3, lease_until = now() + make_interval(secs => $5) "
    f"WHERE task_id IN ({_NEXT} FOR UPDATE NOWAIT) "
    "RETURNING task_id, run_id, priority, age, body"
)
TRY_LOCK = "SELECT pg_try_advisory_xact_lock($1, $2)"
IN_FLIGHT = (
    f"SELECT count(*) FROM {SCHEMA}.queue WHERE grp = $1 AND task_type = $2 "
    "AND claimed_by IS NOT NULL AND lease_until >= now()"
)
EXTEND = (
    f"UPDATE {SCHEMA}.queue SET lease_until = now() + make_interval(secs => $3) "
    "WHERE task_id = $1 AND claimed_by = $2 AND lease_until >= now() RETURNING task_id"
)
ACK = (
    f"DELETE FROM {SCHEMA}.queue WHERE task_id = $1 AND claimed_by = $2 AND lease_until >= now() "
    "RETURNING task_id"
)
WITHDRAW = f"DELETE FROM {SCHEMA}.queue WHERE task_id = ANY($1::text[])"
WAITING = (
    f"SELECT count(*) FROM {SCHEMA}.queue WHERE grp = $1 AND task_type = $2 "
    "AND (claimed_by IS NULL OR lease_until < now())"
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


@dataclass(frozen=True, slots=True)
class Claimed:
    """A task leased to one worker."""

    task_id: str
    run_id: str
    priority: int
    body: dict[str, Any]


def _lock_key(group: str, task_type: str) -> int:
    return zlib.crc32(f"{group}\0{task_type}".encode()) - 2**31  # a signed int4


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

    async def open(self) -> None:
        import asyncpg

        self._pool = await asyncpg.create_pool(
            self.url, min_size=1, max_size=self.connections, timeout=CONNECT_TIMEOUT_S
        )

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def __aenter__(self) -> SharedQueue:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def push(self, rows: Sequence[QueuedRow]) -> None:
        """Queue tasks (a task id already queued is left as it is)."""
        if not rows:
            return
        columns = (
            [r.task_id for r in rows], [r.group for r in rows], [r.task_type for r in rows],
            [r.priority for r in rows], [r.run_id for r in rows],
            [json.dumps(r.body) for r in rows],
        )  # fmt: skip
        async with self._pool.acquire() as conn:
            await conn.execute(PUSH, *columns)

    async def claim(
        self,
        group: str,
        task_type: str,
        worker: str,
        lease_s: float,
        *,
        limit: int = 1,
        concurrency: int | None = None,
    ) -> list[Claimed]:
        """Lease up to `limit` of the next tasks (priority, then age) to `worker`.

        With `concurrency`, at most that many tasks of the group and type
        are leased at once across every process; a claim that meets another
        one in flight gets an empty answer (try again), never a wait.
        """
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        if lease_s <= 0:
            raise ValueError(f"lease_s must be above 0, got {lease_s}")
        import asyncpg

        async with self._pool.acquire() as conn:
            if concurrency is None:
                rows = await conn.fetch(CLAIM, group, task_type, worker, limit, lease_s)
                return _in_order(rows)
            async with conn.transaction():
                if not await conn.fetchval(TRY_LOCK, QUEUE_LOCK, _lock_key(group, task_type)):
                    return []
                room = concurrency - await conn.fetchval(IN_FLIGHT, group, task_type)
                if room <= 0:
                    return []
                try:
                    rows = await conn.fetch(
                        CLAIM_NOWAIT, group, task_type, worker, min(limit, room), lease_s
                    )
                except asyncpg.LockNotAvailableError:
                    return []
            return _in_order(rows)

    async def extend(self, task_id: str, worker: str, lease_s: float) -> bool:
        """Extend `worker`'s lease; False if it is no longer the holder (the lease ran out)."""
        async with self._pool.acquire() as conn:
            return await conn.fetchval(EXTEND, task_id, worker, lease_s) is not None

    async def ack(self, task_id: str, worker: str) -> bool:
        """The task is done: remove it; False if `worker` no longer holds its lease."""
        async with self._pool.acquire() as conn:
            return await conn.fetchval(ACK, task_id, worker) is not None

    async def withdraw(self, task_ids: Sequence[str]) -> None:
        """Remove tasks whatever their state (their run withdrew them)."""
        async with self._pool.acquire() as conn:
            await conn.execute(WITHDRAW, list(task_ids))

    async def waiting(self, group: str, task_type: str) -> int:
        """Tasks of the group and type no live lease holds."""
        async with self._pool.acquire() as conn:
            count: int = await conn.fetchval(WAITING, group, task_type)
        return count


def _in_order(rows: Sequence[Any]) -> list[Claimed]:
    ordered = sorted(rows, key=lambda r: (-r[2], r[3]))
    return [Claimed(r[0], r[1], r[2], json.loads(r[4])) for r in ordered]
