"""An inbox message no owner can read (a body that is not JSON or lacks a field, an unknown
kind, a definition that cannot be had) is set aside as a dead letter, named in the log, and
its poster hears why; the run's later messages are applied. Before, it was retried at every
drain for ever, holding back every later message of its run, and its poster never heard."""

from __future__ import annotations

import anyio
import asyncpg

import cadenza
from cadenza import InternalError
from cadenza.engine.shared._inbox_outcome import error_of
from cadenza.persistence._postgres_schema import partition_of
from cadenza.testing import VirtualClock
from tests._logs import capture_logs
from tests.postgres.test_shared_runtime import APPROVAL, LEASE_S, parts


async def _post_raw(url: str, run_id: str, kind: str, body: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        posted: int = await conn.fetchval(
            "INSERT INTO cadenza.inbox (partition, run_id, kind, body) VALUES ($1, $2, $3, $4) "
            "RETURNING id",
            partition_of(run_id), run_id, kind, body,
        )  # fmt: skip
        return posted
    finally:
        await conn.close()


async def test_unreadable_messages_become_dead_letters_and_the_runs_next_message_applies(
    pg_url: str, clock: VirtualClock
) -> None:
    async with cadenza.Runtime(pg_url, clock=clock, seed=1, lease_s=LEASE_S) as rt:
        await rt.register(APPROVAL)
        run_id = await rt.start("approval", {})
        await rt.settle()
        inbox = parts(rt).inbox
        with capture_logs() as logs:
            lacking = await inbox.post(run_id, "signal", {"ref": "ok"}, awaited=True)  # no output
            unknown = await inbox.post(run_id, "teleport", {"to": "mars"}, awaited=True)
            unknown_digest = {"digest": "0" * 64, "input": {}, "started_by": None}
            no_definition = await inbox.post("r-new", "start", unknown_digest, awaited=True)
            torn = await _post_raw(pg_url, run_id, "signal", '{"ref": "ok", ')
            await inbox.post(run_id, "signal", {"ref": "ok", "output": {"by": "ana"}})
            with anyio.fail_after(30):
                while await inbox.size() > 0:  # noqa: ASYNC110 (rows in the database): drained
                    await anyio.sleep(0.01)  # by the runtime's own loop, woken by the posts
        done = await rt.wait(run_id, timeout=30)
        assert (done.status, done.output) == ("COMPLETED", {"by": "ana"})
        letters = await inbox.dead_letters()
        assert [d.posted.id for d in letters] == [lacking, unknown, no_definition, torn]
        reasons = [d.reason for d in letters]
        assert "KeyError: 'output'" in reasons[0]
        assert "teleport" in reasons[1]
        assert "definition" in reasons[2]
        assert "not JSON" in reasons[3]
        assert parts(rt).dead_letters == 4
        dead_logs = [e for e in logs if e["event"] == "inbox.dead_letter"]
        assert sorted(e["id"] for e in dead_logs) == sorted([lacking, unknown, no_definition, torn])
        assert all(e["log_level"] == "error" for e in dead_logs)
        for awaited in (lacking, unknown, no_definition):
            error = error_of(await inbox.outcome(awaited))
            assert isinstance(error, InternalError)
            assert f"message {awaited} and set it aside as a dead letter" in str(error)
