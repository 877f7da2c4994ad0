"""Three real processes serve one PostgreSQL journal under load (issue 17, item 7).

One is `kill -9`ed again and again at seeded moments (and started afresh,
under a new owner name); another is SIGSTOPped past its lease, taken over,
then SIGCONTed. Afterwards:

- every keyed start has exactly one run, and it COMPLETED (nothing stuck:
  no unfinished run, no message left in the inbox);
- no run was acted on by two owners: each record carries the owner and
  epoch it was written under; along each partition's records (in commit
  order) the epoch never goes back, and one epoch has one owner — so no
  stale owner wrote after a newer one took over.

The short variant runs by default; the long one with `--run-slow`.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import anyio
import asyncpg
import pytest

from cadenza.persistence._postgres_schema import partition_of

ROOT = Path(__file__).resolve().parents[2]
LEASE_S = 1.0


class Child:
    """One serving process (`shared_child`)."""

    def __init__(self, url: str, seed: int, keys: int):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.postgres.shared_child", url, str(seed), str(keys),
             str(LEASE_S)],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        )  # fmt: skip

    def wait_for(self, word: str, timeout_s: float = 60.0) -> None:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline().decode().strip()
            if line == word:
                return
            if not line and self.proc.poll() is not None:
                raise AssertionError(f"child exited {self.proc.returncode} before {word!r}")
        raise AssertionError(f"child did not say {word!r} in {timeout_s} s")

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()
        self._close()

    def _close(self) -> None:
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None and not stream.closed:
                stream.close()

    def leave(self) -> None:
        """Close stdin: the child leaves gracefully (killed if it does not within 20 s)."""
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._close()


async def _fetch(url: str, query: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        rows: list[asyncpg.Record] = await conn.fetch(query)
        return rows
    finally:
        await conn.close()


def _all_completed(url: str, keys: int, timeout_s: float) -> list[asyncpg.Record]:
    deadline = time.monotonic() + timeout_s
    query = "SELECT key, status FROM cadenza.streams WHERE key LIKE 'key-%'"
    while True:
        rows = anyio.run(_fetch, url, query)
        done = [r for r in rows if r[1] == "COMPLETED"]
        if len(done) == keys or time.monotonic() > deadline:
            return rows
        time.sleep(0.2)


def _check_fencing(url: str) -> int:
    """Along each partition's records, epochs never go back and each has one owner."""
    rows = anyio.run(
        _fetch, url, "SELECT stream_id, owner, epoch FROM cadenza.records ORDER BY seq"
    )
    last: dict[int, int] = {}
    owner_of: dict[tuple[int, int], str] = {}
    for stream_id, owner, epoch in rows:
        partition = partition_of(stream_id)
        assert owner is not None, "a record without its owner"
        assert epoch is not None, "a record without its epoch"
        assert epoch >= last.get(partition, 0), (
            f"partition {partition}: a record of epoch {epoch} after epoch {last[partition]}"
        )
        last[partition] = epoch
        assert owner_of.setdefault((partition, epoch), owner) == owner, (
            f"partition {partition} epoch {epoch} written by two owners"
        )
    return len(rows)


def _serve_under_trouble(url: str, seed: int, keys: int, kills: int) -> None:
    rng = random.Random(seed)
    children = [Child(url, seed * 10 + i, keys) for i in range(3)]
    try:
        for child in children:
            child.wait_for("ready")
        victim, sleeper = 0, 1
        # the sleeper: stopped past its lease (taken over), then woken up
        time.sleep(rng.uniform(0.1, 0.5))
        os.kill(children[sleeper].proc.pid, signal.SIGSTOP)
        stopped_at = time.monotonic()
        for round_ in range(kills):  # the victim: kill -9 at seeded moments, started afresh
            time.sleep(rng.uniform(0.2, 1.2))
            children[victim].kill()
            if round_ == 0:
                while time.monotonic() - stopped_at < LEASE_S * 2.5:
                    time.sleep(0.05)
                os.kill(children[sleeper].proc.pid, signal.SIGCONT)
            children[victim] = Child(url, seed * 10 + 3 + round_, keys)
            children[victim].wait_for("ready")
        rows = _all_completed(url, keys, timeout_s=90)
        by_key: dict[str, list[str]] = {}
        for key, status in rows:
            by_key.setdefault(key, []).append(status)
        assert sorted(by_key) == sorted(f"key-{i}" for i in range(keys))
        stuck = {k: s for k, s in by_key.items() if s != ["COMPLETED"]}
        assert not stuck, f"keys not COMPLETED exactly once: {stuck}"
    finally:
        codes = []
        for child in children:
            if child.proc.poll() is None:
                os.kill(child.proc.pid, signal.SIGCONT)
                child.leave()
            codes.append(child.proc.returncode)
    assert codes == [0, 0, 0], f"a serving process failed: exit codes {codes}"
    assert _check_fencing(url) > keys * 3
    unfinished = anyio.run(_fetch, url, "SELECT stream_id FROM cadenza.streams WHERE NOT terminal")
    assert unfinished == []
    assert anyio.run(_fetch, url, "SELECT id FROM cadenza.inbox") == []


def test_three_processes_one_killed_and_one_stopped_finish_every_keyed_run(
    pg_url: str,
) -> None:
    _serve_under_trouble(pg_url, seed=17, keys=40, kills=2)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_three_processes_under_longer_trouble(pg_url: str, seed: int) -> None:
    _serve_under_trouble(pg_url, seed=seed, keys=300, kills=6)
