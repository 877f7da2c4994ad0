"""retry, restart and rerun as Conductor does them (issue 12, section 2).

Conductor's WorkflowExecutorOps.java (conductor-oss/conductor) is the oracle:
`restart` clears the task list, `rerunWF` removes the tasks after the one it
reruns from and resets that one in place, and only `retry` keeps the earlier
attempts (marked retried). cadenza's journal stays append-only: the dropped
attempts stay in the event log, only the state forgets them.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest

import cadenza
from cadenza.persistence._codec import decode_events
from cadenza.testing import VirtualClock
from tests.language._defs import simple, workflow

NO_RETRIES = {"taskDefinition": {"retryCount": 0, "retryDelaySeconds": 0}}


def shape(run: cadenza.WorkflowRun) -> list[tuple[str, str]]:
    return [(t.ref, str(t.status)) for t in run.tasks]


def journaled_task_ids(db_path: str, run_id: str) -> list[str]:
    """Every task id the journal ever scheduled for `run_id`, in order."""
    with sqlite3.connect(db_path) as db:
        rows = db.execute(
            "SELECT seq, payload, crc FROM records WHERE stream_id = ? ORDER BY seq", (run_id,)
        ).fetchall()
    return [
        event["task_id"]
        for seq, payload, crc in rows
        for event in decode_events(run_id, seq, payload, crc)
        if event["e"] == "scheduled"
    ]


async def poll_complete(
    rt: cadenza.Runtime, name: str, output: dict[str, Any] | None = None
) -> str:
    task = await rt.poll(name)
    assert task is not None, name
    await rt.complete(task.id, output or {})
    return task.id


async def poll_fail(rt: cadenza.Runtime, name: str) -> str:
    task = await rt.poll(name)
    assert task is not None, name
    await rt.fail(task.id, "boom")
    return task.id


async def _failed_at_b(rt: cadenza.Runtime) -> str:
    """a COMPLETED, b FAILED (no retries): the run FAILED."""
    await rt.register(
        workflow("abc", simple("a", **NO_RETRIES), simple("b", **NO_RETRIES), simple("c"))
    )
    run_id = await rt.start("abc", {})
    await poll_complete(rt, "a")
    await poll_fail(rt, "b")
    assert (await rt.get(run_id)).status == "FAILED"
    return run_id


async def test_restart_clears_the_task_list_and_keeps_the_attempts_in_the_journal(
    rt: cadenza.Runtime, db_path: str, clock: VirtualClock
) -> None:
    """WorkflowExecutorOps.java `restart` (~243): `workflow.getTasks().clear()`, same id."""
    run_id = await _failed_at_b(rt)
    old = [t.id for t in (await rt.get(run_id)).tasks]
    await rt.restart(run_id)
    run = await rt.get(run_id)
    assert (run.id, run.status) == (run_id, "RUNNING")
    assert shape(run) == [("a", "SCHEDULED")]
    assert run.tasks[0].id not in old  # a new id: a dropped attempt's result cannot land on it
    assert not run.tasks[0].retried
    await poll_complete(rt, "a")
    await poll_complete(rt, "b")
    await poll_complete(rt, "c")
    run = await rt.get(run_id)
    assert run.status == "COMPLETED"
    assert shape(run) == [("a", "COMPLETED"), ("b", "COMPLETED"), ("c", "COMPLETED")]
    journaled = journaled_task_ids(db_path, run_id)
    assert journaled[:2] == old  # the journal is append-only
    assert journaled[2:] == [t.id for t in run.tasks]
    assert len(set(journaled)) == len(journaled)


async def test_rerun_drops_the_tasks_after_it_and_reruns_it_in_its_place(
    rt: cadenza.Runtime,
) -> None:
    """WorkflowExecutorOps.java `rerunWF` (~2172): the tasks after the rerun task are removed,
    the rerun task is reset in place; the ones before it stay as they were."""
    run_id = await _failed_at_b(rt)
    before = await rt.get(run_id)
    await rt.rerun(run_id, "b", input={"new": 1})
    run = await rt.get(run_id)
    assert run.status == "RUNNING"
    assert run.input == {"new": 1}
    assert shape(run) == [("a", "COMPLETED"), ("b", "SCHEDULED")]
    assert run.tasks[0].id == before.tasks[0].id
    assert run.tasks[1].id != before.tasks[1].id  # fenced: the old attempt's id is not reused
    await poll_complete(rt, "b")
    await poll_complete(rt, "c")
    run = await rt.get(run_id)
    assert run.status == "COMPLETED"
    assert shape(run) == [("a", "COMPLETED"), ("b", "COMPLETED"), ("c", "COMPLETED")]


async def test_rerun_from_the_first_task_starts_over(rt: cadenza.Runtime) -> None:
    """WorkflowExecutorOps.java `rerunWF` (~2172): rerun from the first task leaves only it,
    as a rerun with no task id removes every task (~2190)."""
    run_id = await _failed_at_b(rt)
    await rt.rerun(run_id, "a")
    run = await rt.get(run_id)
    assert shape(run) == [("a", "SCHEDULED")]


async def test_retry_keeps_the_earlier_attempts(rt: cadenza.Runtime) -> None:
    """WorkflowExecutorOps.java `retry` (~448): the failed task is rescheduled as a new attempt,
    the old one stays in the list, marked retried."""
    run_id = await _failed_at_b(rt)
    await rt.retry(run_id)
    run = await rt.get(run_id)
    assert shape(run) == [("a", "COMPLETED"), ("b", "FAILED"), ("b", "SCHEDULED")]
    assert [t.retried for t in run.tasks] == [False, True, False]


async def test_a_result_for_a_dropped_attempt_is_stale(
    rt: cadenza.Runtime, clock: VirtualClock
) -> None:
    """A worker still holding an attempt that a restart dropped (here: it timed out, which
    failed the run) is fenced off with StaleTask, as for any superseded attempt
    (WorkflowExecutorOps.java `restart` ~243 removes the task; its late update is refused)."""
    await rt.register_task(
        {"name": "slow", "retryCount": 0, "responseTimeoutSeconds": 5, "timeoutSeconds": 60}
    )
    await rt.register(workflow("one", simple("s", name="slow")))
    run_id = await rt.start("one", {})
    held = await rt.poll("slow")
    assert held is not None
    await clock.advance(6)
    await rt.settle()
    assert (await rt.get(run_id)).status == "TIMED_OUT"
    await rt.restart(run_id)
    with pytest.raises(cadenza.StaleTask):
        await rt.complete(held.id, {"late": True})
    with pytest.raises(cadenza.StaleTask):
        await rt.heartbeat(held.id)
    run = await rt.get(run_id)
    assert shape(run) == [("s", "SCHEDULED")]
    assert run.tasks[0].output == {}


async def test_a_restarted_run_recovers_to_the_same_state(
    db_path: str, clock: VirtualClock
) -> None:
    """Recovery folds the journal: a restarted and rerun run reads back as it was live."""
    async with cadenza.Runtime(db_path, clock=clock, seed=1) as rt:
        run_id = await _failed_at_b(rt)
        await rt.restart(run_id)
        await poll_complete(rt, "a")
        await poll_fail(rt, "b")
        await rt.rerun(run_id, "b")
        await rt.settle()
        live = await rt.get(run_id)
    assert shape(live) == [("a", "COMPLETED"), ("b", "SCHEDULED")]
    async with cadenza.Runtime(db_path, clock=clock, seed=1) as rt:
        recovered = await rt.get(run_id)
        assert [(t.id, t.ref, t.status) for t in recovered.tasks] == [
            (t.id, t.ref, t.status) for t in live.tasks
        ]
        await poll_complete(rt, "b")
        await poll_complete(rt, "c")
        assert (await rt.get(run_id)).status == "COMPLETED"


# -- retry of a failed fork or loop (issue 12, section 2, item 2) -----------------------------


def full(run: cadenza.WorkflowRun) -> list[tuple[str, str, str]]:
    return [(t.ref, t.type, str(t.status)) for t in run.tasks]


FORKED = workflow(
    "forked",
    {
        "name": "fork",
        "taskReferenceName": "fork",
        "type": "FORK_JOIN",
        "forkTasks": [
            [simple("a1", **NO_RETRIES), simple("a2", **NO_RETRIES)],
            [simple("b1", **NO_RETRIES)],
        ],
    },
    {"name": "join", "taskReferenceName": "join", "type": "JOIN", "joinOn": ["a2", "b1"]},
    simple("after", **NO_RETRIES),
)


async def test_retry_of_a_failed_fork_resumes_its_join_in_place(rt: cadenza.Runtime) -> None:
    """WorkflowExecutorOps.java `retry` (~448, :476-479): a CANCELED JOIN goes back to
    IN_PROGRESS in place; each FAILED or CANCELED task gets one new attempt, appended in the
    order of the old ones (:521, sorted by seq); nothing else is added."""
    await rt.register(FORKED)
    run_id = await rt.start("forked", {})
    await poll_complete(rt, "a1")  # a2 scheduled after b1
    await poll_fail(rt, "b1")
    run = await rt.get(run_id)
    assert run.status == "FAILED"
    join = run.tasks[3]
    assert [(t.ref, str(t.status)) for t in run.tasks] == [
        ("fork", "COMPLETED"), ("a1", "COMPLETED"), ("b1", "FAILED"), ("join", "CANCELED"),
        ("a2", "CANCELED"),
    ]  # fmt: skip
    await rt.retry(run_id)
    run = await rt.get(run_id)
    assert run.status == "RUNNING"
    assert [(t.ref, str(t.status), t.retried) for t in run.tasks] == [
        ("fork", "COMPLETED", False), ("a1", "COMPLETED", False), ("b1", "FAILED", True),
        ("join", "IN_PROGRESS", False), ("a2", "CANCELED", True), ("b1", "SCHEDULED", False),
        ("a2", "SCHEDULED", False),
    ]  # fmt: skip
    assert run.tasks[3].id == join.id
    assert run.tasks[5].attempt == 1  # Conductor's retryCount + 1
    await poll_complete(rt, "a2")
    await poll_complete(rt, "b1")
    await poll_complete(rt, "after")
    run = await rt.get(run_id)
    assert run.status == "COMPLETED"
    assert [t.ref for t in run.tasks] == ["fork", "a1", "b1", "join", "a2", "b1", "a2", "after"]


async def test_retry_of_a_failed_loop_resumes_the_do_while_in_place(rt: cadenza.Runtime) -> None:
    """WorkflowExecutorOps.java `retry` (:476-479): a CANCELED DO_WHILE goes back to
    IN_PROGRESS in place and only the failed task of its iteration gets a new attempt."""
    loop = {
        "name": "loop", "taskReferenceName": "loop", "type": "DO_WHILE",
        "loopCondition": "if ($.loop['iteration'] < 2) { true; } else { false; }",
        "loopOver": [simple("body", **NO_RETRIES)],
    }  # fmt: skip
    await rt.register(workflow("looped", loop))
    run_id = await rt.start("looped", {})
    await poll_complete(rt, "body")
    await poll_fail(rt, "body")
    run = await rt.get(run_id)
    assert run.status == "FAILED"
    assert full(run) == [
        ("loop", "DO_WHILE", "CANCELED"), ("body__1", "body", "COMPLETED"),
        ("body__2", "body", "FAILED"),
    ]  # fmt: skip
    await rt.retry(run_id)
    run = await rt.get(run_id)
    assert full(run) == [
        ("loop", "DO_WHILE", "IN_PROGRESS"), ("body__1", "body", "COMPLETED"),
        ("body__2", "body", "FAILED"), ("body__2", "body", "SCHEDULED"),
    ]  # fmt: skip
    assert run.tasks[3].iteration == 2
    await poll_complete(rt, "body")
    run = await rt.get(run_id)
    assert run.status == "COMPLETED"
    assert len(run.tasks) == 4


async def test_retry_restarts_the_workflow_timeout(
    rt: cadenza.Runtime, clock: VirtualClock
) -> None:
    """DeciderService.java `checkWorkflowTimeout` (~741): once retried, the workflow timeout runs
    from lastRetriedTime, which `retry` sets (WorkflowExecutorOps.java ~448)."""
    await rt.register(workflow("timed", simple("a", **NO_RETRIES), timeoutSeconds=10,
                               timeoutPolicy="TIME_OUT_WF"))  # fmt: skip
    run_id = await rt.start("timed", {})
    await clock.advance(11)
    await rt.settle()
    assert (await rt.get(run_id)).status == "TIMED_OUT"
    await clock.advance(100)
    await rt.retry(run_id)
    await clock.advance(5)
    await rt.settle()
    run = await rt.get(run_id)
    assert run.status == "RUNNING"
    assert full(run) == [("a", "a", "CANCELED"), ("a", "a", "SCHEDULED")]
    await clock.advance(6)
    await rt.settle()
    assert (await rt.get(run_id)).status == "TIMED_OUT"


async def test_retry_accepts_any_terminal_run_with_a_task_to_retry(rt: cadenza.Runtime) -> None:
    """WorkflowExecutorOps.java `retry` (~282) checks only isTerminal(): a TERMINATED run is
    retried (its CANCELED tasks get new attempts); a run with nothing unsuccessful is refused
    ('There are no retryable tasks!', ~500)."""
    await rt.register(workflow("two", simple("a"), simple("b")))
    run_id = await rt.start("two", {})
    await rt.terminate(run_id, "by hand")
    await rt.retry(run_id)
    run = await rt.get(run_id)
    assert run.status == "RUNNING"
    assert [(t.ref, str(t.status), t.retried) for t in run.tasks] == [
        ("a", "CANCELED", True), ("a", "SCHEDULED", False)
    ]  # fmt: skip
    await poll_complete(rt, "a")
    await poll_complete(rt, "b")
    assert (await rt.get(run_id)).status == "COMPLETED"
    with pytest.raises(cadenza.InvalidOperation, match="no retryable tasks"):
        await rt.retry(run_id)


# -- sub-workflows (issue 12, section 2, item 3) -------------------------------------------


async def test_a_sub_workflow_name_and_version_may_be_expressions(rt: cadenza.Runtime) -> None:
    """SubWorkflowTaskMapper.java:63-66: subWorkflowParam is resolved against the workflow
    (parametersUtils.getTaskInputV2) before its name and version are read."""
    await rt.register({**workflow("child", simple("c")), "version": 1})
    await rt.register({**workflow("child", simple("c2")), "version": 2})
    param = {"name": "${workflow.input.subwf}", "version": "${workflow.input.v}"}
    sub = {"name": "sub", "taskReferenceName": "sub", "type": "SUB_WORKFLOW",
           "subWorkflowParam": param}  # fmt: skip
    await rt.register(workflow("parent", sub))
    run_id = await rt.start("parent", {"subwf": "child", "v": 1})
    await rt.settle()
    run = await rt.get(run_id)
    assert full(run) == [("sub", "SUB_WORKFLOW", "IN_PROGRESS")]
    child = await rt.get(run.tasks[0].sub_workflow_id or "")
    assert (child.name, child.version) == ("child", 1)
    await poll_complete(rt, "c")
    assert (await rt.get(run_id)).status == "COMPLETED"
