"""A run's actor and its parts: the only code that changes a run.

`RunActor` (`_actor`) handles a batch of messages, journals the batch's
events as one record (`_batches`), and only then acts (`_effects`, `_acts`).
Beside it: its deadlines and current-state row (`_timing`), its links to
parent and child runs (`_links`), JavaScript off the loop (`_scripts`),
what it needs from the host (`_services`), and how it answers starts,
verdicts, failures and unreadable records.
"""

from cadenza.engine.run._actor import RunActor

__all__ = ["RunActor"]
