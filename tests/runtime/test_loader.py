"""The run loader batches loads, and fails its waiters at once when it stops."""

from __future__ import annotations

import asyncio

import anyio
import pytest

from cadenza.actors import ActorSystemStopped
from cadenza.engine._loader import RunLoader
from cadenza.persistence import MemoryJournal


class SlowJournal(MemoryJournal):
    """A journal whose batched reads block until `release` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.reading = anyio.Event()
        self.release = anyio.Event()

    async def load_many(self, stream_ids: list[str]) -> dict[str, object]:  # type: ignore[override]
        self.reading.set()
        await self.release.wait()
        return dict(await super().load_many(stream_ids))


async def test_loads_of_one_moment_share_one_read() -> None:
    journal = MemoryJournal()
    await journal.open()
    loader = RunLoader(journal)
    async with anyio.create_task_group() as tg:
        tg.start_soon(loader.serve)
        results = await asyncio.gather(*(loader.load(f"run-{i}") for i in range(5)))
        tg.cancel_scope.cancel()
    assert results == [None] * 5
    assert loader.batches == 1


@pytest.mark.parametrize("while_reading", [False, True])
async def test_a_stopped_loader_fails_its_waiting_and_later_loads(while_reading: bool) -> None:
    """Cancelled (the system is shutting down), the loader answers every waiter with
    ActorSystemStopped instead of leaving it to wait out the shutdown grace period."""
    journal = SlowJournal()
    await journal.open()
    loader = RunLoader(journal)
    outcomes: list[BaseException | None] = []

    async def load() -> None:
        try:
            await loader.load("run-1")
            outcomes.append(None)
        except ActorSystemStopped as exc:
            outcomes.append(exc)

    async with anyio.create_task_group() as tg:
        serving = anyio.CancelScope()

        async def serve() -> None:
            with serving:
                await loader.serve()

        if while_reading:
            tg.start_soon(serve)
            tg.start_soon(load)
            await journal.reading.wait()  # the read is in flight
        else:
            tg.start_soon(load)
            await anyio.lowlevel.checkpoint()  # the load waits; nothing serves it yet
            tg.start_soon(serve)
        serving.cancel()
    assert len(outcomes) == 1
    assert isinstance(outcomes[0], ActorSystemStopped)
    with pytest.raises(ActorSystemStopped):
        await loader.load("run-2")
