"""Several runtimes in one simulated world, sharing one journal, paused, cut off and killed.

Design note
-----------
`SharedWorld(seed)` runs `processes` `Runtime`s on one `Simulation`, each on
its own `SharedMemoryJournal` view of one `SharedStore` (the database),
fenced by partition leases on the simulated clock exactly as on PostgreSQL
(`cadenza.persistence._shared_memory`; the runtimes' `Partitions` heartbeat,
takeover and inbox code is the real one). Each runtime serves a three-step
workflow with local workers.

Each process's tasks run in a context tagged with its owner name
(`PROCESS`), and the loop's `hold` sets aside the callbacks of a paused
process, so the faults are:

- *pause* (SIGSTOP/SIGCONT): nothing of the process runs for a while,
  often past its lease; its clock reads, timers and heartbeat are late
  when it resumes, and what it had in hand (a batch about to be appended)
  runs into the fence;
- *partition*: the process runs but its journal is unreachable (every call
  fails) for a while, so its leases run out and others take its partitions;
- *crash* (kill -9): its journal is dead at once (nothing more of it is
  written, not even a graceful leave), the dead incarnation is wound down
  in the background, and a fresh incarnation with a new owner name joins
  after a while, recovering from the shared journal what balancing gives it.

Clients start one run per idempotency key (`k0`, `k1`, ...), each at a
seeded moment on a random live process, retrying with the same key on
another one when a call fails or takes too long. Every third key runs
`signalled` (a step, a WAIT, a step): its client reads the run through a
random process until the WAIT waits, then signals it through a random
process — mostly not its owner, so the signal travels through the inbox —
again until a read shows the WAIT done. Operators (`shared_ops`) pause
runs through a random process and resume them through another (keys 0 and
6 of every 12), and terminate runs through a random process: a signalled
one while it waits (keys 5 and 11), a three-step one racing its end (key
1); a call's answer is checked against the store when it returns (`ack`:
an OK pause means the row says PAUSED, ...). After `duration_s` the
faults stop, every process is healed (a dead slot restarted), and the runs
have `settle_s` to finish.

The checker (`OwnerChecker`, `shared_checker`) runs after every step of the loop: each write
the store accepted carries its owner and epoch; it must come from the
owner of the partition's latest grant at that epoch (no late write from a
stale owner), and each run's writes never go back to an older epoch nor
see two owners at one epoch (one owner per run). At the end: every key has
exactly one run, with the status expected of it — COMPLETED, or for a
terminated key TERMINATED if a terminate was answered OK, else the ended
status the terminate's refusal named (the run completed first); nothing is
left unfinished (a run left PAUSED is stuck); the inbox is empty.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import hashlib
import random
from dataclasses import dataclass, field
from typing import Any

import anyio

from cadenza._errors import InvalidOperation
from cadenza.actors._simloop import SimDeadlock, SimTimeout, Simulation
from cadenza.persistence import StreamInfo
from cadenza.persistence._shared_memory import SharedMemoryJournal, SharedStore
from cadenza.runtime import Runtime
from cadenza.testing._simulation.shared_checker import OwnerChecker, OwnerViolation
from cadenza.testing._simulation.shared_ops import Operators

PROCESS: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "cadenza_sim_process", default=None
)
FLOW = "three_steps"
DEFINITION: dict[str, Any] = {
    "name": FLOW,
    "version": 1,
    "tasks": [
        {"name": "step_a", "taskReferenceName": "a", "inputParameters": {"n": "${workflow.input.n}"}},
        {"name": "step_b", "taskReferenceName": "b", "inputParameters": {"n": "${a.output.n}"}},
        {"name": "step_c", "taskReferenceName": "c", "inputParameters": {"n": "${b.output.n}"}},
    ],
    "outputParameters": {"result": "${c.output.n}"},
}  # fmt: skip
SIGNALLED = "signalled"
SIGNALLED_DEFINITION: dict[str, Any] = {
    "name": SIGNALLED,
    "version": 1,
    "tasks": [
        {"name": "step_a", "taskReferenceName": "a", "inputParameters": {"n": "${workflow.input.n}"}},
        {"name": "w", "taskReferenceName": "w", "type": "WAIT"},
        {"name": "step_c", "taskReferenceName": "c", "inputParameters": {"n": "${a.output.n}"}},
    ],
}  # fmt: skip
STEPS = ("step_a", "step_b", "step_c")


@dataclass(slots=True)
class Process:
    """One slot of the world and its live incarnation."""

    slot: int
    incarnation: int = 0
    owner: str = ""
    journal: SharedMemoryJournal | None = None
    rt: Runtime | None = None
    stop: asyncio.Event | None = None
    host: asyncio.Task[None] | None = None
    up: bool = False  # open and serving: clients may call it


@dataclass(slots=True)
class WorldResult:
    seed: int
    violations: list[OwnerViolation]
    keys: int
    completed: int  # keys whose one run ended as expected (COMPLETED, or as terminated)
    writes: int
    refused: int  # appends the fence refused
    forwarded: int  # messages posted to the inbox (for runs owned by another process)
    grants: int
    pauses: int
    partitions: int
    crashes: int
    simulated_s: float
    trace_hash: str  # of every accepted write (who, which epoch, when): same seed, same hash
    history: list[str] = field(default_factory=list)  # the faults, as they came
    stats: dict[str, int] = field(default_factory=dict)


class SharedWorld:
    """See the module note."""

    def __init__(
        self,
        seed: int,
        *,
        processes: int = 3,
        keys: int = 24,
        duration_s: float = 12.0,
        settle_s: float = 60.0,
        lease_s: float = 2.0,
        latency_s: float = 0.002,
        faults: int = 6,
        client_timeout_s: float = 3.0,
    ) -> None:
        self.seed = seed
        self.sim = Simulation(seed)
        self.rng = random.Random(seed * 7919 + 17)
        self.store = SharedStore(clock=self.sim.clock.now)
        self.keys = keys
        self.duration_s = duration_s
        self.settle_s = settle_s
        self.lease_s = lease_s
        self.latency_s = latency_s
        self.faults = faults
        self.client_timeout_s = client_timeout_s
        self.processes = [Process(slot) for slot in range(processes)]
        self.paused: set[str] = set()
        self.counts = {
            "pauses": 0, "partitions": 0, "crashes": 0, "retries": 0, "signals": 0,
            "paused": 0, "resumed": 0, "terminated": 0,
        }  # fmt: skip
        self.operators = Operators(self)
        self.dead_hosts: list[asyncio.Task[None]] = []
        self.history: list[str] = []  # the faults, as they came (for a failing seed's report)
        self.checker = OwnerChecker(self.store, lambda: self.sim.time)
        self.sim.loop.hold = self._held
        self.sim.loop.on_batch.append(self.checker.check)

    def _held(self, handle: asyncio.Handle) -> bool:
        context = getattr(handle, "_context", None)
        return context is not None and context.get(PROCESS) in self.paused

    # -- processes ---------------------------------------------------------------

    async def _open(self, process: Process) -> None:
        """Start a new incarnation in `process`'s slot; return once it serves."""
        process.incarnation += 1
        owner = process.owner = f"p{process.slot}.{process.incarnation}"
        journal = process.journal = SharedMemoryJournal(self.store, owner, latency_s=self.latency_s)
        rt = Runtime(
            clock=self.sim.clock,
            seed=self.seed * 1000 + process.slot * 100 + process.incarnation,
            journal=journal,
            lease_s=self.lease_s,
            shutdown_grace_s=0.5,
            metrics=False,
            unserved_warning_s=None,
        )
        for step in STEPS:
            rt.worker(step, _add_one, concurrency=4)
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        stop = asyncio.Event()

        async def host() -> None:
            try:
                async with rt:
                    await rt.register(DEFINITION)
                    await rt.register(SIGNALLED_DEFINITION)
                    ready.set_result(None)
                    await stop.wait()
            finally:
                if not ready.done():
                    ready.set_result(None)

        context = contextvars.copy_context()
        context.run(PROCESS.set, owner)
        process.rt, process.stop = rt, stop
        process.host = asyncio.get_running_loop().create_task(host(), context=context)
        await ready
        if process.host.done():
            process.host.result()  # what failed the opening
        process.up = True

    async def _close(self, process: Process) -> None:
        process.up = False
        if process.stop is not None and process.host is not None:
            process.stop.set()
            await asyncio.gather(process.host, return_exceptions=True)

    def _crash(self, process: Process) -> None:
        """kill -9: the journal dies now; the incarnation winds down, writing nothing."""
        process.up = False
        if process.journal is not None:
            process.journal.kill()
        self._resume(process.owner)
        if process.stop is not None and process.host is not None:
            process.stop.set()
            self.dead_hosts.append(process.host)
        self.counts["crashes"] += 1

    def _resume(self, owner: str) -> None:
        if owner in self.paused:
            self.paused.discard(owner)
            self.sim.loop.release_held()

    # -- drivers -------------------------------------------------------------------

    async def _chaos(self) -> None:
        """`faults` faults at seeded moments: pauses, partitions and crashes."""
        moments = sorted(self.rng.uniform(0.5, self.duration_s) for _ in range(self.faults))
        started = self.sim.time
        async with anyio.create_task_group() as tg:
            for at in moments:
                await anyio.sleep(max(0.0, started + at - self.sim.time))
                process = self.rng.choice(self.processes)
                kind = self.rng.choice(("pause", "pause", "partition", "crash"))
                if not process.up:
                    continue
                self.history.append(f"t={self.sim.time:.3f} {kind} {process.owner}")
                if kind == "pause" and process.owner not in self.paused:
                    self.counts["pauses"] += 1
                    self.paused.add(process.owner)
                    tg.start_soon(self._unpause_later, process.owner, self._outage_s())
                elif kind == "partition" and process.journal is not None:
                    if process.journal.reachable:
                        self.counts["partitions"] += 1
                        process.journal.reachable = False
                        tg.start_soon(self._reconnect_later, process.journal, self._outage_s())
                elif kind == "crash":
                    self._crash(process)
                    tg.start_soon(self._restart_later, process, self.rng.uniform(0.0, 2.0))

    def _outage_s(self) -> float:
        """Sometimes well within the lease, often past it."""
        return self.lease_s * self.rng.choice((0.3, 0.8, 1.5, 2.5, 4.0))

    async def _unpause_later(self, owner: str, delay_s: float) -> None:
        await anyio.sleep(delay_s)
        self.history.append(f"t={self.sim.time:.3f} resume {owner}")
        self._resume(owner)

    async def _reconnect_later(self, journal: SharedMemoryJournal, delay_s: float) -> None:
        await anyio.sleep(delay_s)
        self.history.append(f"t={self.sim.time:.3f} reconnect {journal.owner}")
        journal.reachable = True

    async def _restart_later(self, process: Process, delay_s: float) -> None:
        await anyio.sleep(delay_s)
        if not process.up:
            await self._open(process)

    async def _clients(self) -> None:
        async with anyio.create_task_group() as tg:
            for i in range(self.keys):
                tg.start_soon(self._client, i, self.rng.uniform(0.0, self.duration_s))

    def _any_runtime(self) -> Runtime | None:
        live = [p.rt for p in self.processes if p.up and p.rt is not None]
        return self.rng.choice(live) if live else None

    async def _call(self, call: Any) -> Any:
        """`call(rt)` on a random live process, again elsewhere until it answers."""
        while True:
            rt = self._any_runtime()
            if rt is not None:
                with anyio.move_on_after(self.client_timeout_s):
                    try:
                        return await call(rt)
                    except Exception:  # closed, cut off, refused: again, elsewhere
                        pass
            self.counts["retries"] += 1
            await anyio.sleep(self.rng.uniform(0.05, 0.5))

    async def _client(self, i: int, at: float) -> None:
        await anyio.sleep(at)
        key = f"k{i}"
        flow = SIGNALLED if i % 3 == 2 else FLOW

        async def start(rt: Runtime) -> str:
            return await rt.start(flow, {"n": i}, key=key, correlation_id=key)

        run_id = await self._call(start)
        role = i % 12  # 0, 6: paused and resumed; 1: terminated racing its end; 5, 11: a
        if role in (0, 6):  # signalled one terminated while it waits
            await self.operators.pause_and_resume(run_id)
        elif role in (1, 5, 11):
            self.operators.expected[key] = "COMPLETED" if role == 1 else "TERMINATED"
            await self.operators.terminate(run_id, key)
        elif flow == SIGNALLED:
            await self._signal(run_id)

    async def _signal(self, run_id: str) -> None:
        """Signal the run's WAIT once it waits, until a read shows it done."""

        async def wait_status(rt: Runtime) -> str:
            run = await rt.get(run_id)
            if run.status.terminal:
                return "ended"
            found = [t.status.name for t in run.tasks if t.ref == "w"]
            return found[-1] if found else "not_yet"

        async def signal(rt: Runtime) -> None:
            with contextlib.suppress(InvalidOperation):  # a repeat: it was signalled already
                await rt.signal(run_id, "w", {"ok": True})
            self.counts["signals"] += 1

        while True:
            status = await self._call(wait_status)
            if status in ("ended", "COMPLETED"):
                return
            if status == "IN_PROGRESS":
                await self._call(signal)
            await anyio.sleep(self.rng.uniform(0.1, 1.0))

    # -- the whole life of a seed ------------------------------------------------------

    async def _main(self) -> None:
        for process in self.processes:
            await self._open(process)
        async with anyio.create_task_group() as clients:  # on until the end of the settling
            clients.start_soon(self._clients)
            await self._chaos()
            self.history.append(f"t={self.sim.time:.3f} heal")
            self.paused.clear()
            self.sim.loop.release_held()
            for process in self.processes:  # heal: every slot up and reachable
                if process.journal is not None:
                    process.journal.reachable = True
                if not process.up:
                    await self._open(process)
            with anyio.move_on_after(self.settle_s):
                while not self._all_done():  # noqa: ASYNC110 (the world has no event for it)
                    await anyio.sleep(0.5)
            clients.cancel_scope.cancel()
        self._end_checks()
        for process in self.processes:
            await self._close(process)
        await asyncio.gather(*self.dead_hosts, return_exceptions=True)

    def _rows(self) -> list[StreamInfo]:
        return self.store.rows()

    def _all_done(self) -> bool:
        rows = self._rows()
        keys = {row.correlation_id for row in rows if row.terminal}
        return (
            len(keys) >= self.keys
            and all(row.terminal for row in rows)
            and not self.store.inbox
            and not self.operators.pending  # an operation's answer still to come
        )

    def _end_checks(self) -> None:
        flag = self.checker.flag
        by_key: dict[str | None, list[Any]] = {}
        for row in self._rows():
            by_key.setdefault(row.correlation_id, []).append(row)
            if not row.terminal:
                flag("stuck", f"{row.stream_id} ({row.correlation_id}) is still {row.status}")
        for i in range(self.keys):
            runs = by_key.get(f"k{i}", [])
            statuses = sorted(row.status for row in runs)
            expected = self.operators.expected.get(f"k{i}", "COMPLETED")
            if statuses != [expected]:
                flag("key", f"key k{i} has runs {statuses}, not exactly one {expected}")
        if self.store.inbox:
            flag("inbox", f"{len(self.store.inbox)} inbox messages never applied")

    def run(self) -> WorldResult:
        """The whole simulated life of the seed; see the module note."""
        try:
            self.sim.run(self._main(), timeout_s=self.duration_s + self.settle_s + 120.0)
        except (SimTimeout, SimDeadlock) as exc:  # a seed whose world never ends: a finding
            self.checker.flag("hung", f"the world did not end: {exc}")
        finally:
            self.paused.clear()
            self.sim.loop.release_held()
            self.sim.close()
        self.checker.check()
        completed = sum(
            1
            for i in range(self.keys)
            for row in self._rows()
            if row.correlation_id == f"k{i}"
            and row.status == self.operators.expected.get(f"k{i}", "COMPLETED")
        )
        return WorldResult(
            seed=self.seed,
            violations=list(self.checker.violations),
            keys=self.keys,
            completed=completed,
            writes=len(self.store.writes),
            refused=self.store.refused,
            forwarded=self.store.inbox_next,
            grants=len(self.store.grants),
            pauses=self.counts["pauses"],
            partitions=self.counts["partitions"],
            crashes=self.counts["crashes"],
            simulated_s=self.sim.time,
            trace_hash=hashlib.sha256(
                "\n".join(
                    f"{w.seq} {w.stream_id} {w.owner} {w.epoch} {w.at:.6f}"
                    for w in self.store.writes
                ).encode()
            ).hexdigest(),
            history=list(self.history),
            stats=dict(self.counts),
        )


async def _add_one(data: dict[str, Any]) -> dict[str, Any]:
    await anyio.sleep(0.01)
    return {"n": int(data.get("n") or 0) + 1}


def run_world(seed: int, **options: Any) -> WorldResult:
    """One seed of the shared world (see `SharedWorld` for the options)."""
    return SharedWorld(seed, **options).run()
