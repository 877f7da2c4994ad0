"""Schedules on one PostgreSQL journal shared by several runtimes: each ticks only in the
process holding its stream's partition, and moves with the partition.

As in `test_shared_runtime`, each `Runtime` stands for one process and the
heartbeat is driven by hand (`tick()`). Both runtimes share one virtual
clock, so one `advance` fires the armed ticks of both.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import anyio

import cadenza
from cadenza.engine.schedules._actor import Due
from cadenza.engine.schedules._store import stream_of, wake_of
from cadenza.persistence._postgres_schema import partition_of
from cadenza.testing import VirtualClock
from tests.postgres.test_shared_runtime import LEASE_S, held, parts
from tests.schedules._helpers import QUICK

NAMES = [f"s{i}" for i in range(12)]


class Started:
    """The ticks each runtime started, by schedule name, as its scheduler reports them."""

    def __init__(self, **runtimes: cadenza.Runtime):
        self.by: dict[str, Counter[str]] = {label: Counter() for label in runtimes}
        self._changed = anyio.Event()
        for label, rt in runtimes.items():
            rt._scheduler.observers.append(self._observer(label))

    def _observer(self, label: str) -> Callable[[str, str, int, float | None], None]:
        def seen(name: str, result: str, count: int, _late: float | None) -> None:
            if result == "started":
                self.by[label][name] += count
                self._changed.set()

        return seen

    async def reach(self, total: int) -> None:
        """Wait (at most 20 s, real time) until `total` ticks were started in all."""
        with anyio.fail_after(20):
            while sum(sum(c.values()) for c in self.by.values()) < total:
                self._changed = anyio.Event()
                await self._changed.wait()


async def test_schedules_tick_only_where_their_partition_is_and_move_with_it(
    pg_url: str, clock: VirtualClock
) -> None:
    """a makes the schedules, then b takes half the partitions: a tick of each schedule is
    started by its partition's holder only. b leaves; a takes its partitions over and arms
    their schedules there: the next tick of every schedule starts in a, once."""
    a = cadenza.Runtime(pg_url, clock=clock, seed=1, lease_s=LEASE_S)
    await a.__aenter__()
    try:
        await a.register(QUICK)
        for name in NAMES:
            await a.schedule(name, "quick", every_s=60)
        b = cadenza.Runtime(pg_url, clock=clock, seed=2, lease_s=LEASE_S)
        await b.__aenter__()
        try:
            await b.register(QUICK)
            await parts(a).tick()  # a releases its surplus
            await parts(b).tick()  # b takes it over
            await b.settle()
            in_b = {n for n in NAMES if partition_of(stream_of(n)) in held(b)}
            assert in_b  # spread over both
            assert in_b != set(NAMES)
            in_a = set(NAMES) - in_b
            started = Started(a=a, b=b)
            await clock.advance(60)
            await started.reach(len(NAMES))
            assert started.by["a"] == Counter(in_a)
            assert started.by["b"] == Counter(in_b)
            for name in in_b:  # its run minted in b's partitions: b started it
                run_id = (await b.get_schedule(name)).recent[-1]["run_id"]
                assert partition_of(run_id) in held(b)
            moved = next(iter(in_b))  # a's stale timer of a moved schedule: ignored in a
            loaded = await a._scheduler.store.load(moved)
            assert loaded is not None
            await a._scheduler.ref(moved).tell(Due(wake_of(loaded[0]) or 0.0))
            await a.settle()
            assert len(await a.runs(name="quick", limit=1000)) == len(NAMES)
        finally:
            await b.__aexit__(None, None, None)  # leaves gracefully: its partitions are free
        await parts(a).tick()  # a takes them over, and arms their schedules
        await a.settle()
        assert {partition_of(stream_of(n)) for n in in_b} <= held(a)
        await clock.advance(60)
        await started.reach(2 * len(NAMES))
        assert started.by["a"] == Counter(in_a) + Counter(NAMES)
        assert started.by["b"] == Counter(in_b)
        runs = await a.runs(name="quick", limit=1000)  # keys hold it too: a run per tick
        assert len(runs) == 2 * len(NAMES)
    finally:
        await a.__aexit__(None, None, None)
