"""Starts made by callers: idempotency keys serialised, and held back past the limit.

A start with an idempotency key first looks the key up in the journal; a
run already started under it (durably) is the answer, and concurrent starts
with one key wait for each other (one lock per key in flight, dropped once
nobody holds or waits for it). A start that makes a run first passes the
`RunGate` (back-pressure: it waits while `max_runs_in_flight` runs are in
flight) and counts its run from the moment its id is minted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import anyio

from cadenza.actors import ActorRef
from cadenza.engine._gate import RunGate
from cadenza.engine._messages import StartRun
from cadenza.language._definition import WorkflowDef
from cadenza.persistence import Journal


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

    def __init__(
        self,
        journal: Journal,
        gate: RunGate,
        new_run_id: Callable[[], str],
        run: Callable[[str], ActorRef[Any]],
    ):
        self.journal = journal
        self.gate = gate
        self.new_run_id = new_run_id
        self.run = run
        self.key_locks: dict[str, anyio.Lock] = {}  # starts in flight, by idempotency key

    async def start(self, definition: WorkflowDef, digest: str, fields: StartFields) -> str:
        """Start a run; returns its id once durable, or the run the key already names."""
        key = fields.key
        if key is None:
            return await self._start(definition, digest, fields)
        lock = self.key_locks.setdefault(key, anyio.Lock())
        try:
            async with lock:
                existing = await self.journal.find_key(key)
                if existing is not None:
                    return existing
                return await self._start(definition, digest, fields)
        finally:
            if not lock.locked() and not lock.statistics().tasks_waiting:
                self.key_locks.pop(key, None)

    async def _start(self, definition: WorkflowDef, digest: str, fields: StartFields) -> str:
        await self.gate.admit()
        run_id = self.new_run_id()
        self.gate.started(run_id)  # before it can end (or park) and leave the count
        try:
            routes = dict(fields.task_to_group) if fields.task_to_group else None
            result: str = await self.run(run_id).ask(
                lambda reply: StartRun(
                    definition, digest, fields.input, fields.priority, fields.key,
                    fields.correlation_id, routes, fields.parent_id, reply,
                )
            )  # fmt: skip
        except BaseException:
            self.gate.finished(run_id)  # no run was made
            raise
        return result
