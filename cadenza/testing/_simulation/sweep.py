"""Run one seed of a workload, or a sweep of seeds, and report what was found.

Design note
-----------
`run_seed(seed, ...)` is the whole simulated life of one seed: open a
runtime on a fresh `Simulation(seed)`, run the workload for `duration_s`
simulated seconds with faults on, then stop the faults and new starts and
give the runs `liveness_bound_s` simulated seconds to finish. The faults:
the workload's own (random failures, duplicate and late completions,
workers that die or run past their lease, local workers that crash, hang or
overrun, operators and a sweeper's repairs racing completions),
up to `crashes_max` crashes — each at a seeded random time or, through the
journal's fault plan, at a seeded k-th append — each followed by recovery
from the durable journal, and (with `journal_faults`) commits that fail
transiently at a seeded rate. `journal_faults=False` and `crashes_max=0`
give a run with the workload's faults only. The checker scans
the journal after every batch and compares the live runtime with the
replayed journal at the end. Everything random derives from the seed, so
`run_seed(seed)` twice gives the same trace hash.

cadenza's logs are silenced for the run (and restored after): the simulation is
an application, and log rendering would dominate its cost.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from cadenza.actors._simloop import Simulation
from cadenza.engine import _host
from cadenza.persistence import JournalFaults
from cadenza.testing._simulation.checker import TIMER_SLACK_S, Checker, Violation
from cadenza.testing._simulation.conductor_checks import ConductorChecks
from cadenza.testing._simulation.harness import SimRuntime
from cadenza.testing._simulation.local_workload import LocalWorkerLoad
from cadenza.testing._simulation.more_workloads import GroupOutageLoad, WaitStorm
from cadenza.testing._simulation.random_workload import RandomDefinitions
from cadenza.testing._simulation.schedules import ScheduleChecks
from cadenza.testing._simulation.trace import TraceDelivery
from cadenza.testing._simulation.workloads import ConductorLoad

WORKLOADS = ("conductor", "group_outage", "wait_storm", "local_workers", "random_definitions")
LIVELOCK_BATCHES = 200_000  # batches without time moving: something spins


@dataclass(slots=True)
class SeedResult:
    seed: int
    workload: str
    simulated_s: float
    wall_s: float
    trace_hash: str
    deliveries: int
    crashes: int
    runs: int
    commits_failed: int
    violations: list[Violation] = field(default_factory=list)
    trace_tail: list[str] = field(default_factory=list)
    load_stats: dict[str, int] = field(default_factory=dict)  # the workload's own counters

    @property
    def compression(self) -> float:
        return self.simulated_s / self.wall_s if self.wall_s > 0 else float("inf")


@contextlib.contextmanager
def quiet_logs() -> Iterator[None]:
    cadenza_log = logging.getLogger("cadenza")
    saved = cadenza_log.level
    cadenza_log.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        cadenza_log.setLevel(saved)


@contextlib.contextmanager
def _group_mailbox(size: int | None) -> Iterator[None]:
    """Worker groups' (and the timer service's) mailboxes hold `size` (None: as built)."""
    if size is None:
        yield
        return
    saved = _host.GROUP_MAILBOX
    _host.GROUP_MAILBOX = size
    try:
        yield
    finally:
        _host.GROUP_MAILBOX = saved


def run_seeds(seeds: range, jobs: int, options: dict[str, Any]) -> Iterator[SeedResult]:
    """`run_seed(seed, **options)` for each seed, in seed order; `jobs` processes share them."""
    if jobs <= 1:
        for seed in seeds:
            yield run_seed(seed, **options)
        return
    with ProcessPoolExecutor(jobs, initializer=_leave_with, initargs=(os.getpid(),)) as pool:
        yield from pool.map(partial(run_seed, **options), seeds, chunksize=8)


PARENT_CHECK_S = 1.0  # how often a sweep worker looks whether the process that started it lives


def _leave_with(parent: int) -> None:
    """Make this sweep worker exit once `parent` is gone (a SIGKILLed pytest, say): the
    executor only stops its workers when the parent shuts it down, so they ran on, orphaned,
    sweeping for nobody."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_S)
        os._exit(1)

    threading.Thread(target=watch, name="sweep-parent-watch", daemon=True).start()


