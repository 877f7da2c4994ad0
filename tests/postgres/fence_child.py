"""A process holding one partition of a shared journal, appending until it loses it.

usage: python -m tests.postgres.fence_child URL OWNER PARTITION STREAM

Prints `held EPOCH` once it holds the partition, then `ok SEQ` per durable
append, `retry` after a failed commit (a broken connection), and `lost`
once an append is refused with OwnershipLost; then it exits 0.
"""

from __future__ import annotations

import sys

import anyio

from cadenza.persistence import (
    Append,
    JournalWriteError,
    OwnershipLost,
    PostgresJournal,
    StreamInfo,
)


async def main(url: str, owner: str, partition: int, stream: str) -> None:
    async with PostgresJournal(url, owner=owner, stalled_s=1.0) as journal:
        taken = await journal.acquire(60.0, [partition])
        print(f"held {taken[partition]}", flush=True)
        n = 0
        while True:
            n += 1
            row = StreamInfo(stream, "fence", 1, "RUNNING", False, 0.0, float(n))
            try:
                seq = await journal.append(Append(row, [{"n": n, "by": owner}]))
            except OwnershipLost:
                print("lost", flush=True)
                return
            except JournalWriteError:
                print("retry", flush=True)
                continue
            print(f"ok {seq}", flush=True)


if __name__ == "__main__":
    anyio.run(main, sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4])
