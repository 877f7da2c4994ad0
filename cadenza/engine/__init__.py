"""The engine: one actor per workflow run, and the host its actors talk to.

Builds on the kernel (`cadenza.actors`), the journal
(`cadenza.persistence`), the pure core and language, and dispatch. The
`RunActor` is the only code that changes a run: it handles a batch of
messages, journals the batch's events as one record, and only then acts.
The loader batches reads of runs, the registry holds definitions and
TaskDefs, and the host wires runs, groups and timers together.

Subpackages: `run` (the run actor and its parts), `schedules` (a
schedule's actor and its stream), `shared` (several processes on one
journal: ownership, foreign runs, the inbox's codecs).
"""

from cadenza.engine._registry import Registry
from cadenza.engine.run._actor import RunActor

__all__ = ["Registry", "RunActor"]
