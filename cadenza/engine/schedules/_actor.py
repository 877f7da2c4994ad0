"""One actor per schedule: the only code that changes a schedule, one message at a time.

Design note
-----------
The actor is an entity keyed by the schedule's name: made (and its state
loaded from the journal) on its first message, passivated after each one,
so an idle schedule costs one timer entry and nothing else. A tick goes:
the timer service tells `Due(wake)`; the actor computes the due ticks
(`core._schedules.due`: never one after now; those past the catch-up
window only counted), and for each, oldest first, applies the overlap
policy and starts the run with the tick's idempotency key
(`core._cron.tick_key`). Only then is the schedule's record appended, and
only once that is durable is the next tick armed. A crash anywhere in
between leaves the old `next_at` in the journal: after a restart the same
ticks are due again and their starts find the runs their keys already
name, so no tick is ever started twice.

A record that fails to commit changes nothing in memory and the same
`Due` is armed again `RETRY_S` later (`_again_later`). The ticks' outcomes
reach the metrics (`Scheduler.ticked`) only once their record is durable
(`_save`), so a tick tried again is counted once.

`rt.trigger` and `rt.backfill` apply the overlap policy as a tick does
(`_apply`), the schedule's own unless the call names another — Temporal's
TriggerImmediatelyRequest and BackfillRequest carry such an override
(temporalio/api, temporal/api/schedule/v1/message.proto) and its scheduler
falls back to the schedule's policy when unset (`resolveOverlapPolicy`). A
backfill's ticks are taken oldest first "as if that time passed right
now, all at once": the runs started by its earlier ticks count as running
for its later ones, without asking them (a run that ends fast would make
the outcome a race otherwise).

A `Due` whose wake-up is not the state's (an earlier arming, before a
replace, pause or resume) is stale and changes nothing.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from cadenza._errors import InvalidArgument, NotFound, RuntimeClosed
from cadenza._log import get_logger
from cadenza.actors import Actor, ActorCrashed, ActorStopped, ActorSystemStopped, Reply
from cadenza.core._cron import jitter_of, tick_key
from cadenza.core._schedules import ScheduleSpec, ScheduleState, decide_overlap, due
from cadenza.engine._messages import FromInbox
from cadenza.engine.schedules._store import wake_of
from cadenza.persistence import JournalWriteError

if TYPE_CHECKING:
    from cadenza.engine._schedules import Scheduler

log = get_logger("cadenza.engine")

BACKFILL_MAX = 10_000  # ticks one backfill may start
RETRY_S = 1.0  # after a failed journal write, the tick is tried again this much later


@dataclass(slots=True)
class Due:
    """The schedule's armed wake-up at `wake` (epoch seconds) has come."""

    wake: float


@dataclass(slots=True)
class RunEnded:
    """A run this schedule started has ended."""

    run_id: str


@dataclass(slots=True)
class Check:
    """After a restart: a buffered tick waits; see whether its blockers ended."""


@dataclass(slots=True)
class Put:
    spec: ScheduleSpec
    paused: bool
    reply: Reply[None]


@dataclass(slots=True)
class Control:
    what: str  # "delete", "pause", "resume", "trigger", "get"
    reply: Reply[Any]
    overlap: str | None = None  # "trigger": the policy to apply instead of the schedule's


@dataclass(slots=True)
class Backfill:
    start: float
    end: float
    reply: Reply[list[str]]
    overlap: str | None = None  # the policy to apply instead of the schedule's


@dataclass(slots=True)
class _Batch:
    """What one message changed: the events for the record, and whether to write it."""

    events: list[dict[str, Any]] = field(default_factory=list)


