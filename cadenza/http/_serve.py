"""`cadenza serve`: open one `Runtime`, run the setup function, serve the app with uvicorn.

`--setup MODULE:FUNCTION` names `async def setup(rt)`, awaited after
recovery and before the port opens, to register definitions and local
workers. The module is imported with the current directory on `sys.path`
(as uvicorn does for its app). Ctrl-C (SIGINT) or SIGTERM stops serving,
then the runtime shuts down cleanly.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import os
import signal
import socket
import sys
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import anyio

from cadenza._errors import InvalidArgument
from cadenza.http._app import create_app
from cadenza.persistence import redact_url
from cadenza.runtime import Runtime

Setup = Callable[[Runtime], Awaitable[Any]]


def load_setup(spec: str) -> Setup:
    """The function `MODULE:FUNCTION` names; `InvalidArgument` with one line if it cannot be."""
    module_name, sep, function_name = spec.partition(":")
    if not sep or not module_name or not function_name:
        raise InvalidArgument("--setup", f"expected MODULE:FUNCTION, got {spec!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise InvalidArgument("--setup", f"cannot import {module_name!r}: {exc}") from None
    function = getattr(module, function_name, None)
    if function is None:
        raise InvalidArgument("--setup", f"module {module_name!r} has no {function_name!r}")
    if not inspect.iscoroutinefunction(function):
        raise InvalidArgument(
            "--setup", f"{spec} must be an async function taking the runtime: async def setup(rt)"
        )
    setup: Setup = function
    return setup


def _server_class() -> Any:
    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn's server, but a SIGINT or SIGTERM only stops serving: it is not raised
        again afterwards (uvicorn re-raises it), so the runtime still shuts down cleanly."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            handled = (signal.SIGINT, signal.SIGTERM)
            originals = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
            try:
                yield
            finally:
                for sig, handler in originals.items():
                    signal.signal(sig, handler)

    return Server


async def serve(
    db: str,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    token: str | None = None,
    setup: str | None = None,
    log_level: str = "warning",
    announce: Callable[[str], None] | None = None,
) -> None:
    """Serve Conductor's REST API on the journal `db` until interrupted."""
    import uvicorn

    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise InvalidArgument("--port", f"expected 0 to 65535, got {port!r}")
    setup_fn = load_setup(setup) if setup else None
    async with Runtime(db) as rt:
        if setup_fn is not None:
            await setup_fn(rt)
        config = uvicorn.Config(
            create_app(rt, token=token),
            host=host,
            port=port,
            log_level=log_level,
            lifespan="off",
            access_log=log_level == "debug",
        )
        server = _server_class()(config)
        if announce is not None:
            announce(
                f"cadenza serving http://{host}:{port}/api, dashboard http://{host}:{port}/ui/ "
                f"(journal {redact_url(db)})"
            )
        await server.serve()


@contextlib.asynccontextmanager
async def serving(rt: Runtime, *, host: str = "127.0.0.1", port: int = 8080) -> AsyncIterator[str]:
    """Serve `create_app(rt)` (the API and the dashboard) in the background while the block runs.

    Yields the dashboard's address. The port is bound before the block starts,
    so a taken port is an `InvalidArgument` naming it, not a log line. Signals
    are left alone: Ctrl-C still reaches the caller (as in `cadenza demo --ui`).
    """
    import uvicorn

    class Quiet(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise InvalidArgument("--port", f"cannot listen on {host}:{port}: {exc.strerror}") from None
    bound_port = sock.getsockname()[1]
    config = uvicorn.Config(create_app(rt), log_level="warning", lifespan="off", access_log=False)
    server = Quiet(config)
    with sock:
        async with anyio.create_task_group() as tg:
            tg.start_soon(server.serve, [sock])
            try:
                yield f"http://{host}:{bound_port}/ui/"
            finally:
                server.should_exit = True
