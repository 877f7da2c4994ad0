"""cadenza's Prometheus metrics: the names and labels API.md pins, at near-zero hot-path cost.

Design note
-----------
Label values are workflow names, task types, worker groups and statuses,
never run or task ids, so the series stay few.

What is counted costs one dictionary increment at the event: the engine
calls `committed(state, events, append_s)` once per durable batch of a
run (not per event), and `timer_late(s)` as the timer service fires; the
counters are plain `dict`s that the collector turns into metric families
when Prometheus scrapes. What the engine already keeps — the queues, the
timers pending, the journal's record count — is read only at scrape time.
Histograms need an observation at the event: each is a list of bucket
counts per label set (`_Histogram`), a `bisect` and two additions, turned
into prometheus-client's `HistogramMetricFamily` at scrape time.

Durations are on the runtime's clock (virtual in tests), except the
journal append, which is the wall time the run waited for its record to
be durable.

Scrape-time reads happen on the thread that serves `/metrics` (the event
loop's, for `cadenza serve`); each read copies what it iterates, so a
scrape from another thread sees a consistent-enough snapshot and never
fails on a dictionary changing size.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import cast

from prometheus_client import CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString as _untyped_go_string

from cadenza._errors import InvalidArgument
from cadenza.core._events import (
    Event,
    TaskCanceled,
    TaskCompleted,
    TaskFailed,
    TaskMarked,
    TaskScheduled,
    TaskStarted,
    WorkflowCompleted,
    WorkflowFailed,
    WorkflowReopened,
    WorkflowStarted,
    WorkflowTerminated,
)
from cadenza.core._state import WorkflowState
from cadenza.persistence import StreamInfo

# Buckets in seconds: runs last from milliseconds to days; queue waits and
# task executions from milliseconds to hours; timers are late by little.
WORKFLOW_BUCKETS = (
    0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 14400.0, 86400.0,
    float("inf"),
)  # fmt: skip
TASK_BUCKETS = (
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
    3600.0, float("inf"),
)  # fmt: skip
LATENESS_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 60.0, float("inf"))
APPEND_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, float("inf"),
)  # fmt: skip

_TASK_ENDS = (TaskCompleted, TaskFailed, TaskCanceled, TaskMarked)
_RUN_ENDS = (WorkflowCompleted, WorkflowFailed, WorkflowTerminated)

_go_string = cast(Callable[[float], str], _untyped_go_string)  # `le` as Prometheus writes it

Queues = Callable[[], Iterable[tuple[str, str, int, float]]]
"""(task type, group, tasks ready, the oldest one's ready time) per queue, at scrape time."""

Pools = Callable[[], Iterable[tuple[str, str, int, int]]]
"""(task type, group, slots, slots busy) per local worker pool, at scrape time."""


class _Histogram:
    """A labelled histogram counted in plain lists; exposed as prometheus-client's family.

    `observe` is a `bisect` and two list updates (a tenth of a prometheus-client
    `Histogram.observe`, which takes three locks): this is on the engine's hot
    path. `family()` builds the cumulative buckets only when Prometheus scrapes.
    """

    __slots__ = ("bounds", "doc", "labels", "name", "series")

    def __init__(self, name: str, doc: str, labels: Sequence[str], buckets: Sequence[float]):
        self.name = name
        self.doc = doc
        self.labels = list(labels)
        self.bounds = tuple(b for b in buckets if b != float("inf"))
        self.series: dict[tuple[str, ...], list[float]] = {}  # counts per bucket, +Inf, sum

    def observe(self, value: float, *labels: str) -> None:
        counts = self.series.get(labels)
        if counts is None:
            counts = self.series[labels] = [0.0] * (len(self.bounds) + 2)
        counts[bisect_left(self.bounds, value)] += 1
        counts[-1] += value

    def family(self) -> HistogramMetricFamily:
        family = HistogramMetricFamily(self.name, self.doc, labels=self.labels)
        edges = [*(_go_string(bound) for bound in self.bounds), "+Inf"]
        for labels, counts in list(self.series.items()):
            cumulative, buckets = 0.0, []
            for edge, count in zip(edges, counts[:-1], strict=True):
                cumulative += count
                buckets.append((edge, cumulative))
            family.add_metric(list(labels), buckets, counts[-1])
        return family


class Metrics:
    """The metrics of one runtime, registered into `registry` while the runtime is open.

    `registry` is the application's `CollectorRegistry` (default: one of its
    own). `attach(...)` gives it the scrape-time readers; `register()` and
    `unregister()` add and remove every cadenza metric from the registry.
    """

    def __init__(self, registry: CollectorRegistry | None = None):
        if registry is not None and not isinstance(registry, CollectorRegistry):
            raise InvalidArgument(
                "metrics",
                f"expected a prometheus_client.CollectorRegistry, got {type(registry).__name__}",
            )
        self.registry = registry if registry is not None else CollectorRegistry()
        self.started: defaultdict[str, int] = defaultdict(int)
        self.finished: defaultdict[tuple[str, str], int] = defaultdict(int)
        self.running: defaultdict[str, int] = defaultdict(int)
        self.scheduled: defaultdict[tuple[str, str], int] = defaultdict(int)
        self.task_finished: defaultdict[tuple[str, str], int] = defaultdict(int)
        self.unserved: defaultdict[tuple[str, str], int] = defaultdict(int)
        self.schedule_ticks: defaultdict[tuple[str, str], int] = defaultdict(int)
        self.duration = _Histogram(
            "cadenza_workflow_duration_seconds",
            "Start to end of runs that ended, on the runtime's clock.",
            ["workflow"],
            WORKFLOW_BUCKETS,
        )
        self.queue_wait = _Histogram(
            "cadenza_task_queue_wait_seconds",
            "From a task being ready in its group's queue to a worker taking it.",
            ["task_type", "group"],
            TASK_BUCKETS,
        )
        self.execution = _Histogram(
            "cadenza_task_execution_seconds",
            "From a worker taking a task to its end (worker tasks only).",
            ["task_type"],
            TASK_BUCKETS,
        )
        self.lateness = _Histogram(
            "cadenza_timer_lateness_seconds",
            "How late each durable timer fired after its deadline.",
            [],
            LATENESS_BUCKETS,
        )
        self.append = _Histogram(
            "cadenza_journal_append_seconds",
            "Wall time a run waited for one batch's record to be durable.",
            [],
            APPEND_BUCKETS,
        )
        self.schedule_late = _Histogram(
            "cadenza_schedule_tick_lateness_seconds",
            "How late each schedule tick's run started after its tick time (jitter excluded).",
            ["schedule"],
            LATENESS_BUCKETS,
        )
        self.histograms = (
            self.schedule_late,
            self.duration,
            self.queue_wait,
            self.execution,
            self.lateness,
            self.append,
        )
        self._collector = _Collector(self)
        self._registered = False
        self.queues: Queues = lambda: ()
        self.pools: Pools = lambda: ()
        self.timers_pending: Callable[[], int] = lambda: 0
        self.journal_records: Callable[[], int] = lambda: 0
        self.unrecovered: Callable[[], int] = lambda: 0
        self.now: Callable[[], float] = lambda: 0.0

    def attach(
        self,
        *,
        queues: Queues,
        pools: Pools,
        timers_pending: Callable[[], int],
        journal_records: Callable[[], int],
        now: Callable[[], float],
        unrecovered: Callable[[], int] = lambda: 0,
    ) -> None:
        """The scrape-time readers of the engine's own state."""
        self.queues = queues
        self.pools = pools
        self.timers_pending = timers_pending
        self.journal_records = journal_records
        self.unrecovered = unrecovered
        self.now = now

    def register(self) -> None:
        """Register every cadenza metric in the registry (`InvalidArgument` if one is there)."""
        try:
            self.registry.register(self._collector)
        except ValueError as exc:
            raise InvalidArgument(
                "metrics",
                f"the registry already holds cadenza's metrics ({exc}): give each open "
                "Runtime a registry of its own",
            ) from None
        self._registered = True

    def unregister(self) -> None:
        """Take every cadenza metric out of the registry (the runtime closed)."""
        if self._registered:
            self._registered = False
            self.registry.unregister(self._collector)

    # -- the Observer protocol (cadenza.engine._observer) ----------------------------

    def recovered(self, rows: Iterable[StreamInfo]) -> None:
        """The runs recovery found unfinished count as running."""
        for row in rows:
            if not row.terminal:
                self.running[row.kind] += 1

    def committed(self, state: WorkflowState, events: Sequence[Event], append_s: float) -> None:
        """A run's batch of `events` is durable (after `append_s` of waiting); `state` is after it."""
        self.append.observe(append_s)
        name = state.name
        for event in events:
            if isinstance(event, TaskScheduled):
                self.scheduled[(event.type, event.group)] += 1
            elif isinstance(event, TaskStarted):
                task = state.task(event.task_id)
                if task is not None:
                    self.queue_wait.observe(
                        max(0.0, event.at - task.ready_at), task.type, task.group
                    )
            elif isinstance(event, _TASK_ENDS):
                task = state.task(event.task_id)
                if task is None or not task.status.terminal:
                    continue
                self.task_finished[(task.type, task.status.value)] += 1
                if task.poll_count and task.started_at is not None and task.ended_at is not None:
                    self.execution.observe(max(0.0, task.ended_at - task.started_at), task.type)
            elif isinstance(event, WorkflowStarted):
                self.started[name] += 1
                self.running[name] += 1
            elif isinstance(event, WorkflowReopened):
                self.running[name] += 1
            elif isinstance(event, _RUN_ENDS):
                status = (
                    "COMPLETED" if isinstance(event, WorkflowCompleted)
                    else event.status if isinstance(event, WorkflowFailed)
                    else "TERMINATED"
                )  # fmt: skip
                self.finished[(name, status)] += 1
                self.running[name] -= 1
                self.duration.observe(max(0.0, event.at - state.created_at), name)

    def timer_late(self, late_s: float) -> None:
        """A timer fired `late_s` after its deadline."""
        self.lateness.observe(late_s)

    def schedule_ticked(self, schedule: str, result: str, count: int, late_s: float | None) -> None:
        """`count` ticks of `schedule` had `result` (started, skipped, buffered, missed, ...)."""
        self.schedule_ticks[(schedule, result)] += count
        if late_s is not None:
            self.schedule_late.observe(max(0.0, late_s), schedule)

    def unserved_type(self, task_type: str, group: str) -> None:
        """Tasks of `task_type` waited in `group` with no worker or poller for too long."""
        self.unserved[(task_type, group)] += 1


class _Collector(Collector):
    """Turns the counters and the engine's state into metric families at scrape time."""

    def __init__(self, metrics: Metrics):
        self.metrics = metrics

    def describe(self) -> Iterator[Metric]:
        return self._families(described=True)

    def collect(self) -> Iterator[Metric]:
        return self._families(described=False)

    def _families(self, *, described: bool) -> Iterator[Metric]:
        m = self.metrics
        started = CounterMetricFamily(
            "cadenza_workflow_started", "Runs started.", labels=["workflow"]
        )
        finished = CounterMetricFamily(
            "cadenza_workflow_finished",
            "Runs that ended, by status.",
            labels=["workflow", "status"],
        )
        running = GaugeMetricFamily(
            "cadenza_workflows_running", "Runs not ended (RUNNING or PAUSED).", labels=["workflow"]
        )
        scheduled = CounterMetricFamily(
            "cadenza_task_scheduled", "Task attempts scheduled.", labels=["task_type", "group"]
        )
        task_finished = CounterMetricFamily(
            "cadenza_task_finished", "Task attempts that ended, by status.",
            labels=["task_type", "status"],
        )  # fmt: skip
        unserved = CounterMetricFamily(
            "cadenza_task_unserved",
            "Times tasks of a type waited in a group with no worker or poller past the limit.",
            labels=["task_type", "group"],
        )
        depth = GaugeMetricFamily(
            "cadenza_queue_depth", "Tasks ready in a group's queue, by type (what an autoscaler reads).",
            labels=["task_type", "group"],
        )  # fmt: skip
        oldest = GaugeMetricFamily(
            "cadenza_queue_oldest_ready_age_seconds",
            "How long the oldest ready task of a type has waited in its group's queue.",
            labels=["task_type", "group"],
        )
        pool = GaugeMetricFamily(
            "cadenza_worker_pool_size", "Slots of a local worker pool (autoscaled or fixed).",
            labels=["task_type", "group"],
        )  # fmt: skip
        busy = GaugeMetricFamily(
            "cadenza_worker_pool_busy", "Slots of a local worker pool running a task.",
            labels=["task_type", "group"],
        )  # fmt: skip
        ticks = CounterMetricFamily(
            "cadenza_schedule_ticks", "Schedule ticks, by result (started, skipped, missed, ...).",
            labels=["schedule", "result"],
        )  # fmt: skip
        timers = GaugeMetricFamily("cadenza_timers_pending", "Durable timers armed.")
        records = CounterMetricFamily("cadenza_journal_records", "Records appended to the journal.")
        unrecovered = GaugeMetricFamily(
            "cadenza_runs_unrecovered", "Runs whose recovery keeps failing (`rt.unrecovered`)."
        )
        families: list[Metric] = [
            started, finished, running, scheduled, task_finished, unserved, depth, oldest,
            pool, busy, timers, records, ticks, unrecovered,
        ]  # fmt: skip
        if described:
            return iter([*families, *(h.family() for h in m.histograms)])
        for counts, family in (
            (m.started, started),
            (m.finished, finished),
            (m.running, running),
            (m.scheduled, scheduled),
            (m.task_finished, task_finished),
            (m.unserved, unserved),
            (m.schedule_ticks, ticks),
        ):
            for key, value in list(counts.items()):
                family.add_metric(list(key) if isinstance(key, tuple) else [str(key)], value)
        now = m.now()
        idle = set(m.scheduled)  # a queue once used reads 0 when empty, not nothing
        for task_type, group, count, oldest_ready_at in m.queues():
            idle.discard((task_type, group))
            depth.add_metric([task_type, group], count)
            oldest.add_metric([task_type, group], max(0.0, now - oldest_ready_at))
        for task_type, group in sorted(idle):
            depth.add_metric([task_type, group], 0)
            oldest.add_metric([task_type, group], 0.0)
        for task_type, group, size, running_now in m.pools():
            pool.add_metric([task_type, group], size)
            busy.add_metric([task_type, group], running_now)
        timers.add_metric([], m.timers_pending())
        records.add_metric([], m.journal_records())
        unrecovered.add_metric([], m.unrecovered())
        return iter([*families, *(h.family() for h in m.histograms)])
