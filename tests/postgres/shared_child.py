"""One of several processes serving a shared PostgreSQL journal, under load, until killed.

usage: python -m tests.postgres.shared_child URL SEED KEYS LEASE_S

Opens `Runtime(URL, lease_s=LEASE_S)`, registers `three_steps` with local
workers, prints `ready`, then starts one run per idempotency key
`key-0` .. `key-{KEYS-1}` (in an order shuffled by SEED; every process
starts every key, so most starts find the run already started), prints
`started`, and serves until it is killed (or stdin closes: then it leaves
gracefully).
"""

from __future__ import annotations

import random
import sys
from typing import Any

import anyio

import cadenza
from tests.conftest import three_steps


async def add_one(data: dict[str, Any]) -> dict[str, Any]:
    await anyio.sleep(0.001)
    return {"n": data["n"] + 1}


async def main(url: str, seed: int, keys: int, lease_s: float) -> None:
    async with cadenza.Runtime(url, seed=seed, lease_s=lease_s) as rt:
        await rt.register(three_steps())
        for task_type in ("step_a", "step_b", "step_c"):
            rt.worker(task_type, add_one, concurrency=8)
        print("ready", flush=True)
        order = list(range(keys))
        random.Random(seed).shuffle(order)
        async with anyio.create_task_group() as tg:
            limiter = anyio.Semaphore(16)

            async def start(i: int) -> None:
                async with limiter:
                    while True:
                        try:
                            run_id = await rt.start("three_steps", {"n": i}, key=f"key-{i}")
                        except Exception:  # a refused round, a partition moving: again
                            await anyio.sleep(0.05)
                            continue
                        if not isinstance(run_id, str) or not run_id:
                            raise AssertionError(f"start of key-{i} answered {run_id!r}")
                        return

            for i in order:
                tg.start_soon(start, i)
        print("started", flush=True)
        await anyio.to_thread.run_sync(sys.stdin.read)  # serve until stdin closes


if __name__ == "__main__":
    anyio.run(main, sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]))
