"""Runs started in a batch (`Runtime.start_many`, or concurrent `Runtime.start`s)
without an actor step each.

Design note
-----------
The runs of a batch have ids this process just minted: no message can
address them before their start is durable and their ids are answered. So
the batch is handled the way each run's actor would handle its `StartRun`
— by the same `RunActor` objects, made but not yet spawned — in one pass:
handle the start (apply, decide), make the record, then the whole batch's
records in one `Journal.append_many` (one transaction), then each run's
effects. A run that only waits (a WAIT, a signal) is parked at once and
never had an actor; a run with work in flight is adopted by the run pool
with its state (`EntityPool.adopt`), so its next message finds it in
memory. What is saved is the actor machinery per run (a task, a mailbox,
an ask and its reply, a commit ticket each), not any step of the work.

A start this pass does not cover is taken back before anything of it is
journaled, and its run is started by its actor as before: JavaScript to
evaluate off the loop, a child or START_WORKFLOW run to start, a run that
ends at its start (what it owes at its end), a start refused or failed by
a bug. So is one whose record the journal refused (a transient failure:
the actor retries it with its back-off). Several processes on one journal
start through their actors: a minted run may belong to another's partition.

Concurrent single starts are gathered the way group commit gathers appends
(`CoalescedStarts`): each caller queues its start, and one waiting caller
runs the pass for all queued, with each starter's trace context.

The commit and what follows it are shielded from the caller's cancellation:
once a run's record may be durable, its effects (its timer, its first task)
are not left undone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from time import perf_counter
from typing import TYPE_CHECKING, NamedTuple

import anyio

from cadenza._errors import InternalError
from cadenza._log import get_logger
from cadenza._trace import carrier
from cadenza.actors import ActorSystemStopped, Reply
from cadenza.actors._delivery import acting_as
from cadenza.engine._messages import StartRun
from cadenza.engine.run._actor import RunActor
from cadenza.engine.run._batches import Batch
from cadenza.engine.run._effects import StartRun as StartRunEffect
from cadenza.engine.run._links import STARTS_RUNS
from cadenza.engine.run._timing import parked
from cadenza.language._definition import WorkflowDef
from cadenza.persistence import DuplicateKey
from cadenza.persistence._group import GroupCommitter, Ticket

if TYPE_CHECKING:
    from cadenza.engine._caller_starts import StartFields
    from cadenza.engine._host import Engine

log = get_logger("cadenza.engine")

COALESCED_MAX = 1024  # single starts in one pass


class FreshRun(NamedTuple):
    """One start of a batch: the run's minted id, its fields, its starter's trace context."""

    run_id: str
    fields: StartFields
    trace: dict[str, str] | None


@dataclass(slots=True)
class FreshOutcome:
    """What a batch start did: the id to answer per run started (itself, or the run that
    holds its key), and the runs it took back, for their actors to start."""

    answered: dict[str, str]
    taken_back: list[str]


class FreshStarts:
    """Starts batches of freshly minted runs in one pass; see the module note."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def covers(self) -> bool:
        """Whether batches start here (one process on its journal), not through actors."""
        return self.engine.ownership is None

    async def start(
        self, definition: WorkflowDef, digest: str, runs: Sequence[FreshRun]
    ) -> FreshOutcome:
        """Start each minted run of the batch; see the module note."""
        with self.engine.system.busy():  # `settle` waits for it, as for an actor's work
            return await self._start(definition, digest, runs)

    async def _start(
        self, definition: WorkflowDef, digest: str, runs: Sequence[FreshRun]
    ) -> FreshOutcome:
        outcome = FreshOutcome({}, [])
        handled: list[tuple[RunActor, Batch]] = []
        now = self.engine.clock.now()
        for run_id, fields, trace in runs:
            started = self._handled(run_id, definition, digest, fields, trace, now)
            if started is None:
                outcome.taken_back.append(run_id)
            else:
                handled.append(started)
        if handled:
            with anyio.CancelScope(shield=True):
                await self._journal(handled, outcome)
        return outcome

    def _handled(
        self,
        run_id: str,
        definition: WorkflowDef,
        digest: str,
        fields: StartFields,
        trace: dict[str, str] | None,
        now: float,
    ) -> tuple[RunActor, Batch] | None:
        """The run's actor, unspawned, with its start handled in memory; None if not covered."""
        actor = RunActor(run_id, self.engine)
        actor.batches.epoch = self.engine.epoch_of(run_id)
        routes = dict(fields.task_to_group) if fields.task_to_group else None
        start = StartRun(
            definition, digest, fields.input, fields.priority, fields.key,
            fields.correlation_id, routes, fields.parent_id, Reply(), trace=trace,
        )  # fmt: skip
        try:
            batch = actor.handle_all([start], now)
        except Exception as exc:  # a bug: the actor's own path names it
            log.warning("run.fresh_start_taken_back", run_id=run_id, error=repr(exc))
            return None
        return (actor, batch) if _covered(actor, batch) else None

    async def _journal(self, handled: list[tuple[RunActor, Batch]], outcome: FreshOutcome) -> None:
        """One `append_many` for the batch's records, then each durable run's effects."""
        engine = self.engine
        appends = [actor.record(batch) for actor, batch in handled]
        began = perf_counter()
        verdicts = await engine.journal.append_many(appends)
        took_s = perf_counter() - began
        for (actor, batch), append, verdict in zip(handled, appends, verdicts, strict=True):
            run_id = actor.run_id
            if isinstance(verdict, DuplicateKey) and append.info.key is not None:
                engine.claim_fresh(run_id)  # the id is dropped: another run holds the key
                engine.gate.finished(run_id)
                outcome.answered[run_id] = verdict.holder
                continue
            if isinstance(verdict, Exception):
                outcome.taken_back.append(run_id)  # its actor retries the start, backing off
                continue
            state = actor.state
            if state is None:
                raise InternalError(f"run {run_id}: a batch start without a state")
            engine.claim_fresh(run_id)  # durable: a later actor of it loads it
            actor.batches.committed(state, batch.events, append.info, took_s)
            outcome.answered[run_id] = run_id
            effects = actor.effects_of(batch, state)
            if any(type(effect) is StartRunEffect for effect in effects):
                raise InternalError(f"run {run_id}: a batch start that starts another run")
            if parked(state):
                engine.run_parked(run_id)
            else:
                _adopted(engine, run_id, actor)
            with acting_as(engine.run(run_id).name):  # its later Cancel never overtakes these
                actor.act(effects)