class ScheduleActor(Actor[Any]):
    """See the module note."""

    def __init__(self, name: str, scheduler: Scheduler):
        self.name = name
        self.scheduler = scheduler
        self.state: ScheduleState | None = None
        self.created_at = 0.0
        self._counts: list[tuple[str, int, float | None]] = []  # for the metrics, once durable
        self._inbox_id: int | None = None  # the forwarded call in hand (`FromInbox`)

    async def started(self) -> None:
        loaded = await self.scheduler.store.load(self.name)
        if loaded is not None:
            self.state, self.created_at = loaded

    async def receive(self, message: Any) -> None:
        self._counts = []
        self._inbox_id = None
        if isinstance(message, FromInbox):  # its id is journaled with its effect
            self._inbox_id, message = message.inbox_id, message.message
        try:
            if isinstance(message, (Due, RunEnded, Check)) and not self.scheduler.owns(self.name):
                return  # its partition is another process's: that one ticks it
            await self._handle(message)
        except (ActorSystemStopped, RuntimeClosed):
            raise  # shutting down: the journal has the schedule, the next start resumes it
        except Exception as exc:
            if isinstance(message, (Due, RunEnded, Check)):
                self._again_later(exc)
            else:  # an operator's call: its caller gets the error, nothing changed
                message.reply.fail(exc)
        finally:
            self.context.passivate()

    def _again_later(self, exc: Exception) -> None:
        """A tick failed (a start or its record did not commit): nothing changed in
        memory; the same tick is tried again later.

        The runs it started are keyed, so the next try finds them instead of
        starting them again. A journal this process lost (not transient) is
        someone else's: nothing is retried.
        """
        log.warning("schedule.tick_failed", schedule=self.name, error=repr(exc))
        cause = exc.__cause__ if isinstance(exc, ActorCrashed) else exc
        state = self.state
        if state is None or (isinstance(cause, JournalWriteError) and not cause.transient):
            return
        later = self.scheduler.now() + RETRY_S
        wake = wake_of(state)
        with contextlib.suppress(ActorStopped, ActorSystemStopped):
            if wake is not None:
                self.scheduler.engine.arm_at(later, self.context.self_ref, Due(wake))
            if state.running or state.buffered is not None:
                self.scheduler.engine.arm_at(later, self.context.self_ref, Check())

    async def _handle(self, message: Any) -> None:
        if isinstance(message, Due):
            await self._due(message.wake)
        elif isinstance(message, RunEnded):
            await self._run_ended(message.run_id)
        elif isinstance(message, Check):
            await self._run_ended(None)
        elif isinstance(message, Put):
            await self._put(message.spec, message.paused)
            message.reply.set(None)
        elif isinstance(message, Backfill):
            await self._backfill(message)
        elif isinstance(message, Control):
            await self._control(message)

    # -- ticks -----------------------------------------------------------------

    async def _due(self, wake: float) -> None:
        state = self.state
        if state is None or wake_of(state) != wake:
            return  # stale: replaced, paused, resumed or deleted since it was armed
        now = self.scheduler.now()
        ticks, missed, next_at = due(state, now)
        events: list[dict[str, Any]] = []
        if missed:
            state = replace(state, missed=state.missed + missed)
            events.append({"type": "schedule.missed", "count": missed, "at": now})
            self._count("missed", missed, None)
        state = replace(state, next_at=next_at)
        for tick in ticks:
            state = await self._tick(state, tick, events)
        await self._save(state, events)

    async def _tick(
        self, state: ScheduleState, tick: float, events: list[dict[str, Any]]
    ) -> ScheduleState:
        spec = state.spec
        late = self.scheduler.now() - tick - jitter_of(spec.name, tick, spec.jitter_s)
        return await self._apply(state, tick, spec.overlap, "started", events, late)

    async def _apply(
        self,
        state: ScheduleState,
        tick: float,
        policy: str,
        result: str,
        events: list[dict[str, Any]],
        late: float | None,
        ask: bool = True,
    ) -> ScheduleState:
        """Apply overlap `policy` to `tick`: start it (as `result`: "started", "triggered"
        or "backfilled"), buffer it, or skip it, as `decide_overlap` says.

        `ask`: first ask the runs believed running whether they still are
        (False: take `state.running` as it is, as a backfill's later ticks do).
        """
        if ask and policy != "allow_all":  # allow_all starts whatever runs: nothing to ask
            state = replace(state, running=await self._alive(state.running))
        running = state.running
        action = decide_overlap(policy, bool(running), state.buffered)
        if action in ("end_then_start", "end_and_start"):
            for run_id in running:
                self.scheduler.end_run(run_id, f"schedule {self.name!r}: overlap {policy}")
        if action == "end_and_start":  # ended: nothing waits on them any more
            state = replace(state, running=())
        if action in ("buffer", "end_then_start"):
            if state.buffered is not None:  # cancel_other keeps the newest tick
                state = state.noted(state.buffered, None, "skipped")
                self._count("skipped", 1, None)
            events.append({"type": "schedule.buffered", "tick": tick, "as": result})
            self._count("buffered", 1, None)
            return replace(state, buffered=tick, buffered_as=result).noted(tick, None, "buffered")
        if action == "skip":
            events.append({"type": "schedule.skipped", "tick": tick, "as": result})
            self._count("skipped", 1, None)
            return state.noted(tick, None, "skipped")
        return await self._start(state, tick, self._key(state, tick, result), events, result, late)

    def _key(self, state: ScheduleState, tick: float, result: str) -> str:
        """The idempotency key of `tick` started as `result` (a trigger's is its own)."""
        key = tick_key(self.name, state.generation, tick)
        return f"{key}:trigger" if result == "triggered" else key

    def _count(self, result: str, count: int, late_s: float | None) -> None:
        """Count a tick's outcome for the metrics once this message's record is durable."""
        self._counts.append((result, count, late_s))

    async def _start(
        self,
        state: ScheduleState,
        tick: float,
        key: str,
        events: list[dict[str, Any]],
        result: str,
        late: float | None,
    ) -> ScheduleState:
        try:
            run_id = await self.scheduler.start_tick(state.spec, tick, key)
        except NotFound as exc:
            log.warning("schedule.start_failed", schedule=self.name, tick=tick, error=str(exc))
            events.append({"type": "schedule.failed", "tick": tick, "error": str(exc)})
            self._count("failed", 1, None)
            return state.noted(tick, None, "failed")
        events.append({"type": f"schedule.{result}", "tick": tick, "run_id": run_id})
        self._count(result, 1, late)
        return state.noted(tick, run_id, result)

    async def _alive(self, running: tuple[str, ...]) -> tuple[str, ...]:
        """The runs of `running` that have not ended (each watched first: no end unheard)."""
        alive = []
        for run_id in running:
            self.scheduler.watch(run_id, self.name)
            if await self.scheduler.is_running(run_id):
                alive.append(run_id)
            else:
                self.scheduler.unwatch(run_id)
        return tuple(alive)

    async def _run_ended(self, run_id: str | None) -> None:
        state = self.state
        if state is None or state.deleted:
            return
        if run_id is not None and run_id not in state.running:
            return
        if state.buffered is None:
            return  # nothing waits on it: the next tick finds the runs that ended
        running = await self._alive(tuple(r for r in state.running if r != run_id))
        changed = replace(state, running=running)
        events: list[dict[str, Any]] = []
        if changed.buffered is not None and not running and not changed.paused:
            tick, result = changed.buffered, changed.buffered_as
            changed = replace(changed, buffered=None, buffered_as="started")
            key = self._key(changed, tick, result)
            changed = await self._start(changed, tick, key, events, result, None)
        if changed != state:
            await self._save(changed, events or [{"type": "schedule.run_ended", "run_id": run_id}])

    # -- operators -------------------------------------------------------------

    async def _put(self, spec: ScheduleSpec, paused: bool) -> None:
        now = self.scheduler.now()
        old = self.state
        if old is None or old.deleted:
            self.created_at = now
            state = ScheduleState(spec, old.generation + 1 if old is not None else 1)
        else:
            state = replace(old, spec=spec, buffered=None)
        state = replace(state, paused=paused, next_at=None if paused else spec.cadence().after(now))
        await self._save(state, [{"type": "schedule.set", "at": now}])

    async def _control(self, message: Control) -> None:
        state = self.state
        if message.what == "get":
            message.reply.set(None if state is None or state.deleted else state.view())
            return
        if state is None or state.deleted:
            message.reply.fail(NotFound("schedule", self.name))
            return
        now = self.scheduler.now()
        if message.what == "delete":
            changed = replace(state, deleted=True, next_at=None, buffered=None)
            await self._save(changed, [{"type": "schedule.deleted", "at": now}])
            for run_id in state.running:
                self.scheduler.unwatch(run_id)
            message.reply.set(None)
        elif message.what == "pause":
            changed = replace(state, paused=True, next_at=None, buffered=None)
            if state.buffered is not None:  # a paused schedule takes no action, held or not
                changed = changed.noted(state.buffered, None, "skipped")
            await self._save(changed, [{"type": "schedule.paused", "at": now}])
            message.reply.set(None)
        elif message.what == "resume":
            next_at = state.spec.cadence().after(now) if state.paused else state.next_at
            changed = replace(state, paused=False, next_at=next_at)
            await self._save(changed, [{"type": "schedule.resumed", "at": now}])
            message.reply.set(None)
        elif message.what == "trigger":
            events: list[dict[str, Any]] = []
            policy = message.overlap or state.spec.overlap
            changed = await self._apply(state, now, policy, "triggered", events, None)
            await self._save(changed, events)
            message.reply.set(_started(changed, "triggered"))

    async def _backfill(self, message: Backfill) -> None:
        state = self.state
        if state is None or state.deleted:
            message.reply.fail(NotFound("schedule", self.name))
            return
        ticks = state.spec.cadence().between(message.start, message.end, BACKFILL_MAX + 1)
        if len(ticks) > BACKFILL_MAX:
            message.reply.fail(
                InvalidArgument("end", f"more than {BACKFILL_MAX} ticks in the range: split it")
            )
            return
        events: list[dict[str, Any]] = []
        run_ids = []
        policy = message.overlap or state.spec.overlap
        for n, tick in enumerate(ticks):
            state = await self._apply(state, tick, policy, "backfilled", events, None, ask=n == 0)
            run_id = _started(state, "backfilled")
            if run_id is not None:
                run_ids.append(run_id)
        if events:
            await self._save(state, events)
        message.reply.set(run_ids)

    async def _save(self, state: ScheduleState, events: list[dict[str, Any]]) -> None:
        """Append the record (durable), then arm the next tick: never the other way round."""
        now = self.scheduler.now()
        if len(events) == 1:
            event = events[0]
        else:
            event = {"type": "schedule.batch", "events": events, "at": now}
        await self.scheduler.store.save(
            state, event, created_at=self.created_at, now=now, inbox_seen=self._inbox_id
        )
        self.state = state
        counts, self._counts = self._counts, []
        for result, count, late_s in counts:
            self.scheduler.ticked(self.name, result, count, late_s)
        wake = wake_of(state)
        if wake is not None:
            self.scheduler.arm(wake, self.name)


def _started(state: ScheduleState, result: str) -> str | None:
    """The run the last noted tick started as `result`, or None (skipped, buffered, failed)."""
    if not state.recent:
        return None
    _, run_id, noted = state.recent[-1]
    return run_id if noted == result else None
