"""Helpers for testing services built on cadenza.

`VirtualClock` moves only when told; `Simulation` runs asyncio code on
virtual time with seeded interleavings. `cadenza.testing._simulation` holds
the deterministic simulation harness behind `cadenza simulate` (a runtime
crashed and recovered on a `Simulation`, the invariant checker, the
workloads); it is imported on demand, not here.
"""

from cadenza.actors import VirtualClock
from cadenza.actors._simloop import SimClock, SimDeadlock, SimLoop, SimTimeout, Simulation

__all__ = ["SimClock", "SimDeadlock", "SimLoop", "SimTimeout", "Simulation", "VirtualClock"]
