"""What waits in the shared worker-group queues: their depth, and the types nobody polls.

Design note
-----------
A task posted to the shared queue (`_shared_tasks`) is in no local group,
so the group-based readings miss it. `SharedWatch` looks at the database
every `WATCH_EVERY_S` (real time; one query, none while this process has
nothing posted) and keeps:

- `waiting`: each task *this process posted* (its own runs') that no lease
  holds. `cadenza_queue_depth` and `cadenza_queue_oldest_ready_age_seconds`
  add them to the group's local tasks, so summed over the fleet's processes
  every shared task counts once, at the process owning its run.
- The **unserved** rule of `cadenza.dispatch._unserved`, fleet-wide: every
  poll and every puller with a live worker records, at most once a second
  per process, that it polled the group and type (`queue_polls`). A group
  and type with tasks posted here waiting, and no poll anywhere since
  `unserved_warning_s` before now (nor since they started waiting), logs
  `dispatch.unserved` once with `shared=True`, and counts it in
  `cadenza_task_unserved_total`, as a local group does. It warns again
  only after it was polled or its tasks went.
- **Routing** (taskToDomain, `cadenza.core._schedule.Environment.group_for`):
  a group counts as active for a task type when a worker polled it within
  `ACTIVE_POLL_S`. Polls made on other processes reach this one through the
  same `queue_polls` records, read at each look (so within about two
  seconds: a record at most every second, a look every second), and count
  in the ledger's poll data as local polls do: a fallback list such as
  `"gpu,NO_DOMAIN"` picks `gpu` at the run's owner once a worker polls `gpu`
  on any process, or a local worker of `gpu` pulls anywhere.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio

from cadenza._log import get_logger
from cadenza.core._schedule import ACTIVE_POLL_S
from cadenza.dispatch._unserved import newly_unserved

if TYPE_CHECKING:
    from cadenza.runtime._shared_tasks import SharedTasks

log = get_logger("cadenza.dispatch")

WATCH_EVERY_S = 1.0
_SEP = "\x00"


class SharedWatch:
    """The shared queues' depth and unserved types, for one process; see the module note."""

    def __init__(self, shared: SharedTasks):
        self.shared = shared
        self.waiting: list[tuple[str, str, float]] = []  # (task type, group, ready at)
        self._since: dict[str, float] = {}  # "group\0type" -> when first seen waiting
        self._warned: set[str] = set()

    def serving(self) -> None:
        self.shared.engine.system.start_soon(self._loop, name="shared-watch")

    async def _routes(self) -> None:
        """Polls made on any process count for taskToDomain routing here (`Ledger.polled`)."""
        ledger = self.shared.engine.ledger
        now = self.shared.engine.clock.now()
        for group, task_type, age_s in await self.shared.queue.polls(ACTIVE_POLL_S):
            at = now - age_s
            if ledger.polled_at.get((task_type, group), at - 1.0) < at:
                ledger.polled(task_type, group, at)

    async def _loop(self) -> None:
        while True:
            await anyio.sleep(WATCH_EVERY_S)
            try:
                await self.look()
            except Exception as exc:  # the server away: the next look
                if self.shared.engine.system.stopping:
                    return
                log.warning("shared_queue.watch_failed", error=repr(exc))

    async def look(self) -> None:
        """Read what waits (`waiting`), warn of types unserved past the limit, and tell
        routing which groups any process polled lately."""
        await self._routes()
        posted = dict(self.shared.posted_here())
        if not posted:
            self.waiting = []
            self._since.clear()
            self._warned.clear()
            return
        queue = self.shared.queue
        unclaimed = await queue.unclaimed(list(posted))
        overview = await queue.overview()
        self.waiting = [
            (task.type, group, task.ready_at)
            for task_id, (group, task) in posted.items()
            if task_id in unclaimed
        ]
        engine = self.shared.engine
        now = engine.clock.now()
        keys = {f"{group}{_SEP}{task_type}" for task_type, group, _at in self.waiting}
        for key in list(self._since):
            if key not in keys:
                del self._since[key]
        for key in keys:
            self._since.setdefault(key, now)
        rule = engine.unserved
        if rule.limit_s is None:
            return
        polled = {
            f"{w.group}{_SEP}{w.task_type}": now - w.polled_s
            for w in overview
            if w.polled_s is not None
        }
        found, _earliest = newly_unserved(
            rule.limit_s, self._since, polled, lambda _key: False, self._warned, now
        )
        for key in found:
            group, task_type = key.split(_SEP, 1)
            since = max(self._since[key], polled.get(key, self._since[key]))
            log.warning(
                "dispatch.unserved",
                group=group,
                task_type=task_type,
                queued=sum(1 for t, g, _at in self.waiting if (t, g) == (task_type, group)),
                waited_s=now - since,
                shared=True,
                remedy=f"register a local worker for {task_type!r} in group {group!r} in any "
                "process sharing the journal (rt.worker) or poll it (rt.poll, or Conductor's "
                "/api/tasks/poll)",
            )
            if rule.counted is not None:
                rule.counted(task_type, group)
