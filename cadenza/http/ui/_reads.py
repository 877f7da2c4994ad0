"""What the dashboard reads from a `Runtime`: pages of runs, groups, timers, definitions.

Every read here is a read: nothing changes a run, a queue or the journal.
Run listings are paged queries on the journal's current-state table
(`cadenza.persistence.search_streams`), never a scan of the event log;
the worker-group and timer views are snapshots of the engine's in-memory
state, taken on the event loop's thread (so they are consistent with
themselves), like `cadenza.http._engine`'s reads for the REST API.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field, replace
from typing import Any

import msgspec

from cadenza._errors import NotFound
from cadenza.core._state import restore
from cadenza.engine.schedules._store import SCHEDULE_KIND
from cadenza.persistence import StreamInfo, StreamQuery, count_streams, search_streams
from cadenza.runtime import Runtime, WorkflowStatus, to_conductor_json

PAGE_SIZE_MAX = 200
STATUSES = tuple(status.value for status in WorkflowStatus)


@dataclass(frozen=True, slots=True)
class RunsPage:
    """One page of the runs list and the counts per status under the same filters."""

    rows: list[StreamInfo]
    counts: dict[str, int]
    page: int
    size: int

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def pages(self, status: str | None) -> int:
        count = self.counts.get(status, 0) if status else self.total
        return max(1, -(-count // self.size))


async def runs_page(rt: Runtime, query: StreamQuery, *, page: int, size: int) -> RunsPage:
    """Page `page` (from 1) of the runs `query` matches, newest first, with status counts."""
    journal = rt._engine.journal
    query = replace(query, not_kind=SCHEDULE_KIND)  # runs only
    rows = await search_streams(journal, query, offset=(page - 1) * size, limit=size)
    counts = await count_streams(journal, query)
    return RunsPage(rows=rows, counts=counts, page=page, size=size)


async def run_definition(rt: Runtime, run_id: str, name: str, version: int) -> dict[str, Any]:
    """The definition the run follows (by the digest it journaled: an inline sub-workflow's,
    or the one it started with even if that version was registered again since),
    in Conductor's JSON; the registered `name`/`version` when the run names none."""
    loaded = await rt._engine.journal.load(run_id)
    digest = restore(run_id, loaded.snapshot, loaded.events).digest if loaded else ""
    if digest:
        try:
            return to_conductor_json(await rt._engine.registry.by_digest(digest))
        except NotFound:
            pass
    return await rt.definition(name, version)


def children_of(tasks: list[Any]) -> list[str]:
    """The child runs a run's SUB_WORKFLOW tasks started, in scheduling order."""
    seen: list[str] = []
    for task in tasks:
        child = getattr(task, "sub_workflow_id", None)
        if child and child not in seen:
            seen.append(child)
    return seen


# -- worker groups -----------------------------------------------------------------------


@dataclass
class TypeRow:
    """One task type in one worker group, as the dashboard shows it."""

    task_type: str
    by_priority: dict[int, int] = field(default_factory=dict)
    oldest_ready_s: float | None = None
    in_flight: int = 0
    pollers: int = 0
    poller_ids: list[str] = field(default_factory=list)
    polled: list[tuple[str, float]] = field(default_factory=list)  # (worker id, seconds ago)
    local_pool: int | None = None
    local_busy: int = 0
    rate_limit: str | None = None
    concurrency_limit: int | None = None
    breaker: str | None = None

    @property
    def depth(self) -> int:
        return sum(self.by_priority.values())


@dataclass
class GroupRow:
    name: str
    types: list[TypeRow]
    live: bool