@dataclass(slots=True)
class _Start:
    """A caller's start waiting for its round; `answer` once the round handled it."""

    definition: WorkflowDef
    digest: str
    run: FreshRun
    answer: str | None = None  # the id to answer; None: taken back, its actor starts it


class CoalescedStarts:
    """Concurrent single starts (`Runtime.start`) gathered into batch passes.

    A start queues and, if no pass is in flight, runs one for everything
    queued (`GroupCommitter`: the waiting callers take turns, no task of its
    own); what arrives meanwhile makes the next pass. Each caller hears the id
    to answer (its run, or the run that holds its key), or None: its actor
    starts it, as without the pass.
    """

    def __init__(self, fresh: FreshStarts, batch_max: int = COALESCED_MAX):
        self.fresh = fresh
        self._starts: GroupCommitter[_Start] = GroupCommitter(self._pass, batch_max=batch_max)

    async def start(
        self, definition: WorkflowDef, digest: str, run_id: str, fields: StartFields
    ) -> str | None:
        """The id to answer once the run's start is durable, or None (module note)."""
        start = _Start(definition, digest, FreshRun(run_id, fields, carrier()))
        with self.fresh.engine.system.busy():  # `settle` waits for it, as for an actor's work
            await self._starts.submit(start)
        return start.answer

    async def _pass(self, tickets: list[Ticket[_Start]]) -> None:
        by_digest: dict[str, list[_Start]] = {}
        for ticket in tickets:
            by_digest.setdefault(ticket.item.digest, []).append(ticket.item)
        for starts in by_digest.values():
            try:
                done = await self.fresh.start(
                    starts[0].definition, starts[0].digest, [start.run for start in starts]
                )
            except Exception as exc:  # a bug: the actors start them (a durable one is found)
                log.error("run.fresh_pass_failed", runs=len(starts), error=repr(exc))
                continue
            for start in starts:
                start.answer = done.answered.get(start.run.run_id)
        for number, ticket in enumerate(tickets):
            ticket.succeed(number)


def _covered(actor: RunActor, batch: Batch) -> bool:
    """The start is this pass's to finish (module note): started, nothing owed at its end,
    no script to evaluate, no run to start."""
    state = actor.state
    return (
        state is not None
        and bool(batch.events)
        and len(batch.answers) == 1
        and batch.answers[0][1] == actor.run_id
        and not state.status.terminal
        and not actor.scripts.book.wanted
        and not any(task.type in STARTS_RUNS for task in state.tasks)
    )


def _adopted(engine: Engine, run_id: str, actor: RunActor) -> None:
    """The run's actor holds its state from now on; a closing runtime recovers it at its next
    start instead (the record is durable)."""
    try:
        engine.runs_pool().adopt(run_id, actor)
    except ActorSystemStopped:
        log.info("run.fresh_start_not_adopted", run_id=run_id)
