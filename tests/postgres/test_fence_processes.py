"""The fence with real processes: an owner SIGSTOPped past its lease, taken over, then
SIGCONTed, has its late writes refused (issue 17, items 2 and 7's fence)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import anyio
import asyncpg

from cadenza.persistence import PostgresJournal
from tests.persistence._helpers import append
from tests.postgres.test_fencing import stream_in

ROOT = Path(__file__).resolve().parents[2]
PARTITION = 9


def _line(out: IO[bytes], deadline: float) -> str:
    assert time.monotonic() < deadline, "the child went silent"
    line = out.readline().decode().strip()
    assert line, "the child exited early"
    return line


async def _take_over(url: str, stream: str) -> int:
    """B acquires the partition (once A's stalled round, if any, was ended by the server)
    and writes one record; returns the epoch it took."""
    conn = await asyncpg.connect(url)
    try:  # A is stopped: its lease runs out on the database's clock
        await conn.execute(
            "UPDATE cadenza.leases SET expires_at = now() - interval '1 second' "
            "WHERE partition = $1",
            PARTITION,
        )
    finally:
        await conn.close()
    async with PostgresJournal(url, owner="B") as b:
        for _ in range(300):  # A may be stopped inside a round, holding the fence
            taken = await b.acquire(60.0, [PARTITION])
            if taken:
                break
            await anyio.sleep(0.05)
        else:
            raise AssertionError("B never took the partition over")
        await b.append(append(stream, [{"by": "B"}]))
        await b.release()
        return taken[PARTITION]


def test_a_stopped_owner_is_taken_over_and_its_late_writes_refused(pg_url: str) -> None:
    stream = stream_in(PARTITION)
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.postgres.fence_child", pg_url, "A", str(PARTITION), stream],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert child.stdout is not None
    deadline = time.monotonic() + 60
    try:
        assert _line(child.stdout, deadline) == "held 1"
        oks = 0
        while oks < 20:  # A is writing steadily
            oks += _line(child.stdout, deadline).startswith("ok")
        os.kill(child.pid, signal.SIGSTOP)
        epoch = anyio.run(_take_over, pg_url, stream)
        assert epoch == 2
        os.kill(child.pid, signal.SIGCONT)
        tail = []
        while (line := _line(child.stdout, deadline)) != "lost":
            tail.append(line)
        _out, err = child.communicate(timeout=30)
        assert child.returncode == 0, err.decode()[-2000:]
    finally:
        if child.poll() is None:
            os.kill(child.pid, signal.SIGCONT)
            child.kill()
            child.communicate()
    assert all(line.startswith(("ok", "retry")) for line in tail), tail

    async def records() -> list[tuple[str, int]]:
        conn = await asyncpg.connect(pg_url)
        try:
            rows = await conn.fetch(
                "SELECT owner, epoch FROM cadenza.records WHERE stream_id = $1 ORDER BY seq",
                stream,
            )
        finally:
            await conn.close()
        return [(row[0], row[1]) for row in rows]

    written = anyio.run(records)
    owners = [owner for owner, _ in written]
    first_b = owners.index("B")
    assert set(owners[:first_b]) == {"A"}
    assert owners[first_b:] == ["B"]  # nothing of A's after B's takeover
    assert {epoch for owner, epoch in written if owner == "A"} == {1}
    assert written[first_b] == ("B", 2)
    assert len(written) - 1 >= 20
