"""Loading runs from the journal, many at a time.

Design note
-----------
When a batch of timers fires for parked runs, each run's actor must load
its state before it can act. Loaded one by one, their journal writes
would trickle into many small commits. `RunLoader` gathers every load
requested while the previous read was in flight (and in the same moment)
into one `Journal.load_many` call, so the woken runs act — and append —
together, and their records share commits. A batched read that fails is
split into one read per run, so one run that cannot be read never fails
the loads it shared a batch with (issue 13); a run whose own read finds the
file damaged (a torn page) gets a `JournalCorrupted` naming it.

It is one background task in the actor system's task group; it owns no
state beyond the requests waiting for it.
"""

from __future__ import annotations

import asyncio

import anyio
import anyio.lowlevel

from cadenza._errors import JournalCorrupted
from cadenza._log import get_logger
from cadenza.actors import ActorSystemStopped
from cadenza.persistence import Journal, Loaded

log = get_logger("cadenza.engine")

LOAD_BATCH_MAX = 512


class RunLoader:
    """Batches `load(run_id)` calls into `Journal.load_many`; see the module note."""

    def __init__(self, journal: Journal):
        self.journal = journal
        self.waiting: dict[str, list[asyncio.Future[Loaded | None]]] = {}
        self.wake = anyio.Event()
        self.batches = 0
        self.in_flight: list[list[asyncio.Future[Loaded | None]]] = []  # waiters of the read
        self.stopped = False
        self.splits = 0  # batched reads that failed and were split

    async def load(self, run_id: str) -> Loaded | None:
        if self.stopped:
            raise ActorSystemStopped("the run loader has stopped")
        future: asyncio.Future[Loaded | None] = asyncio.get_running_loop().create_future()
        self.waiting.setdefault(run_id, []).append(future)
        self.wake.set()
        return await future

    async def load_all(self, run_ids: list[str]) -> dict[str, Loaded | Exception | None]:
        """Each run's load, or the error its read met (one run's never fails the others')."""
        if self.stopped:
            raise ActorSystemStopped("the run loader has stopped")
        loop = asyncio.get_running_loop()
        futures: dict[str, asyncio.Future[Loaded | None]] = {
            r: loop.create_future() for r in run_ids
        }
        for run_id, future in futures.items():
            self.waiting.setdefault(run_id, []).append(future)
        self.wake.set()
        await asyncio.wait(futures.values())
        results: dict[str, Loaded | Exception | None] = {}
        for run_id, future in futures.items():
            error = future.exception()
            if error is not None and not isinstance(error, Exception):
                raise error
            results[run_id] = future.result() if error is None else error
        return results

    async def serve(self) -> None:
        """Run until cancelled: answer the waiting loads in batches.

        When it stops (the system shuts down, or its task group is cancelled
        after a failure), every load still waiting — and every later one —
        fails with `ActorSystemStopped` at once, so no actor waits out the
        shutdown grace period for a read that will never come.
        """
        try:
            await self._serve()
        finally:
            self.stopped = True
            waiting, self.waiting = self.waiting, {}
            for waiters in [*waiting.values(), *self.in_flight]:
                for future in waiters:
                    if not future.done():
                        future.set_exception(ActorSystemStopped("the run loader has stopped"))
            self.in_flight = []

    async def _serve(self) -> None:
        while True:
            await self.wake.wait()
            self.wake = anyio.Event()
            await anyio.lowlevel.checkpoint()  # let the loads of this moment join the batch
            while self.waiting:
                ids = list(self.waiting)[:LOAD_BATCH_MAX]
                futures = {run_id: self.waiting.pop(run_id) for run_id in ids}
                self.in_flight = list(futures.values())
                results = await self._read(ids)
                self.in_flight = []  # (if cancelled above, `serve` fails them)
                self.batches += 1
                for run_id, waiters in futures.items():
                    result = results[run_id]
                    for future in waiters:
                        if future.done():
                            continue
                        if isinstance(result, BaseException):
                            future.set_exception(result)
                        else:
                            future.set_result(result)

    async def _read(self, ids: list[str]) -> dict[str, Loaded | BaseException | None]:
        """Each run's load, or its error; a read that fails is split, run by run.

        One run the journal cannot read (a damaged row, a value the query
        refuses) fails only its own waiters, never the batch it shared.
        """
        try:
            return dict(await self.journal.load_many(ids))
        except Exception as exc:
            if len(ids) == 1:
                return {ids[0]: _named(ids[0], exc)}
            self.splits += 1
            log.warning("loader.read_split", runs=len(ids), error=repr(exc))
        results: dict[str, Loaded | BaseException | None] = {}
        for run_id in ids:
            try:
                results.update(await self.journal.load_many([run_id]))
            except Exception as exc:
                results[run_id] = _named(run_id, exc)
        return results


def _named(run_id: str, error: Exception) -> Exception:
    """A damaged read of one run, as damage of that run: `JournalCorrupted` naming it (a torn
    page of the file names only the file), so the run is quarantined by name."""
    if not isinstance(error, JournalCorrupted) or error.stream_id is not None:
        return error
    named = JournalCorrupted(
        f"run {run_id!r} cannot be read ({error}); it is quarantined, the other runs are served",
        stream_id=run_id,
        record=error.record,
    )
    named.__cause__ = error
    return named