def groups(rt: Runtime) -> list[GroupRow]:
    """Every worker group with, per task type: queue depth by priority, the oldest ready
    task's age, tasks in flight, parked pollers, the local pool, limits and breaker state."""
    engine = rt._engine
    now = engine.clock.now()
    ledger = engine.ledger
    in_flight: dict[tuple[str, str], int] = {}
    for handed in list(ledger.handed.values()):
        key = (handed.group, handed.name)
        in_flight[key] = in_flight.get(key, 0) + 1
    found: list[GroupRow] = []
    for name, (state, _ref) in sorted(engine._groups.items()):
        rows: dict[str, TypeRow] = {}

        def row(task_type: str, rows: dict[str, TypeRow] = rows) -> TypeRow:
            if task_type not in rows:
                rows[task_type] = TypeRow(task_type)
            return rows[task_type]

        for task in list(state.tasks.values()):
            entry = row(task.type)
            entry.by_priority[task.priority] = entry.by_priority.get(task.priority, 0) + 1
            age = now - task.ready_at
            if entry.oldest_ready_s is None or age > entry.oldest_ready_s:
                entry.oldest_ready_s = max(0.0, age)
        for task_type, parked in list(state.pollers.items()):
            if parked:
                entry = row(task_type)
                entry.pollers = len(parked)
                entry.poller_ids = sorted({p.worker_id or "?" for p in parked})
        for (task_type, worker_id), at in sorted(state.polled.items(), key=lambda kv: -kv[1]):
            row(task_type).polled.append((worker_id or "(no id)", max(0.0, now - at)))
        for task_type, worker in list(state.workers.items()):
            entry = row(task_type)
            entry.local_pool = worker.concurrency
            entry.local_busy = worker.running
        for (group, task_type), count in in_flight.items():
            if group == name:
                row(task_type).in_flight = count
        for (group, task_type), breaker in list(ledger.breakers.items()):
            if group == name:
                row(task_type).breaker = str(breaker.state)
        for task_type, entry in rows.items():
            task_def = engine.registry.task_defs.get(task_type)
            if task_def is None:
                continue
            entry.concurrency_limit = task_def.concurrent_exec_limit or None
            if task_def.rate_limit_per_frequency:
                entry.rate_limit = (
                    f"{task_def.rate_limit_per_frequency} per {task_def.rate_limit_frequency_s:g} s"
                )
        found.append(
            GroupRow(
                name=name,
                types=sorted(rows.values(), key=lambda r: r.task_type),
                live=name in ledger.live,
            )
        )
    return found


# -- timers ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TimersView:
    pending: int
    next_due_at: float | None
    by_type: dict[str, int]
    wakeups: int
    fired: int
    now: float
    lateness_s: list[float]  # the last firings' lateness, newest last

    @property
    def lateness_max_s(self) -> float | None:
        return max(self.lateness_s) if self.lateness_s else None

    @property
    def lateness_median_s(self) -> float | None:
        return statistics.median(self.lateness_s) if self.lateness_s else None


def timers(rt: Runtime) -> TimersView:
    """The timer service's pending count and next deadline, and WAIT deadlines by task type."""
    engine = rt._engine
    state = engine._timer_state
    heap = list(state.heap)
    return TimersView(
        pending=len(heap),
        next_due_at=min((entry[0] for entry in heap), default=None),
        by_type=dict(sorted(engine.timer_counts.items())),
        wakeups=state.wakeups,
        fired=state.fired,
        now=engine.clock.now(),
        lateness_s=list(state.lateness),
    )


# -- definitions -------------------------------------------------------------------------


def definition_versions(rt: Runtime) -> dict[str, list[int]]:
    """Registered workflow names and their versions, oldest version first."""
    versions: dict[str, list[int]] = {}
    for name, version in sorted(rt._engine.registry.workflows):
        versions.setdefault(name, []).append(version)
    return versions


def task_defs(rt: Runtime) -> list[dict[str, Any]]:
    """Every registered TaskDef, as Conductor's JSON."""
    found = []
    for name in sorted(rt._engine.registry.task_defs):
        body: dict[str, Any] = msgspec.to_builtins(rt._engine.registry.task_defs[name])
        found.append({key: value for key, value in body.items() if value is not None})
    return found
