"""Deterministic simulation of the cadenza runtime: trace, harness, checker, workloads.

Layout: `trace` (the recording Delivery seam and trace hash), `harness`
(a Runtime hosted on a `Simulation`, crashed and recovered from its
in-memory journal), `checker` (the DESIGN.md invariants, read from the
journal after every step and from the live runtime at check points),
`workloads` (the Conductor-like load), `sweep` (seeds and the CLI's logic).
"""
