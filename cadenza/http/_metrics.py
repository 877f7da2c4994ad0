"""`GET /metrics`: the runtime's registry in Prometheus' text format (or OpenMetrics, if asked).

Read on the event loop's thread, as every endpoint is: the counters and
the engine's queues are read where the actors change them, never across
threads. `Runtime(metrics=False)` answers 404 with Conductor's error body.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from prometheus_client.exposition import choose_encoder
from starlette.requests import Request
from starlette.responses import Response

from cadenza._errors import NotFound
from cadenza.runtime import Runtime


def metrics_endpoint(rt: Runtime) -> Callable[[Request], Awaitable[Response]]:
    """The endpoint serving `rt.metrics`."""

    async def metrics(request: Request) -> Response:
        registry = rt.metrics
        if registry is None:
            raise NotFound("metrics", "/metrics (the runtime was opened with metrics=False)")
        encoder, content_type = choose_encoder(request.headers.get("accept", ""))
        return Response(encoder(registry), media_type=content_type)

    return metrics
