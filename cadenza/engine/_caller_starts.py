"""Starts made by callers: idempotency keys serialised, and held back past the limit.

A start with an idempotency key first looks the key up in the journal; a
run already started under it (durably) is the answer, and concurrent starts
with one key wait for each other (one lock per key in flight, dropped once
nobody holds or waits for it). Another process sharing the journal can
still take the key between the lookup and the commit: the commit refuses
the start (`DuplicateKey`) and the start answers the key's holder. A start that makes a run first passes the
`RunGate` (back-pressure: it waits while `max_runs_in_flight` runs are in
flight) and counts its run from the moment its id is minted.

`start_many` starts a batch whose first records share one transaction
(`Journal.gathering`): it takes the batch's key locks in sorted order (so
two batches never wait on each other in a cycle), answers the keys already
journaled (and a key repeated in the batch) with the run that holds it, is
admitted by the gate as a whole, and lets the journal commit the new runs'
start records together.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio

from cadenza._trace import carrier
from cadenza.engine._messages import StartRun
from cadenza.engine.run._fresh import CoalescedStarts, FreshRun, FreshStarts
from cadenza.language._definition import WorkflowDef
from cadenza.persistence import DuplicateKey

if TYPE_CHECKING:
    from cadenza.engine._host import Engine


@dataclass(frozen=True, slots=True)
class StartFields:
    """What a caller's start carries besides the definition."""

    input: dict[str, Any]
    priority: int
    key: str | None
    correlation_id: str | None
    task_to_group: Mapping[str, str] | None
    parent_id: str | None


class CallerStarts:
    """The start path of `Runtime.start`; see the module note."""

    def __init__(self, engine: Engine):
        self.journal = engine.journal
        self.gate = engine.gate
        self.new_run_id = engine.new_run_id
        self.run = engine.run
        self.fresh = FreshStarts(engine)
        self.coalesced = CoalescedStarts(self.fresh)
        self.key_locks: dict[str, anyio.Lock] = {}  # starts in flight, by idempotency key

    async def start(self, definition: WorkflowDef, digest: str, fields: StartFields) -> str:
        """Start a run; returns its id once durable, or the run the key already names."""
        key = fields.key
        if key is None:
            return await self._start(definition, digest, fields)
        async with self._key_lock(key):
            existing = await self.journal.find_key(key)
            if existing is not None:
                return existing
            try:
                return await self._start(definition, digest, fields)
            except DuplicateKey as taken:  # another process's start committed it meanwhile
                return taken.holder

    async def start_many(
        self, definition: WorkflowDef, digest: str, batch: Sequence[StartFields]
    ) -> list[str]:
        """Start one run per item, their start records in one transaction; the ids in order.

        An item whose key names a journaled run (or an earlier item's) gets that run.
        Raises the first error a start met (the others' runs may be durable).
        """
        keys = sorted({fields.key for fields in batch if fields.key is not None})
        async with contextlib.AsyncExitStack() as stack:
            for key in keys:
                await stack.enter_async_context(self._key_lock(key))
            held = await self.journal.find_keys(keys) if keys else {}
            ids: list[str | None] = [None] * len(batch)
            by_key: dict[str, int] = {}
            for i, fields in enumerate(batch):
                if fields.key is not None and fields.key not in by_key:
                    by_key[fields.key] = i
                    ids[i] = held.get(fields.key)
            fresh = [
                i
                for i, fields in enumerate(batch)
                if ids[i] is None and (fields.key is None or by_key[fields.key] == i)
            ]
            await self._start_together(definition, digest, batch, fresh, ids)
            for i, fields in enumerate(batch):
                if ids[i] is None and fields.key is not None:
                    ids[i] = ids[by_key[fields.key]]
        return [run_id for run_id in ids if run_id is not None]

    async def _start_together(
        self,
        definition: WorkflowDef,
        digest: str,
        batch: Sequence[StartFields],
        fresh: list[int],
        ids: list[str | None],
    ) -> None:
        """Start the `fresh` items of `batch`, their first records gathered into one commit."""
        await self.gate.admit_many(len(fresh))
        minted = [self.new_run_id() for _ in fresh]
        for run_id in minted:
            self.gate.started(run_id)
        if self.fresh.covers():  # in one pass, without an actor step each (`_fresh`)
            trace = carrier()
            runs = [FreshRun(r, batch[i], trace) for i, r in zip(fresh, minted, strict=True)]
            done = await self.fresh.start(definition, digest, runs)
            for i, run_id in zip(fresh, minted, strict=True):
                ids[i] = done.answered.get(run_id)
            back = set(done.taken_back)
            kept = [(i, run_id) for i, run_id in zip(fresh, minted, strict=True) if run_id in back]
            fresh, minted = [i for i, _ in kept], [run_id for _, run_id in kept]
        errors: list[BaseException] = []
        async with self.journal.gathering(minted) as hold:

            async def one(i: int, run_id: str) -> None:
                try:
                    ids[i] = await self._ask_start(run_id, definition, digest, batch[i])
                except Exception as exc:
                    hold.forgo(run_id)
                    self.gate.finished(run_id)
                    if isinstance(exc, DuplicateKey) and batch[i].key is not None:
                        ids[i] = exc.holder  # another process's start committed it meanwhile
                    else:
                        errors.append(exc)

            async with anyio.create_task_group() as tg:
                for i, run_id in zip(fresh, minted, strict=True):
                    tg.start_soon(one, i, run_id)
        if errors:
            raise errors[0]

    @contextlib.asynccontextmanager
    async def _key_lock(self, key: str) -> Any:
        lock = self.key_locks.setdefault(key, anyio.Lock())
        try:
            async with lock:
                yield
        finally:
            if not lock.locked() and not lock.statistics().tasks_waiting:
                self.key_locks.pop(key, None)

    async def _ask_start(
        self, run_id: str, definition: WorkflowDef, digest: str, fields: StartFields
    ) -> str:
        routes = dict(fields.task_to_group) if fields.task_to_group else None
        result: str = await self.run(run_id).ask(
            lambda reply: StartRun(
                definition, digest, fields.input, fields.priority, fields.key,
                fields.correlation_id, routes, fields.parent_id, reply,
            )
        )  # fmt: skip
        return result

    async def _start(self, definition: WorkflowDef, digest: str, fields: StartFields) -> str:
        await self.gate.admit()
        run_id = self.new_run_id()
        self.gate.started(run_id)  # before it can end (or park) and leave the count
        try:
            if self.fresh.covers():  # with the starts of this moment, in one pass (`_fresh`)
                answer = await self.coalesced.start(definition, digest, run_id, fields)
                if answer is not None:
                    return answer
            return await self._ask_start(run_id, definition, digest, fields)
        except BaseException:
            self.gate.finished(run_id)  # no run was made
            raise
