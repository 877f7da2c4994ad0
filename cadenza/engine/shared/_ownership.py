"""Which runs this process may act on, when several processes share one journal.

Design note
-----------
With one process per journal (SQLite, memory) every run is this process's
and `Engine.ownership` is None. With several (PostgreSQL, `Runtime(url,
lease_s=...)`) runs hash to partitions leased to one live process at a
time (`cadenza.runtime._partitions`); the engine asks its `Ownership`:

- `owns(run_id)`: the run's actor may live here. A run owned elsewhere gets
  a stand-in instead (`_foreign.ForeignRun`): it reads, never writes.
- `joined()`: awaited at open, before recovery, so recovery sees the
  partitions taken; `serving()`: after it, to heartbeat in the background.
- `forward(run_id, message)`: a message for a run owned elsewhere goes to
  its owner's inbox, and its `reply` (if any) is answered once the owner
  applied it, with the owner's answer or refusal (as a direct call on the
  owner); False when the message cannot travel (a local worker's result, a
  wake-up: the owner redoes those from the journal).
- `confirm(run_id, epoch)`: asked by a run's actor before it refuses a
  call from its state (a refusal writes nothing, so no fence checks it):
  an owner that lost its lease unawares must not answer from stale state.
- `route(prefix, target)`: the owner applies inbox messages for streams
  with that prefix (schedules) through `target`, not a run's actor.

`actor_for` picks the actor each run's entity is made with.

`SharedDispatch` (`Engine.shared`, PostgreSQL only): the worker-group
queues every process hands out from (`cadenza.runtime._shared_tasks`). A
task no local worker of its group serves here (`Engine.share_of`) is posted
there once its run made it durable (`offer`: True if it took the task); a
task withdrawn or ended is voided (`void`). Runs about to be recovered here
are first `adopt`ed: rows an earlier owner posted for them are removed if
unclaimed and served by a local worker here, else kept (their tasks then
stay with the shared queue), so a task is never run both here and by a
worker that claimed its row (issue 17).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from cadenza.actors import Actor, ActorRef
from cadenza.dispatch._messages import QueuedTask
from cadenza.engine.run._actor import RunActor
from cadenza.engine.shared._foreign import ForeignRun

if TYPE_CHECKING:
    from cadenza.engine._host import Engine


class Ownership(Protocol):
    """The runs of a shared journal this process owns; see the module note."""

    def owns(self, run_id: str) -> bool: ...

    def epoch_of(self, run_id: str) -> int | None:
        """The lease epoch this process holds the run's partition at (None: not held)."""
        ...

    def can_mint(self) -> bool:
        """True while some partition is held, so a new run id can be made owned here."""
        ...

    async def joined(self) -> None: ...

    def serving(self) -> None: ...

    async def forward(self, run_id: str, message: Any) -> bool: ...

    async def confirm(self, run_id: str, epoch: int) -> bool:
        """True if this process still holds the run's partition at `epoch`, asked of the
        database (a lease found taken over is dropped, its runs' actors with it)."""
        ...

    def route(self, prefix: str, target: Callable[[str], ActorRef[Any]]) -> None:
        """Inbox messages for streams whose id starts with `prefix` go to `target(stream_id)`."""
        ...


class SharedDispatch(Protocol):
    """The worker-group queues shared by every process; see the module note."""

    def offer(self, group: str, task: QueuedTask) -> bool: ...

    def void(self, task_id: str) -> None: ...

    async def adopt(self, run_ids: Sequence[str]) -> None:
        """Runs `run_ids` are about to be recovered here: settle the rows earlier owners
        posted for them before their tasks are queued (raises if the queue is away)."""
        ...

    def holds(self, task_id: str) -> bool:
        """True if the task's row was left at its run's adoption (a worker claimed it, or its
        lease lapsed) and it has not been voided since: it is not the local groups'."""
        ...

    def kick(self) -> None:
        """Something may be pulled now (a local worker was registered)."""
        ...

    def waiting(self) -> list[tuple[str, str, float]]:
        """(task type, group, ready at) of this process's posted tasks no worker holds."""
        ...


MINT_TRIES = 100_000  # ids minted before giving up on landing in a held partition


def actor_for(engine: Engine, run_id: str) -> Actor[Any]:
    """The actor of run `run_id` here: its own actor if this process owns it, else a stand-in."""
    ownership = engine.ownership
    if ownership is None or ownership.owns(run_id):
        return RunActor(run_id, engine)
    return ForeignRun(run_id, engine)
