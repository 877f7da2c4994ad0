"""A Runtime hosted on a Simulation, which can be crashed and recovered.

Design note
-----------
`SimRuntime.open()` spawns a host task that enters `async with Runtime(...)`
on the simulation's clock and an in-memory journal, and steps the loop
until recovery is done. `crash()` models a process crash: it takes
`journal.crash_copy()` (exactly what was durable at that step), lets the
old runtime wind down (everything it still writes goes to the old journal
object and is lost with it), and opens a fresh Runtime on the copy. The
same `TraceDelivery` is handed to every incarnation, so the trace covers
the whole simulated history.

A journal fault plan (`cadenza.persistence.JournalFaults`) may crash the
process at its k-th append: it hands over the durable image of that
instant and the journal is dead from then on. `crash_requested` holds that
image until the driver calls `crash()` at the end of the step; a crash
that comes while an incarnation is still recovering is taken at once. Runs
the dead incarnation announced as finished but whose end never reached the
image are forgotten, as a listener in a crashed process would forget them.

Definitions live in the journal; local workers and listeners do not, so
`setup(rt)` is called for every incarnation before it opens.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from cadenza.actors._simloop import Simulation
from cadenza.persistence import JournalFaults, MemoryJournal
from cadenza.runtime import Runtime
from cadenza.testing._simulation.trace import TraceDelivery

Setup = Callable[[Runtime], None]


def cancel_all(sim: Simulation, tasks: list[asyncio.Task[None]]) -> None:
    """Cancel a workload's driver tasks and step the loop until they are gone."""
    for task in tasks:
        task.cancel()
    if tasks:

        async def gone() -> None:
            await asyncio.gather(*tasks, return_exceptions=True)

        sim.run(gone())


class SimRuntime:
    """See the module note. `rt` is the live incarnation (None while closed)."""

    def __init__(
        self,
        sim: Simulation,
        *,
        delivery: TraceDelivery | None = None,
        setup: Setup | None = None,
    ) -> None:
        self.sim = sim
        self.delivery = delivery if delivery is not None else TraceDelivery()
        self.setup = setup
        self.journal = MemoryJournal(clock=sim.clock.now)
        self.rt: Runtime | None = None
        self.crashes = 0
        self.crash_times: list[float] = []  # on the runtime's clock
        self.incarnation = 0
        self.finished: dict[str, str] = {}  # run id -> status reported by run_finished
        self._stop: asyncio.Event | None = None
        self._host: asyncio.Task[None] | None = None
        self.on_open: list[Callable[[SimRuntime], None]] = []
        self.crash_requested: MemoryJournal | None = None

    def arm(self, faults: JournalFaults | None) -> None:
        """Put `faults` on the live journal (None: none); its crash comes to `crash()`."""
        if faults is not None:
            faults.on_crash = self._crash_at_append
        self.journal.faults = faults

    def _crash_at_append(self, image: MemoryJournal) -> None:
        self.crash_requested = image

    @property
    def runtime(self) -> Runtime:
        rt = self.rt
        if rt is None:
            raise RuntimeError("the simulated runtime is not open")
        return rt

    def open(self) -> Runtime:
        """Start an incarnation on the current journal; return once recovery is done.

        A crash that comes while it recovers is taken at once, and recovery
        starts again from that crash's image.
        """
        while True:
            try:
                return self._open_once()
            except Exception:
                if self.crash_requested is None:
                    raise
                self._take_crash()

    def _open_once(self) -> Runtime:
        rt = Runtime(
            clock=self.sim.clock,
            seed=self.sim.seed * 1000 + self.incarnation,
            journal=self.journal,
            delivery=self.delivery,
        )
        self.incarnation += 1
        if self.setup is not None:
            self.setup(rt)
        rt._engine.add_listener(self._finished)
        ready: asyncio.Future[None] = self.sim.loop.create_future()
        stop = self._stop = asyncio.Event()

        async def host() -> None:
            async with rt:
                ready.set_result(None)
                await stop.wait()

        self._host = self.sim.spawn(host())

        def release(_: asyncio.Task[None]) -> None:
            if not ready.done():
                ready.set_result(None)

        self._host.add_done_callback(release)
        self.sim.wait(ready)
        if self.crash_requested is not None:
            raise RuntimeError("the process crashed while it recovered")
        if self._host.done():
            self._host.result()  # raise what failed the opening
        self.rt = rt
        for hook in self.on_open:
            hook(self)
        return rt

    def _finished(self, run_id: str, status: str, _at: float) -> None:
        self.finished[run_id] = status

    def close(self, *, crashed: bool = False) -> None:
        """Close the live incarnation (`crashed`: whatever it failed with died with it)."""
        stop, host = self._stop, self._host
        self.rt = None
        if stop is None or host is None:
            return
        self._stop = self._host = None
        stop.set()
        try:
            self.sim.wait(host)
        except Exception:
            if not crashed:
                raise

    def crash(self, faults: JournalFaults | None = None) -> Runtime:
        """Crash now (keep only what is durable), then recover a new incarnation.

        If the fault plan crashed the process at an append, its image is
        what is durable; otherwise everything appended so far is. `faults`
        go on the recovered journal before it opens (recovery meets them).
        """
        self._take_crash()
        self.arm(faults)
        return self.open()

    def _take_crash(self) -> None:
        durable = self.crash_requested or self.journal.crash_copy()
        self.crash_requested = None
        self.crash_times.append(
            self.sim.clock.now()
        )  # the instant of the crash, not of its cleanup
        self.close(crashed=True)
        self.journal = durable
        self.crashes += 1
        streams = durable._store.streams
        self.finished = {
            run_id: status
            for run_id, status in self.finished.items()
            if run_id in streams and streams[run_id].info.status == status
        }
