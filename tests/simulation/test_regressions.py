"""Fixed regression examples: races reported in other workflow engines, replayed against ours.

Each test replays the *shape* of another engine's race in the deterministic simulation
(`cadenza/testing/_simulation/scenarios.py`), over several seeds (the loop shuffles each batch of ready
callbacks per seed, so seeds order the racing messages differently), and asserts concrete
outcomes: statuses, attempt and hand-out counts, exact virtual times; the invariant checker
watches every test as well.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from cadenza._errors import StaleTask
from cadenza.core import _events as ev
from cadenza.persistence import MemoryJournal
from cadenza.testing._simulation.scenarios import (
    EPS,
    Pollers,
    Scenario,
    exactly,
    fork,
    join,
    simple,
    statuses,
    taskdef,
    wait,
    workflow,
)
from cadenza.testing._simulation.sweep import quiet_logs

SEEDS = range(8)


@pytest.fixture(autouse=True)
def _quiet() -> Iterator[None]:
    with quiet_logs():
        yield


# -- 1. conductor-oss #213: the sweeper's read-then-lock race --------------------------


def _one_task_held(sc: Scenario, after_s: float, **fields: Any) -> tuple[str, Any, float]:
    """A one-task run held by a worker whose lease (timeoutSeconds with a timeoutPolicy) ends
    `after_s` after its start: (run id, task, that deadline)."""
    limit = "timeoutSeconds" if "timeoutPolicy" in fields else "responseTimeoutSeconds"
    sc.register(workflow("one", simple("last")), tasks=[taskdef(**{limit: after_s, **fields})])
    run_id = sc.run(sc.rt.start("one"))
    task = sc.take("work", "slow")
    return run_id, task, sc.times(run_id, ev.TaskStarted)[0] + after_s


def test_conductor_213_completion_at_the_lease_deadline_is_fenced_once() -> None:
    """conductor-oss #213: the sweeper read a workflow before locking it; a completion landing
    in between left a completed workflow RUNNING. Here the completion of the last task reaches
    the run in the loop batch its lease (responseTimeoutSeconds=30) expires, in a seed-chosen
    order. At the deadline the lease wins in either order: one TIMED_OUT at exactly t+30, the
    completion refused; the retry completes the run."""
    orders = set()
    for seed in SEEDS:
        for hops in (0, 1, 2):
            with Scenario(seed) as sc:
                run_id, task, deadline = _one_task_held(sc, 30.0, retryCount=1)
                outcome = sc.complete_at(deadline, task.id, hops=hops)
                sc.sim.advance(30.0)
                assert isinstance(outcome.result(), StaleTask)
                orders.add(tuple(sc.mailbox_order(run_id, "LeaseExpired", "TaskResult")))
                failed = [(e.task_id, e.status, e.at) for e in sc.events(run_id, ev.TaskFailed)]
                assert failed == [(task.id, "TIMED_OUT", deadline)]
                assert statuses(sc.get(run_id)) == ["TIMED_OUT", "SCHEDULED"]
                retry = sc.take("work", "fast")
                assert retry.attempt == 1
                sc.run(sc.rt.complete(retry.id, {"ok": True}))
                run = sc.get(run_id)
                assert (run.status, statuses(run)) == ("COMPLETED", ["TIMED_OUT", "COMPLETED"])
                assert sc.settled(run_id) == []
    assert orders == {("LeaseExpired", "TaskResult"), ("TaskResult", "LeaseExpired")}


def test_conductor_213_completion_racing_the_timeout_check_ends_the_run_one_way() -> None:
    """conductor-oss #213, the deadline check as the sweeper: a TaskDef timeoutSeconds=60
    (TIME_OUT_WF) and the completion at the same instant. What the run takes first decides:
    COMPLETED iff the completion was accepted, else TIMED_OUT at exactly t+60; never RUNNING."""
    seen: Counter[str] = Counter()
    for seed in SEEDS:
        for hops in range(5):
            with Scenario(seed) as sc:
                run_id, task, deadline = _one_task_held(sc, 60.0, timeoutPolicy="TIME_OUT_WF")
                outcome = sc.complete_at(deadline, task.id, hops=hops)
                sc.sim.advance(61.0)
                run = sc.get(run_id)
                if outcome.result() is None:
                    assert (run.status, statuses(run)) == ("COMPLETED", ["COMPLETED"])
                else:
                    assert isinstance(outcome.result(), StaleTask)
                    assert (run.status, statuses(run)) == ("TIMED_OUT", ["TIMED_OUT"])
                    assert sc.times(run_id, ev.WorkflowFailed) == [deadline]
                assert run.tasks[0].ended_at == deadline
                seen[run.status.value] += 1
                assert sc.settled(run_id) == []
    assert set(seen) == {"COMPLETED", "TIMED_OUT"}, seen  # both sides of the race were run


def _completion_racing_recovery(seed: int, hops: int) -> tuple[Scenario, str, str]:
    """A worker holds the last of two tasks across a crash; its completion reaches the next
    incarnation `hops` loop batches after it opens (before, during or after its recovery)."""
    sc = Scenario(seed)
    sc.register(workflow("two", simple("first"), simple("last")), tasks=[taskdef()])
    run_id = sc.run(sc.rt.start("two"))
    sc.run(sc.rt.complete(sc.take("work").id))
    last = sc.take("work")
    sc.sim.advance(5.0)
    late = sc.on_next_incarnation(lambda rt: rt.complete(last.id, {"late": True}), hops=hops)
    sc.crash()
    sc.sim.run_until_idle()
    assert late.result() is None  # the attempt is still current: its result is taken
    return sc, run_id, last.id


def test_conductor_213_completion_racing_recovery_completes_the_run() -> None:
    """conductor-oss #213 after a crash: the worker's completion of the last task races the
    recovery of the run (which leases that task again: an external worker's attempt stays in
    progress across the crash, `engine/run/_requeue`). The run ends COMPLETED, the task once,
    never put back in its queue."""
    for seed in SEEDS:
        for hops in (0, 2, 4, 8, 16):  # before, during and after the recovery
            sc, run_id, last_id = _completion_racing_recovery(seed, hops)
            with sc:
                run = sc.get(run_id)
                assert (run.status, statuses(run)) == ("COMPLETED", ["COMPLETED", "COMPLETED"])
                done = [e.task_id for e in sc.events(run_id, ev.TaskCompleted)]
                assert done.count(last_id) == 1
                assert sc.events(run_id, ev.TaskRequeued) == []
                assert sc.settled(run_id) == []


def test_conductor_213_a_completed_attempt_is_never_handed_out_again() -> None:
    """The sequel of the race above: once the late completion was accepted after recovery
    had leased the attempt again, no poller may be handed that completed attempt (its side
    effect would run twice: DBOS #742's shape), and with concurrentExecLimit=1 the type's
    slot, which the attempt holds again, must not leak (another run must still be served)."""
    for seed in SEEDS:
        for hops in (8, 16):  # late enough that the recovery leased the attempt again first
            sc, run_id, last_id = _completion_racing_recovery(seed, hops)
            with sc:
                sc.register(tasks=[taskdef(concurrentExecLimit=1)])
                pollers = Pollers(sc, "work", 3, wait_s=10.0).start()
                other = sc.run(sc.rt.start("two"))
                sc.sim.advance(60.0)
                assert last_id not in pollers.handed
                assert sc.get(other).status == "COMPLETED"
                assert sc.settled(run_id) == []


# -- 2. conductor-oss #588: a concurrent decide gave up --------------------------------

BRANCHES = ("b1", "b2", "b3")
FORKED = [[simple(ref, f"br_{ref}")] for ref in BRANCHES]
FAN = workflow("fan", fork("fork", *FORKED), join("join", *BRANCHES), simple("after"))


@pytest.mark.parametrize("crash_after", [None, 0, 1, 2, 4])
def test_conductor_588_parallel_branches_completing_together_complete_the_run(
    crash_after: int | None,
) -> None:
    """conductor-oss #588: a non-re-entrant lock made a concurrent decide give up, leaving the
    workflow RUNNING until a pause/resume. Here three FORK_JOIN branches, held by three
    workers, are completed at the same instant (seed-chosen hops apart); optionally the
    process crashes `crash_after` loop batches into that instant, and each worker sends its
    update again to the recovered process (refused if it had landed). The run reaches COMPLETED
    with no operator action: the JOIN completes once, the task after it is scheduled once."""
    for seed in SEEDS:
        with Scenario(seed) as sc:
            sc.register(FAN, tasks=[taskdef(f"br_{ref}") for ref in BRANCHES] + [taskdef()])
            run_id = sc.run(sc.rt.start("fan"))
            held = [sc.take(f"br_{ref}", ref) for ref in BRANCHES]
            when, hops = sc.now() + 1.0, (0, 0, 1, 2)
            outcomes = [sc.complete_at(when, t.id, hops=sc.rng.choice(hops)) for t in held]
            if crash_after is None:
                sc.sim.advance(1.0)
                assert [o.result() for o in outcomes] == [None, None, None]
            else:
                for _ in range(crash_after + 1):
                    sc.sim.step()
                for task in held:  # each worker sends its update again, as Conductor's client
                    # retries one that failed: the attempt is still in progress after recovery
                    sc.on_next_incarnation(lambda rt, t=task: rt.complete(t.id), hops=2)
                sc.crash()
            for ref in BRANCHES:
                Pollers(sc, f"br_{ref}", 1).start()
            Pollers(sc, "work", 2).start()
            sc.sim.advance(60.0)
            run = sc.get(run_id)
            assert run.status == "COMPLETED", statuses(run)
            done = Counter(t.ref for t in run.tasks if t.status == "COMPLETED")
            assert done == Counter(fork=1, b1=1, b2=1, b3=1, join=1, after=1)
            scheduled = Counter(e.ref for e in sc.events(run_id, ev.TaskScheduled))
            assert scheduled["join"] == scheduled["after"] == 1
            assert sc.settled(run_id) == []


# -- 3. conductor-oss #209 / #244: timeouts not enforced for hours ----------------------


def test_conductor_209_244_workflow_timeout_fires_at_its_deadline_through_crashes() -> None:
    """conductor-oss #209/#244: workflow and task timeouts went unenforced for hours. Here a
    workflow timeoutSeconds=300 (TIME_OUT_WF) whose only task is held by workers that never
    finish it, across a crash at t=100 and a crash cut short in its recovery at t=250: the
    run is TIMED_OUT at exactly created+300, its task cancelled then."""
    for seed in SEEDS:
        with Scenario(seed) as sc:
            slow = workflow("slow", simple("only"), timeoutSeconds=300, timeoutPolicy="TIME_OUT_WF")
            sc.register(slow, tasks=[taskdef()])
            Pollers(sc, "work", 2, verdict=lambda task: "hold").start()
            run_id = sc.run(sc.rt.start("slow"))
            deadline = sc.times(run_id, ev.WorkflowStarted)[0] + 300
            sc.crash(at=100.0)
            sc.crash_during_recovery(sc.rng.randrange(1, 16), at=250.0)
            sc.sim.advance(100.0)
            assert exactly(sc.times(run_id, ev.WorkflowFailed, status="TIMED_OUT"), deadline)
            run = sc.get(run_id)
            assert (run.status, statuses(run)) == ("TIMED_OUT", ["CANCELED"])
            assert exactly([run.tasks[0].ended_at or 0.0], deadline)
            assert sc.settled(run_id) == []


def test_conductor_209_244_poll_timeout_fires_at_its_deadline_through_crashes() -> None:
    """The same for a TaskDef pollTimeoutSeconds=45 (retryCount=1, timeoutPolicy RETRY) no
    worker ever polls, with a crash at t=20 and one cut short in its recovery at t=60:
    attempt 0 times out at exactly
    t=45, attempt 1 (ready at once) at exactly t=90, and the run is TIMED_OUT then."""
    for seed in SEEDS:
        with Scenario(seed) as sc:
            sc.register(
                workflow("unpolled", simple("only")),
                tasks=[taskdef(retryCount=1, pollTimeoutSeconds=45, timeoutPolicy="RETRY")],
            )
            run_id = sc.run(sc.rt.start("unpolled"))
            created = sc.times(run_id, ev.WorkflowStarted)[0]
            sc.crash(at=20.0)
            sc.crash_during_recovery(sc.rng.randrange(1, 16), at=60.0)
            sc.sim.advance(60.0)
            timed_out = sc.times(run_id, ev.TaskFailed, status="TIMED_OUT")
            assert exactly(timed_out, created + 45, created + 90)
            assert exactly(sc.times(run_id, ev.WorkflowFailed, status="TIMED_OUT"), created + 90)
            run = sc.get(run_id)
            assert (run.status, statuses(run)) == ("TIMED_OUT", ["TIMED_OUT", "TIMED_OUT"])
            assert [task.attempt for task in run.tasks] == [0, 1]
            assert sc.settled(run_id) == []


def _task_timeout(seed: int, crash_at: float, poll_at: float) -> tuple[Scenario, str, float]:
    """A timeoutSeconds=120 (TIME_OUT_WF) task polled at `poll_at`, a crash at `crash_at`, then
    a worker that holds whatever it gets."""
    sc = Scenario(seed)
    sc.register(
        workflow("stuck", simple("only")),
        tasks=[taskdef(timeoutSeconds=120, timeoutPolicy="TIME_OUT_WF")],
    )
    run_id = sc.run(sc.rt.start("stuck"))
    for at in sorted((crash_at, poll_at)):
        if at == crash_at:
            sc.crash(at=at)
        else:
            sc.take("work", "first", at=at)
    Pollers(sc, "work", 1, verdict=lambda task: "hold").start()
    first_start = sc.times(run_id, ev.TaskStarted)[0]
    sc.sim.advance_to(poll_at + 300.0)
    return sc, run_id, first_start


def test_conductor_209_244_task_timeout_fires_at_its_deadline() -> None:
    """A TaskDef timeoutSeconds=120 task whose worker never finishes, with a crash before it
    was polled: TIMED_OUT at exactly its start + 120, and the run with it."""
    for seed in SEEDS:
        sc, run_id, started = _task_timeout(seed, crash_at=10.0, poll_at=15.0)
        with sc:
            assert exactly(sc.times(run_id, ev.TaskFailed, status="TIMED_OUT"), started + 120)
            assert exactly(sc.times(run_id, ev.WorkflowFailed, status="TIMED_OUT"), started + 120)
            assert sc.get(run_id).status == "TIMED_OUT"
            assert sc.settled(run_id) == []


def test_conductor_209_244_task_timeout_survives_a_crash_while_in_progress() -> None:
    """Conductor's timeoutSeconds counts from the task's *first* transition to IN_PROGRESS.
    Polled at t=5, crash at t=60, a worker takes it again at once and holds it: the task
    must still time out at exactly t=125, not 120 s after the re-poll (else a crash loop
    shorter than 120 s postpones it forever)."""
    for seed in SEEDS:
        sc, run_id, first_start = _task_timeout(seed, crash_at=60.0, poll_at=5.0)
        with sc:
            assert exactly(sc.times(run_id, ev.TaskFailed, status="TIMED_OUT"), first_start + 120)
            assert sc.get(run_id).status == "TIMED_OUT"


# -- 4. Temporal #10239: a completion in flight while the workflow is paused ------------


def test_temporal_10239_completion_racing_pause_reports_paused_and_completes_on_resume() -> None:
    """Temporal #10239: a task completion in flight while the workflow was paused left it
    RUNNING with pause info. Here `rt.pause` and `rt.complete` of the first of three tasks
    are issued at the same instant (spawned in a seed-chosen order) while workers keep
    polling. For 100 s the run reports PAUSED and schedules nothing (a task scheduled before
    the pause may still be handed out and its result lands: pause stops *scheduling*, as in
    Conductor); after `resume` it completes, every task handed out and completed once."""
    b_first = set()
    for seed in SEEDS:
        with Scenario(seed) as sc:
            sc.register(workflow("abc", simple("a"), simple("b"), simple("c")), tasks=[taskdef()])
            run_id = sc.run(sc.rt.start("abc"))
            a = sc.take("work", "w")
            pollers = Pollers(sc, "work", 3, wait_s=7.0).start()
            calls = [sc.rt.pause(run_id), sc.rt.complete(a.id, {"n": 1})]
            spawned = [sc.sim.spawn(call) for call in calls[:: sc.rng.choice((1, -1))]]
            sc.sim.run_until_idle()
            assert [task.exception() for task in spawned] == [None, None]
            for _ in range(10):
                sc.sim.advance(10.0)
                run = sc.get(run_id)
                assert (run.status, statuses(run)[0]) == ("PAUSED", "COMPLETED")
                assert "c" not in [t.ref for t in run.tasks]
            sc.run(sc.rt.resume(run_id))
            sc.sim.advance(1.0)
            run = sc.get(run_id)
            assert (run.status, statuses(run)) == ("COMPLETED", ["COMPLETED"] * 3)
            events = sc.events(run_id)
            kinds = [type(e).__name__ for e in events]
            paused, resumed = kinds.index("WorkflowPaused"), kinds.index("WorkflowResumed")
            assert "TaskScheduled" not in kinds[paused:resumed]
            before = {e.task_id: e.ref for e in events[:paused] if isinstance(e, ev.TaskScheduled)}
            started = {e.task_id for e in events[paused:resumed] if isinstance(e, ev.TaskStarted)}
            assert started <= set(before)
            b_first.add("b" in before.values())
            assert list(pollers.times_handed().values()) == [1, 1]
            assert (len(pollers.done), pollers.stale) == (2, [])
            assert sc.settled(run_id) == []
    assert b_first == {False, True}  # both orders of the race were run


# -- 5. Temporal #11869: a timer in the state with no wake-up armed ---------------------

NAP = workflow("nap", wait("nap", duration="${workflow.input.s}"), simple("after"))


def _start_nap_and_crash(sc: Scenario, seconds: float) -> tuple[str, str, float]:
    """Start a run whose WAIT is journaled, and crash in the very batch the record lands."""
    sc.register(NAP, tasks=[taskdef()])
    sc.sim.spawn(sc.rt.start("nap", {"s": seconds}))
    while not sc.checker.events:
        assert sc.sim.step()
    run_id = next(iter(sc.checker.events))
    [wait] = sc.events(run_id, ev.TaskScheduled)
    assert wait.type == "WAIT"
    assert wait.wake_at == sc.events(run_id)[0].at + seconds
    rt = sc.crash()
    assert rt._engine.parked_at_open == 1  # recovered from its row alone, the run not loaded
    return run_id, wait.task_id, wait.wake_at


def test_temporal_11869_a_wait_journaled_just_before_a_crash_fires_at_its_deadline() -> None:
    """Temporal #11869: a timer sat in the workflow's state with no wake-up armed, silently
    stuck. Here a WAIT of 600 s is journaled and the process crashes in that very batch, then
    again at t=300 and 1 ms before the deadline: the WAIT completes at exactly its deadline
    and the run goes on to complete."""
    for seed in SEEDS:
        with Scenario(seed) as sc:
            run_id, wait_id, wake_at = _start_nap_and_crash(sc, 600.0)
            Pollers(sc, "work", 1).start()
            sc.crash(at=300.0)
            sc.crash(at=wake_at - sc.t0 - 1e-3)
            sc.sim.advance(5.0)
            assert exactly(sc.times(run_id, ev.TaskCompleted, task_id=wait_id), wake_at)
            run = sc.get(run_id)
            assert (run.status, statuses(run)) == ("COMPLETED", ["COMPLETED", "COMPLETED"])
            assert sc.settled(run_id) == []


@pytest.mark.parametrize("off_by", [None, 3600.0, -200.0])
def test_temporal_11869_a_parked_run_whose_row_lost_its_wake_up_still_fires(
    off_by: float | None,
) -> None:
    """The upstream shape exactly: the durable row of a parked run (recovery arms its timer
    from the row, without loading the run) promises no wake-up, one an hour late or one
    200 s early. Recovery's timer audit must notice (one repair) and the WAIT still
    completes at exactly its deadline: never early, never stuck."""
    for seed in SEEDS:
        with Scenario(seed) as sc:
            run_id, wait_id, wake_at = _start_nap_and_crash(sc, 600.0)

            def lose_the_wake_up(
                journal: MemoryJournal, run_id: str = run_id, wake_at: float = wake_at
            ) -> None:
                row = journal._store.streams[run_id]
                assert (row.info.parked, row.info.wake_at) == (True, wake_at)
                wrong = None if off_by is None else wake_at + off_by
                row.info = dataclasses.replace(row.info, wake_at=wrong)

            rt = sc.crash(at=100.0, tamper=lose_the_wake_up)
            sc.sim.run_until_idle()
            assert (rt._engine.timers_audited, rt._engine.timers_repaired) == (1, 1)
            Pollers(sc, "work", 1).start()
            sc.sim.advance(600.0)
            assert exactly(sc.times(run_id, ev.TaskCompleted, task_id=wait_id), wake_at)
            assert sc.get(run_id).status == "COMPLETED"
            assert sc.settled(run_id) == []


def test_temporal_11869_a_wait_due_during_an_outage_fires_at_recovery() -> None:
    """A WAIT that falls due while the process is down (crash at t=500, back at t=800) fires
    the moment the runtime is back, at exactly t=800, not at some later sweep."""
    for seed in SEEDS:
        with Scenario(seed) as sc:
            run_id, wait_id, _wake_at = _start_nap_and_crash(sc, 600.0)
            sc.crash(at=500.0, outage_s=300.0)
            Pollers(sc, "work", 1).start()
            sc.sim.advance(5.0)
            assert exactly(sc.times(run_id, ev.TaskCompleted, task_id=wait_id), sc.t0 + 800.0)
            assert sc.get(run_id).status == "COMPLETED"
            assert sc.settled(run_id) == []


# -- 6. DBOS #742: a stale recovery ran queued work twice ------------------------------


def test_dbos_742_queued_work_survives_a_crash_restart_loop_and_runs_once() -> None:
    """DBOS #742: a stale recovery re-ran queued work that another recovery had already
    taken. Here 20 runs of two tasks have their first task queued, never polled, when the
    process crashes, then crashes twice more part-way into its recoveries (a crash-restart
    loop). Then 8 workers poll: every attempt is handed out to exactly one worker, each task
    completes once, every run completes."""
    for seed in SEEDS:
        with Scenario(seed) as sc:
            sc.register(workflow("pair", simple("x"), simple("y")), tasks=[taskdef()])
            runs = [sc.run(sc.rt.start("pair", {"i": i})) for i in range(20)]
            sc.crash()
            sc.crash_during_recovery(sc.rng.randrange(1, 30))
            sc.crash_during_recovery(sc.rng.randrange(1, 30))
            assert sc.h.crashes == 5  # each cut-short recovery is a crash of its own
            pollers = Pollers(sc, "work", 8, wait_s=5.0).start()
            sc.sim.advance(30.0)
            assert [sc.get(run_id).status for run_id in runs] == ["COMPLETED"] * 20
            handed = pollers.times_handed()
            assert (len(handed), set(handed.values())) == (40, {1})
            completed = Counter(e.task_id for r in runs for e in sc.events(r, ev.TaskCompleted))
            assert (set(completed), set(completed.values())) == (set(handed), {1})
            assert (sorted(pollers.done), pollers.stale) == (sorted(handed), [])
            assert [problem for run_id in runs for problem in sc.settled(run_id)] == []


# -- 7. kombu #337: a message delayed beyond the visibility timeout ran twice ------------


def test_kombu_337_a_retry_due_in_an_hour_is_handed_out_once_and_not_before() -> None:
    """kombu #337: a message whose ETA lay beyond the broker's visibility timeout was
    redelivered and run twice. Here attempt 0 fails at t=1; its retry waits
    retryDelaySeconds=3600 (the lease, responseTimeoutSeconds, is 30 s) while 4 workers
    long-poll throughout and the process crashes at t=600, 1800 (cut short in recovery),
    3000, 3600 (1 s before the retry is due) and just after the retry completed. The retry
    is handed out exactly once, at exactly its ready time, and the run completes."""
    for seed in SEEDS:
        with Scenario(seed) as sc:
            sc.register(
                workflow("later", simple("only")),
                tasks=[taskdef(retryCount=1, retryDelaySeconds=3600, responseTimeoutSeconds=30)],
            )
            run_id = sc.run(sc.rt.start("later"))
            first = sc.take("work", "first")
            sc.sim.advance(1.0)
            sc.run(sc.rt.fail(first.id, "try again in an hour"))
            [failed_at] = sc.times(run_id, ev.TaskFailed)
            [retry] = [e for e in sc.events(run_id, ev.TaskScheduled) if e.attempt == 1]
            assert retry.ready_at == failed_at + 3600
            pollers = Pollers(sc, "work", 4, wait_s=25.0, hold_s=5.0).start()
            due = retry.ready_at - sc.t0
            sc.crash(at=600.0)
            sc.crash_during_recovery(sc.rng.randrange(1, 16), at=1800.0)
            sc.crash(at=3000.0)
            sc.crash(at=due - 1.0)
            sc.crash(at=due + 10.0)
            sc.sim.advance_to(7200.0)
            assert list(pollers.handed) == [retry.task_id]
            [(handed_at, _worker)] = pollers.handed[retry.task_id]
            assert abs(sc.t0 + handed_at - retry.ready_at) <= EPS
            assert exactly(sc.times(run_id, ev.TaskStarted, task_id=retry.task_id), retry.ready_at)
            assert (pollers.done, pollers.stale) == ([retry.task_id], [])
            run = sc.get(run_id)
            assert (run.status, statuses(run)) == ("COMPLETED", ["FAILED", "COMPLETED"])
            assert sc.settled(run_id) == []
