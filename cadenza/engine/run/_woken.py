"""Parked runs woken by one timer wake-up, handled in one pass (issue 14's timer storms).

Design note
-----------
When a wake-up of the timer service finds many runs due, each would start
an actor that loads its run, handles its `Wake` and commits on its own.
`WakePass` takes the due `Wake`s of runs that have no actor in memory (a
parked run has none) and does the same work for all of them at once: one
read for their loads (`RunLoader.load_all`), each run's `Wake` handled by
its `RunActor`, their records in one `Journal.append_many`, then each
run's effects, sent as its actor.

The runs stay consistent because each one's actor is adopted by the run
pool *before* the pass starts, gated (`RunActor.ready`): a message sent to
the run meanwhile (a signal, a read, an operation) waits in its mailbox,
and the actor that handles it afterwards is the one the pass left, holding
the state the pass journaled. The pass is that actor's first step, taken
outside its mailbox. An actor left parked or ended is dropped again if no
message came.

A run the pass does not cover — a read that failed or found damage, a
JavaScript evaluation wanted, a record the journal refused — is put back
as it was (a new, gated actor, nothing of it journaled) and gets its `Wake`
through its mailbox, where its actor handles it as always (loading it,
retrying a failed commit with its back-off, quarantining damage). The pass
itself runs as a task of the actor system, so the timer service goes on at
once; `settle` waits for it (a busy token).
"""

from __future__ import annotations

import contextlib
from time import perf_counter
from typing import TYPE_CHECKING, Any

import anyio

from cadenza._log import get_logger
from cadenza.actors import ActorRef, ActorStopped, ActorSystemStopped
from cadenza.actors._delivery import acting_as
from cadenza.engine._messages import Wake
from cadenza.engine.run._actor import RunActor
from cadenza.engine.run._batches import Batch
from cadenza.engine.run._effects import StartRun as StartRunEffect
from cadenza.engine.run._timing import parked
from cadenza.engine.schedules._store import is_schedule_row

if TYPE_CHECKING:
    from cadenza.engine._host import Engine

log = get_logger("cadenza.engine")

WAKE_PASS_MIN = 2  # fewer due runs than this go through their actors


class WakePass:
    """Delivers a wake-up's due timers (`TimerService.deliver_many`); see the module note."""

    def __init__(self, engine: Engine):
        self.engine = engine

    async def deliver(self, due: list[tuple[ActorRef[Any], Any]]) -> None:
        """Tell each due entry, the `Wake`s of runs without an actor through one pass."""
        engine = self.engine
        runs = engine.runs_pool()
        gated: list[tuple[RunActor, Wake]] = []
        passing = engine.ownership is None  # several processes: each run through its actor
        wakes = sum(1 for _target, message in due if type(message) is Wake) if passing else 0
        for target, message in due:
            run_id = runs.key_of(target) if wakes >= WAKE_PASS_MIN else None
            if run_id is None or type(message) is not Wake or runs.has(run_id):
                await _tell(target, message)
                continue
            actor = RunActor(run_id, engine)
            actor.ready = anyio.Event()
            try:
                runs.adopt(run_id, actor)
            except ActorSystemStopped:
                return
            gated.append((actor, message))
        if gated:
            token = engine.system.busy()
            token.__enter__()
            engine.system.start_soon(self._pass, gated, token, name="wake-pass")

    async def _pass(self, gated: list[tuple[RunActor, Wake]], token: Any) -> None:
        """Load, handle, journal and act for the gated runs; put back what it does not cover."""
        durable: set[str] = set()  # runs whose record the pass committed
        back: list[tuple[RunActor, Wake]] = []
        try:
            with anyio.CancelScope(shield=True):
                back = await self._woken(gated, durable)
        except Exception as exc:  # a bug: the actors handle what is left, from the journal
            log.error("run.wake_pass_failed", runs=len(gated), error=repr(exc))
            back = [(actor, wake) for actor, wake in gated if actor.run_id not in durable]
        finally:
            for actor, wake in back:
                RunActor.__init__(actor, actor.run_id, self.engine)  # as if never loaded
                actor.ready = anyio.Event()
                with contextlib.suppress(ActorStopped, ActorSystemStopped):  # closing: recovery
                    self.engine.tell_run(actor.run_id, wake)  # re-arms it at the next open
            for actor, _wake in gated:
                if actor.ready is not None:
                    actor.ready.set()
            token.__exit__(None, None, None)

    async def _woken(
        self, gated: list[tuple[RunActor, Wake]], durable: set[str]
    ) -> list[tuple[RunActor, Wake]]:
        engine = self.engine
        back: list[tuple[RunActor, Wake]] = []
        loaded = await engine.load_all([actor.run_id for actor, _wake in gated])
        handled: list[tuple[RunActor, Wake, Batch]] = []
        now = engine.clock.now()
        for actor, wake in gated:
            found = loaded.get(actor.run_id)
            if found is None or isinstance(found, Exception) or is_schedule_row(found.info):
                back.append((actor, wake))
                continue
            actor.batches.epoch = engine.epoch_of(actor.run_id)
            try:
                await actor.take(found)
            except Exception:  # damage: its actor quarantines it
                back.append((actor, wake))
                continue
            batch = actor.handle_all([wake], now)
            if actor.state is None or actor.scripts.book.wanted:
                back.append((actor, wake))
            else:
                handled.append((actor, wake, batch))
        journaled = [(actor, batch) for actor, _wake, batch in handled if batch.events]
        appends = [actor.record(batch) for actor, batch in journaled]
        began = perf_counter()
        verdicts = await engine.journal.append_many(appends) if appends else []
        took_s = perf_counter() - began
        for (actor, batch), append, verdict in zip(journaled, appends, verdicts, strict=True):
            if not isinstance(verdict, Exception) and actor.state is not None:
                durable.add(actor.run_id)
                actor.batches.committed(actor.state, batch.events, append.info, took_s)
        for actor, wake, batch in handled:
            if batch.events and actor.run_id not in durable:
                back.append((actor, wake))  # refused: its actor retries with its back-off
            else:
                await self._act(actor, batch)
        return back

    async def _act(self, actor: RunActor, batch: Batch) -> None:
        """What the actor does once its batch is durable (`RunActor._receive`), then it leaves
        memory again if it only waits or ended and no message came meanwhile."""
        state = actor.state
        if state is None:
            return
        effects = actor.effects_of(batch, state)
        if any(type(effect) is StartRunEffect for effect in effects):  # one journals first
            effects = await actor.links.inline_definitions_journaled(effects)
        with acting_as(self.engine.run(actor.run_id).name):
            actor.act(effects)
        if actor.links.unsettled:
            await actor.links.settle(state, actor.deadlines, actor.definition)
        if state.status.terminal or parked(state):
            if not state.status.terminal:
                self.engine.run_parked(actor.run_id)
            self.engine.runs_pool().forget_adopted(actor.run_id)


async def _tell(target: ActorRef[Any], message: Any) -> None:
    """Tell one due entry; one that cannot be told (its actor or the system stopped) is
    dropped, as the service's own tell would crash on it, and the others still go."""
    try:
        await target.tell(message)
    except (ActorStopped, ActorSystemStopped) as exc:
        log.info("timer.not_delivered", target=target.name, error=repr(exc))
