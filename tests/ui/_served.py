"""A real server for the browser tests: `create_app(rt)` under uvicorn, in a thread of its own.

The runtime and the server live on one event loop behind an anyio blocking
portal, so a (synchronous) Playwright test drives the browser and calls the
runtime through `served.call(...)`, as another client of the same process
would. The runtime runs on the real clock: the browser's polling does.
"""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import anyio
import uvicorn
from anyio.from_thread import BlockingPortal, start_blocking_portal

import cadenza
from cadenza.http import create_app
from tests.ui._flows import TASK_DEFS, TWO_STEPS, WAITING

T = TypeVar("T")
BROWSER_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
CHROMIUM = "/usr/bin/chromium"


@dataclass
class Served:
    url: str  # the dashboard's address, ending in /ui/
    rt: cadenza.Runtime
    portal: BlockingPortal

    def call(self, fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        async def run() -> T:
            return await fn(*args, **kwargs)

        return self.portal.call(run)

    def finish(
        self, task_type: str, output: dict[str, Any] | None = None, *, run_id: str | None = None
    ) -> None:
        """Take the next `task_type` task (of `run_id`, if given) and complete it."""
        self._take(task_type, run_id, lambda task_id: self.rt.complete(task_id, output or {}))

    def fail(self, task_type: str, reason: str, *, run_id: str) -> None:
        """Take the next `task_type` task of `run_id` and fail it."""
        self._take(task_type, run_id, lambda task_id: self.rt.fail(task_id, reason))

    def _take(
        self, task_type: str, run_id: str | None, act: Callable[[str], Awaitable[None]]
    ) -> None:
        async def run() -> None:
            held: list[str] = []  # other runs' tasks, held until ours is found, then given back
            try:
                with anyio.fail_after(10):
                    while True:
                        task = await self.rt.poll(task_type, wait=1.0)
                        if task is None:
                            continue
                        if run_id is None or task.run_id == run_id:
                            await act(task.id)
                            return
                        held.append(task.id)
            finally:
                for task_id in held:
                    await self.rt.update(task_id, callback_after_s=0.0)

        self.portal.call(run)


async def _register(rt: cadenza.Runtime) -> None:
    for task_def in TASK_DEFS:
        await rt.register_task(task_def)
    await rt.register(TWO_STEPS)
    await rt.register(WAITING)


@contextmanager
def serve(
    db: str,
    *,
    token: str | None = None,
    setup: Callable[[cadenza.Runtime], Awaitable[Any]] = _register,
) -> Iterator[Served]:
    """Serve the dashboard on a free port of 127.0.0.1 until the block ends.

    The socket is bound and listening before uvicorn starts, so the browser's
    first request waits in the backlog instead of racing the server's start.
    """
    with (
        socket.socket() as sock,
        start_blocking_portal() as portal,
        portal.wrap_async_context_manager(cadenza.Runtime(db)) as rt,
    ):
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        port = sock.getsockname()[1]
        portal.call(setup, rt)
        config = uvicorn.Config(create_app(rt, token=token), log_level="warning", lifespan="off")
        server = uvicorn.Server(config)
        done = portal.start_task_soon(server.serve, [sock])
        try:
            yield Served(url=f"http://127.0.0.1:{port}/ui/", rt=rt, portal=portal)
        finally:
            server.should_exit = True
            done.result(timeout=20)
