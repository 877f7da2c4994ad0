"""Unserved task types: tasks queued with no worker or poller for them, past a limit.

Design note
-----------
A task type is *served* in a group while a local worker for it is
registered there (and not paused after crashing in a loop) or a poll for
it is parked there. Otherwise it is unserved since the later of: its
queue there became non-empty, and the last poll for it. Once that lasts
`limit_s` (on the runtime's clock), the group logs `dispatch.unserved`
once (WARNING, naming the type, the group, how many wait and the remedy)
and tells `counted` (the `cadenza_task_unserved_total` metric). It warns
again only after the type was served or its queue emptied. The group arms
one wake-up for the earliest such deadline: no polling.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

UNSERVED_WARNING_S = 60.0  # Runtime(unserved_warning_s=...) default


@dataclass(slots=True)
class Unserved:
    """The rule: warn once past `limit_s` (None: never); `counted(task_type, group)` each time."""

    limit_s: float | None = UNSERVED_WARNING_S
    counted: Callable[[str, str], None] | None = None


def newly_unserved(
    limit_s: float,
    queued_since: dict[str, float],
    polled_at: dict[str, float],
    served: Callable[[str], bool],
    warned: set[str],
    now: float,
) -> tuple[list[str], float | None]:
    """The task types unserved for `limit_s` by `now` and not yet `warned` (added to it),
    and the earliest deadline still ahead (None: none). A type served again, or no
    longer queued, leaves `warned`."""
    found: list[str] = []
    earliest: float | None = None
    for task_type, since in queued_since.items():
        if served(task_type):
            warned.discard(task_type)
            continue
        if task_type in warned:
            continue
        due = max(since, polled_at.get(task_type, since)) + limit_s
        if now >= due:
            warned.add(task_type)
            found.append(task_type)
        elif earliest is None or due < earliest:
            earliest = due
    if warned:
        warned.intersection_update(queued_since)
    return found, earliest
