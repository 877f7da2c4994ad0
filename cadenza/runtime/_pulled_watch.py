"""Cancelling a pulled task's function once its attempt is over (issue 17, "pulled tasks
lack what local slots have").

Design note
-----------
A local slot's function is cancelled when its attempt ends without its
verdict (a timeout, a terminated run, a cancel): the run's owner releases
the attempt in the `Ledger`, which calls the slot's cancel (`_slots`). A
task pulled from the shared queue (`_pullers`) runs the same way, in an
`anyio.CancelScope` of its own, and is cancelled on either of two signals:

- **Its run is owned here.** The scope's cancel is registered with the
  ledger as a local slot's is (`Ledger.watch`): the owner's release of the
  attempt cancels it at once, in the same turn.
- **Wherever the run is owned**, the attempt's end shows in the shared
  queue: the owner voids the row of a task it ends (a timeout, a cancel, a
  terminated run: `SharedTasks.void`), and a lease that ran out (no
  heartbeat within responseTimeoutSeconds) is over too. One loop per
  process asks, every `check_every_s` (`CHECK_EVERY_S`), which of the
  pulled tasks running here still hold a live lease (`SharedQueue.live`,
  one statement for all of them, none while none runs) and cancels the
  others. A lease that ran out is also reaped there (`SharedQueue.reap`),
  so its owner times the attempt out even when no poll of its type comes
  (a worker whose slots all hang pulls nothing, so it reaps nothing).

So a hung function gives its slot back at most `check_every_s` (plus one
query) after its owner voided the row or its lease ran out, and at once
when this process owns the run. One second matches the reaping period of
the shared queue (`REAP_EVERY_S`): a task's end is seen about as soon as a
lapsed lease is, and the check costs one indexed query a second per
process that runs pulled tasks, nothing otherwise. A checked lease is not
extended: a function that runs longer than its responseTimeoutSeconds must
call `ctx.heartbeat()`, as an external worker must.

A cancelled function sends no verdict (it would be refused as stale). A
function that swallows the cancellation is cancelled again at its next
await (anyio's cancel scopes are level-triggered), and its verdict is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

import anyio

from cadenza._log import get_logger
from cadenza.engine._host import Engine
from cadenza.runtime._shared_tasks import SharedTasks

log = get_logger("cadenza.runtime")

CHECK_EVERY_S = 1.0  # how often the pulled tasks running here are checked against the queue


@dataclass(slots=True)
class Watched:
    """One pulled task running here: its group, type and the scope of its function."""

    group: str
    task_type: str
    scope: anyio.CancelScope


class PulledWatch:
    """The pulled tasks running in this process, cancelled once their attempt is over."""

    def __init__(self, engine: Engine, shared: SharedTasks):
        self.engine = engine
        self.shared = shared
        self.check_every_s = CHECK_EVERY_S
        self.running: dict[str, Watched] = {}  # task id -> the function's scope
        self.cancelled = 0  # functions cancelled because their attempt ended
        self._some = anyio.Event()  # set while something runs

    def serving(self) -> None:
        self.engine.system.start_soon(self._loop, name="pulled-watch")

    def watch(self, task_id: str, group: str, task_type: str) -> anyio.CancelScope:
        """The scope to run `task_id`'s function in; cancelled once the attempt is over
        (see the module note) until `unwatch`."""
        scope = anyio.CancelScope()
        self.running[task_id] = Watched(group, task_type, scope)
        self.engine.ledger.watch(task_id, lambda: self._cancel(task_id, scope, "it ended here"))
        self._some.set()
        return scope

    def unwatch(self, task_id: str) -> None:
        """The function returned: nothing to cancel (call before reporting its verdict)."""
        self.running.pop(task_id, None)
        self.engine.ledger.executed(task_id)

    def _cancel(self, task_id: str, scope: anyio.CancelScope, why: str) -> None:
        watched = self.running.get(task_id)
        if watched is None or watched.scope is not scope:
            return  # it returned meanwhile
        self.unwatch(task_id)
        self.cancelled += 1
        log.info("shared_queue.pulled_task_cancelled", task_id=task_id, why=why)
        scope.cancel()

    async def _loop(self) -> None:
        while True:
            if not self.running:
                self._some = anyio.Event()
                await self._some.wait()
            await anyio.sleep(self.check_every_s)
            try:
                await self.check()
            except Exception as exc:  # the server away: looked at again next time
                if self.engine.system.stopping:
                    return
                log.warning("shared_queue.pulled_check_failed", error=repr(exc))

    async def check(self) -> int:
        """Cancel the functions of the pulled tasks whose row is gone or whose lease ran out
        (reaping those); how many were cancelled. Raises what the database raises."""
        if not self.running:
            return 0
        seen = dict(self.running)
        live = await self.shared.queue.live(list(seen))
        over = [(task_id, w) for task_id, w in seen.items() if task_id not in live]
        for task_id, watched in over:
            self._cancel(task_id, watched.scope, "its row is gone or its lease ran out")
        for group, task_type in {(w.group, w.task_type) for _t, w in over}:
            for task_id, run_id in await self.shared.queue.reap(group, task_type):
                log.info("shared_queue.lease_lapsed", task_id=task_id, run_id=run_id)
        return len(over)
