"""What a run's owner does to the shared queue's rows of its runs (issue 17: a task posted
by one owner must not also run at the next).

Design note
-----------
**Fenced posts.** A run's owner posts its tasks fenced (`push_fenced`), as
its journal writes are (`_postgres_leases`): in one transaction it takes
the partitions' advisory fence locks *shared*, then (in the next statement,
so its snapshot follows the locks) writes only the rows whose run's
partition is still leased to it at the epoch the task was offered under.
A takeover's acquisition needs that lock exclusively: it either committed
before — the post reads the new owner and writes nothing — or skips the
partition while the post holds it (taking it at a later tick), and the new
owner's `adopt` then sees the row. So a post held up past a takeover (a
paused process) cannot put a row beside the task the new owner runs. (Not
a row lock on the lease in one statement: it would wait on, and could
deadlock with, the owner's own renewals, which update those rows.) A post
costs a transaction and one more statement; posts are batched per flush,
off the runs' path (measured on a local server, 2 loaded cores: a flush of
one row 1.3 -> 2.5 ms, of 100 rows 5.5 -> 7.1 ms).

**Adoption.** A run that changes owner (a takeover, or recovery at open) may
have rows its earlier owner posted. Before the new owner queues such a
run's open tasks in a local worker group, it calls `adopt` with the runs'
ids and the (group, type) pairs its local workers serve, in ONE statement:
the unclaimed rows of those pairs are deleted (`claimed_by IS NULL AND NOT
lapsed`: a claim in flight holds the row's lock, so the delete waits for it
and then skips the claimed row), and every other row of those runs is
returned as *kept* — a worker holds it (its result, or its reaped lease,
reaches the owner through the inbox) or it lapsed (its `lapsed` message is
in the inbox). The statement also returns as kept the tasks whose result
waits in the runs' inbox (a worker finished the row after the old owner
died: the row went, the result is applied once the runs are recovered).
Only a deleted row's task may then run locally, so no task is handed both
to a local worker and to a claimer, nor run again after its result. The
runs' rows are found without an index on `run_id` (a scan of the queue and
the inbox, once per takeover, never per post).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cadenza.persistence._postgres_schema import (
    LOCK_LEASES_SHARED,
    QUEUE_CHANNEL,
    SCHEMA,
    partition_of,
)

PUSH_FENCED = (  # for the rows whose partition $9 still holds at their epoch; NOTIFY if any
    f"WITH held AS (SELECT partition, epoch FROM {SCHEMA}.leases "
    "WHERE partition = ANY($7::integer[]) AND owner = $9), "
    f"pushed AS (INSERT INTO {SCHEMA}.queue (task_id, grp, task_type, priority, run_id, body) "
    "SELECT t.task_id, t.grp, t.task_type, t.priority, t.run_id, t.body "
    "FROM unnest($1::text[], $2::text[], $3::text[], $4::integer[], $5::text[], $6::text[], "
    "$7::integer[], $8::bigint[]) WITH ORDINALITY "
    "AS t(task_id, grp, task_type, priority, run_id, body, part, epoch, n) "
    "JOIN held h ON h.partition = t.part AND h.epoch = t.epoch ORDER BY t.n "
    "ON CONFLICT (task_id) DO NOTHING RETURNING 1) "
    f"SELECT pg_notify('{QUEUE_CHANNEL}', '') WHERE EXISTS (SELECT 1 FROM pushed)"
)
_ADOPTED = "run_id IN (SELECT unnest($1::text[]))"
ADOPT = (
    f"WITH gone AS (DELETE FROM {SCHEMA}.queue WHERE {_ADOPTED} "
    "AND claimed_by IS NULL AND NOT lapsed "
    "AND (grp, task_type) IN (SELECT * FROM unnest($2::text[], $3::text[])) "
    "RETURNING task_id, run_id) "
    "SELECT task_id, run_id, true FROM gone UNION ALL "
    f"SELECT task_id, run_id, false FROM {SCHEMA}.queue WHERE {_ADOPTED} "
    "AND task_id NOT IN (SELECT task_id FROM gone) UNION ALL "
    f"SELECT body::jsonb ->> 'task_id', run_id, false FROM {SCHEMA}.inbox "
    f"WHERE kind = 'result' AND {_ADOPTED}"
)


async def push_fenced(
    conn: Any, columns: Sequence[list[Any]], run_ids: Sequence[str], epochs: Sequence[int],
    owner: str,
) -> None:  # fmt: skip
    """Write the queue rows `columns` (PUSH's six arrays) whose run's partition `owner`
    still holds at the row's epoch, in one transaction under the partitions' fences; the
    others are not written. Raises what the database raises (nothing is written)."""
    parts = [partition_of(run_id) for run_id in run_ids]
    async with conn.transaction():
        await conn.fetchval(LOCK_LEASES_SHARED, sorted(set(parts)))
        await conn.execute(PUSH_FENCED, *columns, parts, list(epochs), owner)


async def adopt(
    conn: Any, run_ids: Sequence[str], served: Sequence[tuple[str, str]]
) -> tuple[set[str], dict[str, str]]:
    """Adopt the rows of runs changing owner (see the module note), in one statement:
    (the task ids whose rows were deleted, task id -> run id of the tasks kept)."""
    rows = await conn.fetch(ADOPT, list(run_ids), [g for g, _t in served], [t for _g, t in served])
    return {r[0] for r in rows if r[2]}, {r[0]: r[1] for r in rows if not r[2]}
