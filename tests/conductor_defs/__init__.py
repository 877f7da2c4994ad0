"""Conductor's reference workflow definitions, vendored so the suite runs from a clone alone.

A copy of the project's shared/conductor-defs (see README.md here for their
provenance: conductor-oss/conductor's test resources, Apache-2.0, and
adapted copies without JavaScript). When shared/ sits beside the repository,
the two must agree (a test checks it).
"""

from pathlib import Path

CONDUCTOR_DEFS = Path(__file__).resolve().parent
SHARED_DEFS = Path(__file__).resolve().parents[3] / "shared" / "conductor-defs"
