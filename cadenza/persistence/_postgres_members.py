"""Members and the even spread of partitions among the processes sharing a journal.

Design note
-----------
Each process sharing a PostgreSQL journal is a *member*: a row in
`members` (owner, expires_at) that its heartbeat pushes `lease_s` ahead on
the database's clock. A member whose row ran out is dead; its leases run
out on the same clock, so the others take its partitions over within
`lease_s` of its last heartbeat (plus one balancing tick).

`balance` is one tick of a member, meant to run every `lease_s / 3`:

1. heartbeat: its own row moves ahead;
2. renew: its leases move ahead, and partitions taken over are reported
   lost (`Leases.renew`);
3. its share: the live members, ordered by owner, split the `PARTITIONS`
   exactly (the first `PARTITIONS % n` take one more), so the spread is
   even and every member computes the same split;
4. above its share it releases its highest partitions at once (a graceful
   move: the next member's tick takes them without waiting for expiry);
   below it, it takes free or expired partitions up to its share.

So a joining member gets its share within a tick or two of the others,
a leaving member (`leave`: rows deleted, leases released) hands its
partitions over at once, and a dead one's go within `lease_s`: a tick
reports when the first lease another member holds runs out
(`Balance.expiry_in_s`), and the next tick comes just after it when that
is sooner than `lease_s / 3` (`next_tick_in`). Balancing
never takes a partition whose lease is alive: moves go through a release.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cadenza.persistence import _postgres_schema as sql
from cadenza.persistence._postgres_leases import Leases
from cadenza.persistence._postgres_schema import PARTITIONS

EXPIRY_SLACK_S = 0.01  # a tick meant for a lease's expiry comes this long after it


@dataclass(frozen=True, slots=True)
class Balance:
    """What one balancing tick did, and what it saw."""

    members: list[str]  # the live members, ordered by owner
    share: int  # the partitions this member should hold
    acquired: dict[int, int] = field(default_factory=dict)  # partition → epoch
    released: list[int] = field(default_factory=list)
    lost: set[int] = field(default_factory=set)  # taken over by another member
    expiry_in_s: float | None = None  # until the first lease another member holds runs out


def share_of(owner: str, members: list[str]) -> int:
    """`owner`'s share of `PARTITIONS` among `members` (sorted): an exact, even split."""
    rank = members.index(owner)
    base, extra = divmod(PARTITIONS, len(members))
    return base + (1 if rank < extra else 0)


async def balance(conn: Any, leases: Leases, lease_s: float) -> Balance:
    """One tick of `leases.owner` (see the module note), on the write connection."""
    await conn.execute(sql.HEARTBEAT, leases.owner, lease_s)
    lost = await leases.renew(conn, lease_s)
    members = [row[0] for row in await conn.fetch(sql.LIVE_MEMBERS)]
    if leases.owner not in members:  # pragma: no cover - its heartbeat just now made it live
        members = sorted([*members, leases.owner])
    share = share_of(leases.owner, members)
    released: list[int] = []
    acquired: dict[int, int] = {}
    surplus = len(leases.held) - share
    if surplus > 0:
        released = await leases.release(conn, sorted(leases.held)[-surplus:])
    elif surplus < 0:
        acquired = await leases.acquire(conn, lease_s, None, -surplus)
    expiry_in_s = await conn.fetchval(sql.NEXT_EXPIRY, leases.owner)
    return Balance(members, share, acquired, released, lost, expiry_in_s)


def next_tick_in(lease_s: float, balance: Balance) -> float:
    """Seconds to the next tick: `lease_s / 3`, or sooner, just after the first lease another
    member holds runs out. A live member renews long before; a dead one's partitions are
    then taken at once, within `lease_s` of its death, where the next regular tick could
    come up to `lease_s / 3` later."""
    regular = lease_s / 3
    if balance.expiry_in_s is None:
        return regular
    return max(0.0, min(regular, balance.expiry_in_s + EXPIRY_SLACK_S))


async def leave(conn: Any, leases: Leases) -> list[int]:
    """A graceful leave: release every partition and delete the member's row."""
    released = await leases.release(conn, None)
    await conn.execute(sql.LEAVE, leases.owner)
    return released
