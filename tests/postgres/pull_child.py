"""A process whose local worker pulls `job` tasks from the shared queue and hangs in them.

usage: python -m tests.postgres.pull_child URL

Opens `Runtime(URL, lease_s=30)` (joining processes already there: it takes
no partition while they hold them all), registers `one`
(tests/postgres/test_shared_poll.py) and a worker for `job` that prints
`got TASK_ID` and then never returns; prints its owner name, then `ready`,
and waits until it is killed.
"""

from __future__ import annotations

import sys
from typing import Any

import anyio

import cadenza
from tests.postgres.test_shared_poll import ONE
from tests.postgres.test_shared_runtime import parts


async def main(url: str) -> None:
    async with cadenza.Runtime(url, lease_s=30.0) as rt:
        await rt.register(ONE)

        async def hang(data: dict[str, Any], ctx: cadenza.TaskContext) -> dict[str, Any]:
            print(f"got {ctx.task_id}", flush=True)
            await anyio.sleep_forever()
            raise AssertionError("unreachable")

        rt.worker("job", hang)
        print(parts(rt).leases.owner, flush=True)
        print("ready", flush=True)
        await anyio.sleep_forever()


if __name__ == "__main__":
    anyio.run(main, sys.argv[1])
