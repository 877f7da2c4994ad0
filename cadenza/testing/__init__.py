"""Helpers for testing services built on cadenza."""

from cadenza.actors import VirtualClock
from cadenza.actors._simloop import SimClock, SimDeadlock, SimLoop, SimTimeout, Simulation

__all__ = ["SimClock", "SimDeadlock", "SimLoop", "SimTimeout", "Simulation", "VirtualClock"]
