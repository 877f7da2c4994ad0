"""The runtime's metrics: made from `Runtime(metrics=...)`, registered while it is open."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry

from cadenza.engine._host import Engine
from cadenza.engine._schedules import Scheduler
from cadenza.observe import Metrics, attach


class Observing:
    """The `Metrics` of one runtime, or none (`metrics=False`)."""

    def __init__(self, metrics: Any):
        self.metrics = None if metrics is False else Metrics(None if metrics is True else metrics)

    @property
    def registry(self) -> CollectorRegistry | None:
        return None if self.metrics is None else self.metrics.registry

    async def opened(self, engine: Engine, scheduler: Scheduler) -> None:
        """Register the metrics, then open `engine` and its `scheduler`; unregistered again
        (and the engine closed) if either fails to open.

        Raises:
            InvalidArgument: the registry holds another open runtime's metrics.
        """
        if self.metrics is None:
            await _open(engine, scheduler)
            return
        attach(self.metrics, engine, scheduler)
        self.metrics.register()
        try:
            await _open(engine, scheduler)
        except BaseException:
            self.metrics.unregister()
            raise

    async def closed(self, engine: Engine) -> None:
        """Close `engine`, then take the metrics out of the registry."""
        try:
            await engine.close()
        finally:
            if self.metrics is not None:
                self.metrics.unregister()


async def _open(engine: Engine, scheduler: Scheduler) -> None:
    await engine.open()
    try:
        await scheduler.open()
    except BaseException:
        await engine.close()
        raise
