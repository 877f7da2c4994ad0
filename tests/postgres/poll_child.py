"""The owner of runs whose tasks wait in the shared queue, until it is killed.

usage: python -m tests.postgres.poll_child URL LEASE_S RUNS

Opens `Runtime(URL, lease_s=LEASE_S)` (alone on the database: it holds every
partition), registers `one` (tests/postgres/test_shared_poll.py) with no
worker, starts RUNS runs, settles (their tasks are posted), prints each run
id then `posted`, and waits until stdin closes (or it is killed).
"""

from __future__ import annotations

import sys

import anyio

import cadenza
from tests.postgres.test_shared_poll import ONE


async def main(url: str, lease_s: float, runs: int) -> None:
    async with cadenza.Runtime(url, lease_s=lease_s) as rt:
        await rt.register(ONE)
        ids = [await rt.start("one", {"n": i}) for i in range(runs)]
        await rt.settle()
        for run_id in ids:
            print(run_id, flush=True)
        print("posted", flush=True)
        await anyio.to_thread.run_sync(sys.stdin.read)


if __name__ == "__main__":
    anyio.run(main, sys.argv[1], float(sys.argv[2]), int(sys.argv[3]))
