"""The scheduler: the schedules' actors, wired to the engine's timer service and starts.

Design note
-----------
`Scheduler` owns an entity pool of `ScheduleActor`s (one per schedule
name, passivated when idle) and what they need from the engine: the clock,
the timer service (`arm`), starts with an idempotency key (`start_tick`),
a run's status (`is_running`) and ending a run (`end_run`). It hears every
run's end through the engine's listener and tells the schedule that
started it (`watch`), so a buffered tick starts as soon as its blockers
end.

`open()` re-arms every schedule from its journal row alone (`wake_at`): one
`ArmMany` for them all, no schedule loaded, so 10,000 idle schedules cost
10,000 heap entries and no CPU. A schedule whose row says a buffered tick
waits is loaded and told `Check`, which looks at its runs again.

With several processes on one PostgreSQL journal (`Engine.ownership`) a
schedule ticks only in the process holding its stream's partition — the
partition function runs use, and the one the journal's fence checks.
`open()` arms only those; a partition taken over later arms its schedules
through the engine's `takeover_hooks` (after its runs are recovered); a
partition lost drops its schedules: their armed `Due`, `Check` and
`RunEnded` are ignored here (`ScheduleActor.receive`), and a tick in flight
is refused by the fence and not retried. Keys hold a tick that raced the
move to one run. A change asked of a process that does not own the
schedule (`ask`: put, pause, resume, delete, trigger, backfill) is
forwarded to the owner's inbox and answered once the owner applied it;
reads are answered here from the journal.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from cadenza._log import get_logger
from cadenza.actors import ActorRef, EntityPool, Reply
from cadenza.core._schedules import Schedule, ScheduleSpec
from cadenza.dispatch._timers import Arm
from cadenza.engine._host import Engine
from cadenza.engine._messages import GetRun
from cadenza.engine.schedules._actor import (
    Backfill,
    Check,
    Control,
    Due,
    Put,
    RunEnded,
    ScheduleActor,
)
from cadenza.engine.schedules._store import STREAM_PREFIX, ScheduleStore, stream_of

log = get_logger("cadenza.engine")

SCHEDULE_MAILBOX = 256
T = TypeVar("T")

TickObserver = Callable[[str, str, int, float | None], None]


class Scheduler:
    """The schedules of one engine; see the module note."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.store = ScheduleStore(engine.journal)
        self.watched: dict[str, str] = {}  # run id -> the schedule that started it
        self.observers: list[TickObserver] = []
        self._pool: EntityPool[Any] | None = None
        self.armed_at_open = 0

    async def open(self) -> None:
        """Start the schedules' pool and arm the next tick of every schedule this process owns
        (after the engine opened)."""
        engine = self.engine
        self._pool = engine.system.entities(
            lambda name: ScheduleActor(name, self),
            kind="schedule",
            mailbox_size=SCHEDULE_MAILBOX,
            on_give_up=self._gave_up,
        )
        engine.add_listener(self._run_ended)
        engine.takeover_hooks.append(self._taken_over)
        if engine.ownership is not None:  # changes forwarded by processes not owning them
            engine.ownership.route(
                STREAM_PREFIX, lambda stream_id: self.ref(stream_id[len(STREAM_PREFIX) :])
            )
        self.armed_at_open = await self._arm(self.owns_stream)

    async def _taken_over(self, taken: Callable[[str], bool]) -> None:
        """Partitions were taken over (`taken`: a stream id is in one): arm their schedules."""
        armed = await self._arm(lambda stream_id: taken(stream_id) and self.owns_stream(stream_id))
        log.info("schedules.taken_over", armed=armed)

    async def _arm(self, which: Callable[[str], bool]) -> int:
        """Arm the next tick of each schedule whose stream `which` accepts, and tell `Check` to
        those whose buffered tick waits; how many were armed."""
        arms = []
        waiting = []
        for row in await self.store.rows():
            if not which(row.stream_id):
                continue
            name = row.stream_id[len(STREAM_PREFIX) :]
            if row.wake_at is not None:
                arms.append(Arm(row.wake_at, self.ref(name), Due(row.wake_at)))
            if not row.parked and row.status != "SCHEDULE_DELETED":
                waiting.append(name)
        if arms:
            await self.engine.arm_many(arms)
        for name in waiting:
            await self.ref(name).tell(Check())
        return len(arms)

    def owns_stream(self, stream_id: str) -> bool:
        """This process may tick the schedule of `stream_id`: always with one process per
        journal; with several, while it holds the stream's partition (the fence's)."""
        ownership = self.engine.ownership
        return ownership is None or ownership.owns(stream_id)

    def owns(self, name: str) -> bool:
        """This process may tick schedule `name` (see `owns_stream`)."""
        return self.owns_stream(stream_of(name))

    def ref(self, name: str) -> ActorRef[Any]:
        if self._pool is None:
            raise RuntimeError("the scheduler is not open")
        return self._pool.ref(name)

    async def ask(self, name: str, make: Callable[[Reply[T]], Any]) -> T:
        """Ask schedule `name`'s actor here; a change to a schedule another process owns goes
        to that owner's inbox and is answered once it applied it (as if asked there)."""
        ownership = self.engine.ownership
        if ownership is not None and not self.owns(name):
            reply: Reply[T] = Reply()
            if await ownership.forward(stream_of(name), make(reply)):
                return await reply
        result: T = await self.ref(name).ask(make)
        return result

    # -- what the face asks ----------------------------------------------------

    async def put(self, spec: ScheduleSpec, paused: bool) -> None:
        await self.ask(spec.name, lambda reply: Put(spec, paused, reply))

    async def control(self, name: str, what: str, overlap: str | None = None) -> Any:
        return await self.ask(name, lambda reply: Control(what, reply, overlap))

    async def backfill(
        self, name: str, start: float, end: float, overlap: str | None = None
    ) -> list[str]:
        return await self.ask(name, lambda reply: Backfill(start, end, reply, overlap))

    async def get(self, name: str) -> Schedule | None:
        found: Schedule | None = await self.control(name, "get")
        return found

    async def every(self) -> list[Schedule]:
        """Every schedule; a damaged one is left out and named in the engine's `damaged`."""
        states = await self.store.states()
        for stream_id in self.store.damaged:
            self.engine.quarantine(stream_id)
        return [state.view() for state in states if not state.deleted]

    # -- what the actors ask ---------------------------------------------------

    def now(self) -> float:
        return self.engine.clock.now()

    def arm(self, wake: float, name: str) -> None:
        self.engine.arm_at(wake, self.ref(name), Due(wake))

    async def start_tick(self, spec: ScheduleSpec, tick: float, key: str) -> str:
        """Start the schedule's workflow for `tick` under idempotency `key` (durable on return).

        Raises:
            NotFound: the workflow is not registered.
        """
        definition, digest = await self.engine.registry.found(spec.workflow)
        now = self.now()
        run_input = {
            **spec.input,
            "_scheduledTime": round(tick * 1000),  # as Orkes' scheduler gives them
            "_executedTime": round(now * 1000),
        }
        run_id = await self.engine.start(
            definition, digest, run_input, spec.priority, key, None, None, None
        )
        self.watch(run_id, spec.name)
        return run_id

    async def is_running(self, run_id: str) -> bool:
        found = await self.engine.run(run_id).ask(GetRun)
        return found is not None and not found.status.terminal

    def end_run(self, run_id: str, reason: str) -> None:
        self.engine.terminate_child(run_id, reason)

    def watch(self, run_id: str, name: str) -> None:
        self.watched[run_id] = name

    def unwatch(self, run_id: str) -> None:
        self.watched.pop(run_id, None)

    def ticked(self, name: str, result: str, count: int, late_s: float | None) -> None:
        for observer in self.observers:
            observer(name, result, count, late_s)

    def _gave_up(self, name: str, error: BaseException) -> None:
        """A schedule's actor crashed past its restart intensity: the engine stays up; the
        schedule's journal is untouched, so its next message (or restart) loads it afresh."""
        log.error("schedule.gave_up", schedule=name, error=repr(error))

    def _run_ended(self, run_id: str, status: str, at: float) -> None:
        name = self.watched.pop(run_id, None)
        if name is not None and self.engine.is_open:
            self.ref(name).tell_soon(RunEnded(run_id))