def make_load(
    workload: str,
    harness: SimRuntime,
    rng: random.Random,
    *,
    rate_per_s: float,
    storm: int = 2000,
    options: dict[str, Any] | None = None,
) -> ConductorLoad:
    """The driver of workload `workload` (see workloads.py, more_workloads.py and
    random_workload.py); `options` go to its constructor."""
    options = options or {}
    if workload == "random_definitions":
        return RandomDefinitions(harness, rng, rate_per_s=rate_per_s, **options)
    if workload == "group_outage":
        return GroupOutageLoad(harness, rng, rate_per_s=rate_per_s)
    if workload == "wait_storm":  # enough workers to drain the storm within the liveness bound
        workers = max(4, storm // 1500)
        return WaitStorm(harness, rng, rate_per_s=rate_per_s, storm=storm, workers_per_type=workers)
    if workload == "local_workers":
        return LocalWorkerLoad(harness, rng, rate_per_s=rate_per_s)
    return ConductorLoad(harness, rng, rate_per_s=rate_per_s, **{"schedules": True, **options})


def run_seed(
    seed: int,
    *,
    workload: str = "conductor",
    duration_s: float = 5.0,
    rate_per_s: float = 90.0,
    crashes_max: int = 2,
    delay_max_s: float = 0.0,
    liveness_bound_s: float = 60.0,
    stop_at_first: bool = False,
    timer_slack_s: float = TIMER_SLACK_S,
    journal_faults: bool = True,
    storm: int = 2000,
    load_options: dict[str, Any] | None = None,
    group_mailbox: int | None = None,
) -> SeedResult:
    """Simulate one seed; see the module note."""
    if workload not in WORKLOADS:
        raise ValueError(f"unknown workload {workload!r}; choose from {', '.join(WORKLOADS)}")
    wall = time.perf_counter()
    with quiet_logs(), _group_mailbox(group_mailbox):
        sim = Simulation(seed)
        rng = random.Random(seed)
        delivery = TraceDelivery(rng=random.Random(seed + 1), delay_max_s=delay_max_s)
        harness = SimRuntime(sim, delivery=delivery)
        checker = Checker(
            harness,
            stop_at_first=stop_at_first,
            check_priority=delay_max_s <= 0,
            timer_slack_s=timer_slack_s,
        )
        try:
            harness.open()
            load = make_load(
                workload, harness, rng, rate_per_s=rate_per_s, storm=storm, options=load_options
            )
            if isinstance(load, RandomDefinitions):
                load.attach(ConductorChecks(checker))
            schedule_checks = ScheduleChecks(checker)
            load.install()
            load.start()
            crashes = sorted(rng.uniform(0, duration_s) for _ in range(rng.randint(0, crashes_max)))
            plan = _FaultPlan(rng, duration_s * rate_per_s * 5, journal_faults, crashes_max)
            harness.arm(plan.next())
            instant, same = sim.time, 0
            while sim.time < duration_s:
                crash_now = crashes and sim.time >= crashes[0]
                if crash_now or harness.crash_requested is not None:
                    if crash_now:
                        crashes.pop(0)
                    load.stop()
                    harness.crash(plan.next())  # recovery meets the faults too
                    load.start()
                if not sim.step():
                    break
                if sim.time == instant:
                    same += 1
                    if same > LIVELOCK_BATCHES:
                        checker.report("liveness", "-", f"livelock: {same} batches at one instant")
                        break
                else:
                    instant, same = sim.time, 0
            if harness.crash_requested is not None:
                load.stop()
                harness.crash()
                load.start()
            harness.arm(None)
            load.faults = False
            load.stop_starting()
            limit = sim.time + liveness_bound_s
            while sim.time < limit and checker.unfinished():
                load.settle()
                sim.advance(1.0)
            load.stop()
            sim.run_until_idle()
            checker.check_live()
            checker.check_liveness(liveness_bound_s)
            for task_id in load.duplicates_accepted:
                checker.report("inv2", task_id, "a duplicate completion was accepted")
            for what in load.regressed:
                checker.report("inv1", what.split(":")[0], f"a terminal run read back: {what}")
        finally:
            harness.close()
            sim.close()
        return SeedResult(
            seed=seed,
            workload=workload,
            simulated_s=sim.time,
            wall_s=time.perf_counter() - wall,
            trace_hash=delivery.digest(),
            deliveries=delivery.count,
            crashes=harness.crashes,
            commits_failed=plan.failed,
            runs=len(checker.events),
            violations=list(checker.violations),
            trace_tail=list(delivery.lines)[-200:],
            load_stats={
                name: value
                for name in (
                    "started",
                    "completed",
                    "failed",
                    "stale",
                    "died",
                    "operations",
                    "sweeps",
                    "crashed_calls",
                    "flowed_during_outage",
                    "mutations",
                    "timer_restarts",
                    "group_restarts",
                    "reopened_runs",
                    "signals",
                    "skips",
                    "local_runs",
                    "hung",
                    "overran",
                    "slot_crashes",
                )
                if isinstance(value := getattr(load, name, None), int)
            }
            | {"schedule_ticks": schedule_checks.ticks},
        )


class _FaultPlan:
    """The journal faults of one seed, one `JournalFaults` per incarnation.

    Each incarnation fails commits at the seed's rate (none, 0.2% or 1%),
    and while the crash budget lasts, half of them crash at a seeded k-th
    append within about the appends the workload makes.
    """

    def __init__(self, rng: random.Random, appends: float, on: bool, crashes_max: int) -> None:
        self.rng = rng
        self.appends = max(10, int(appends))
        self.on = on
        self.crashes_left = crashes_max if on else 0
        self.fail_p = rng.choice((0.0, 0.002, 0.01)) if on else 0.0
        self.issued: list[JournalFaults] = []

    @property
    def failed(self) -> int:
        return sum(faults.failed for faults in self.issued)

    def next(self) -> JournalFaults | None:
        if not self.on:
            return None
        crash_at = None
        if self.crashes_left and self.rng.random() < 0.5:
            self.crashes_left -= 1
            crash_at = self.rng.randint(1, self.appends)
        faults = JournalFaults(
            random.Random(self.rng.getrandbits(32)), fail_p=self.fail_p, crash_at=crash_at
        )
        self.issued.append(faults)
        return faults
