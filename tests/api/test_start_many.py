"""`rt.start_many`: a batch of starts, checked whole, made durable by one commit (issue 14)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import cadenza
from cadenza.persistence import SqliteJournal
from cadenza.testing import VirtualClock
from tests.conftest import three_steps

WAIT_FOR_SIGNAL = {
    "name": "parked",
    "tasks": [{"name": "w", "taskReferenceName": "w", "type": "WAIT"}],
}


async def add_one(data: dict[str, Any]) -> dict[str, Any]:
    return {"n": data["n"] + 1}


async def test_a_batch_runs_each_input_and_answers_the_ids_in_order(rt: cadenza.Runtime) -> None:
    await rt.register(three_steps())
    for task_type in ("step_a", "step_b", "step_c"):
        rt.worker(task_type, add_one)
    ids = await rt.start_many("three_steps", [{"n": n} for n in range(20)])
    assert len(ids) == len(set(ids)) == 20
    for n, run_id in enumerate(ids):
        run = await rt.wait(run_id)
        assert (run.status, run.input, run.output) == ("COMPLETED", {"n": n}, {"result": n + 3})


async def test_the_batch_shares_one_durable_commit(rt: cadenza.Runtime) -> None:
    """300 starts, one transaction: the journal's commit count moves by exactly one."""
    await rt.register(WAIT_FOR_SIGNAL)
    await rt.settle()
    stats = rt._engine.journal.stats
    commits, records = stats.commits, stats.records
    ids = await rt.start_many("parked", [{"i": i} for i in range(300)])
    await rt.settle()
    assert stats.records - records == 300
    assert stats.commits - commits == 1
    assert {(await rt.get(run_id)).status for run_id in ids} == {"RUNNING"}


async def test_a_batch_past_the_journals_round_size_still_commits_once(
    tmp_path: Path, clock: VirtualClock
) -> None:
    journal = SqliteJournal(str(tmp_path / "j.db"), batch_max=16)
    async with cadenza.Runtime(journal=journal, clock=clock, seed=3) as rt:
        await rt.register(WAIT_FOR_SIGNAL)
        await rt.settle()
        commits = journal.stats.commits
        ids = await rt.start_many("parked", [{} for _ in range(100)])
        await rt.settle()
        assert len(ids) == 100
        assert journal.stats.commits - commits == 1
        assert journal.stats.largest_batch >= 100


async def test_keys_make_a_repeated_batch_start_nothing(rt: cadenza.Runtime) -> None:
    await rt.register(WAIT_FOR_SIGNAL)
    earlier = await rt.start("parked", {}, key="k-1")
    keys = ["k-0", "k-1", "k-2", "k-0"]  # k-1 journaled already; k-0 twice in the batch
    ids = await rt.start_many("parked", [{"i": i} for i in range(4)], keys=keys)
    assert ids[1] == earlier
    assert ids[3] == ids[0]
    assert len({ids[0], ids[1], ids[2]}) == 3
    again = await rt.start_many("parked", [{}, {}, {}, {}], keys=keys)
    assert again == ids
    assert len(await rt.runs(name="parked")) == 3
    assert (await rt.get(ids[0])).input == {"i": 0}


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"inputs": {"a": 1}}, "inputs"),
        ({"inputs": "abc"}, "inputs"),
        ({"inputs": [{}, 3]}, "inputs[1]"),
        ({"inputs": [{}, {"x": float("nan")}]}, "inputs[1]"),
        ({"inputs": [{}, {}], "keys": ["a"]}, "keys"),
        ({"inputs": [{}, {}], "keys": ["a", 7]}, "keys[1]"),
        ({"inputs": [{}], "priority": 150}, "priority"),
        ({"inputs": [{}], "version": "1"}, "version"),
    ],
)
async def test_a_bad_argument_is_named_and_nothing_starts(
    rt: cadenza.Runtime, kwargs: dict[str, Any], argument: str
) -> None:
    await rt.register(WAIT_FOR_SIGNAL)
    with pytest.raises(cadenza.InvalidArgument) as caught:
        await rt.start_many("parked", **kwargs)
    assert caught.value.argument == argument
    assert await rt.runs(name="parked") == []


async def test_an_unknown_workflow_is_not_found(rt: cadenza.Runtime) -> None:
    with pytest.raises(cadenza.NotFound):
        await rt.start_many("nobody", [{}])


async def test_an_empty_batch_starts_nothing(rt: cadenza.Runtime) -> None:
    await rt.register(WAIT_FOR_SIGNAL)
    assert await rt.start_many("parked", []) == []


async def test_a_batch_larger_than_the_in_flight_limit_is_admitted_whole(
    db_path: str, clock: VirtualClock
) -> None:
    async with cadenza.Runtime(db_path, clock=clock, seed=4, max_runs_in_flight=5) as rt:
        await rt.register(WAIT_FOR_SIGNAL)
        ids = await rt.start_many("parked", [{} for _ in range(12)])
        assert len(set(ids)) == 12


async def test_the_batch_survives_a_reopen(db_path: str, clock: VirtualClock) -> None:
    async with cadenza.Runtime(db_path, clock=clock, seed=5) as rt:
        await rt.register(WAIT_FOR_SIGNAL)
        ids = await rt.start_many(
            "parked", [{"i": i} for i in range(50)], keys=[f"key-{i}" for i in range(50)]
        )
    async with cadenza.Runtime(db_path, clock=clock, seed=6) as rt:
        for i, run_id in enumerate(ids):
            assert (await rt.get(run_id)).input == {"i": i}
        again = await rt.start_many(
            "parked", [{} for _ in range(50)], keys=[f"key-{i}" for i in range(50)]
        )
        assert again == ids


async def test_on_postgresql_the_batch_commits_once_too(pg_url: str, clock: VirtualClock) -> None:
    from cadenza.persistence import PostgresJournal

    journal = PostgresJournal(pg_url, batch_max=16, clock=clock.now)
    async with cadenza.Runtime(journal=journal, clock=clock, seed=7) as rt:
        await rt.register(WAIT_FOR_SIGNAL)
        await rt.settle()
        commits = journal.stats.commits
        ids = await rt.start_many(
            "parked", [{} for _ in range(60)], keys=[f"pg-{i}" for i in range(60)]
        )
        await rt.settle()
        assert len(set(ids)) == 60
        assert journal.stats.commits - commits == 1
