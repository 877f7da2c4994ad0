"""One commit round of the PostgreSQL journal, inside its transaction.

`write_round` runs the round's steps in order on the write connection,
within the transaction the journal opened:

1. the fence (a journal with an owner): appends whose partition's lease
   moved fail alone with `OwnershipLost` (`_postgres_leases`);
2. the key check (only when the round carries idempotency keys): appends
   whose key another stream holds fail alone with `DuplicateKey`, replayed
   in append order by `KeyLedger` as on SQLite;
3. the seqs: the counter row advanced by the number of appends left;
4. the writes: one `unnest` upsert of the streams, one `unnest` insert of
   the records (`_postgres_rows`).

It resolves only the tickets it refuses; the journal resolves the rest once
the transaction has committed.

`commit_round` runs it in a transaction, again when the unique index on the
keys refused the round: another process's transaction took one of its keys
after the key check read it free (read committed). The round wrote nothing;
the next check sees the key held and refuses that append alone, where the
whole round, other runs' appends included, would fail.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from cadenza.persistence import _postgres_schema as sql
from cadenza.persistence._codec import EncodedAppend
from cadenza.persistence._group import Ticket
from cadenza.persistence._keys import KeyLedger
from cadenza.persistence._postgres_leases import Leases
from cadenza.persistence._postgres_rows import round_arrays

Batch = Sequence[Ticket[EncodedAppend]]
KEY_RACE_ROUNDS = 3  # transactions a round may try while other processes take its keys
KEY_INDEX = "streams_key_key"  # PostgreSQL's name for the unique index on streams.key
UNIQUE_VIOLATION = "23505"


async def commit_round(
    connection: Callable[[], Awaitable[Any]], batch: Batch, leases: Leases | None
) -> tuple[list[Ticket[EncodedAppend]], int]:
    """`write_round` in a transaction of its own, committed; raises what the last one met."""
    for attempt in range(1, KEY_RACE_ROUNDS + 1):
        conn = await connection()
        try:
            async with conn.transaction():
                return await write_round(conn, [t for t in batch if not t.done], leases)
        except Exception as exc:
            if not _key_taken_meanwhile(exc) or attempt == KEY_RACE_ROUNDS:
                raise
    raise AssertionError("unreachable: the last attempt returns or raises")


def _key_taken_meanwhile(exc: Exception) -> bool:
    return (
        getattr(exc, "sqlstate", None) == UNIQUE_VIOLATION
        and getattr(exc, "constraint_name", None) == KEY_INDEX
    )


async def write_round(
    conn: Any, batch: Batch, leases: Leases | None
) -> tuple[list[Ticket[EncodedAppend]], int]:
    """(the appends written, in order; the seq of the first), inside the caller's transaction."""
    allowed = list(batch) if leases is None else await leases.fence(conn, batch)
    accepted = await claim_keys(conn, allowed)
    if not accepted:
        return [], 0
    last: int = await conn.fetchval(sql.NEXT_SEQS, len(accepted))
    first = last - len(accepted) + 1
    streams, records = round_arrays(
        [t.item for t in accepted],
        first,
        owner=None if leases is None else leases.owner,
        epochs=None if leases is None else leases.held,
    )
    await conn.execute(sql.UPSERT_STREAMS, *streams)
    await conn.execute(sql.INSERT_RECORDS, *records)
    return accepted, first


async def claim_keys(conn: Any, batch: Batch) -> list[Ticket[EncodedAppend]]:
    """Fail (alone) each append whose key another stream holds; the rest, in order."""
    keys = sorted({k for t in batch if (k := t.item.append.info.key) is not None})
    if not keys:
        return list(batch)
    sids = sorted({t.item.stream_id for t in batch})
    rows = await conn.fetch(sql.KEY_ROWS, keys, sids)
    wanted_keys, wanted_sids = set(keys), set(sids)
    holders = {key: sid for sid, key in rows if key in wanted_keys}
    keys_of: dict[str, str | None] = {sid: key for sid, key in rows if sid in wanted_sids}
    ledger = KeyLedger(holders, keys_of)
    accepted = []
    for ticket in batch:
        duplicate = ledger.claim(ticket.item.stream_id, ticket.item.append.info.key)
        if duplicate is None:
            accepted.append(ticket)
        else:
            ticket.fail(duplicate)
    return accepted
