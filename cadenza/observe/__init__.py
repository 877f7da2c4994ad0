"""Observing a runtime: Prometheus metrics (`Metrics`).

It sits between the runtime facade and the engine: the engine knows only
the `Observer` protocol (`cadenza.engine._observer`) it calls at a few
events; this package implements it and reads the engine's own counters and
queues when Prometheus scrapes.
"""

from cadenza.observe._metrics import Metrics
from cadenza.observe._sources import attach

__all__ = ["Metrics", "attach"]
