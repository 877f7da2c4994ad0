"""Helpers for testing services built on cadenza."""

from cadenza.actors import VirtualClock

__all__ = ["VirtualClock"]
