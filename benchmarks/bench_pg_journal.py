"""The journal on PostgreSQL: asyncpg against psycopg 3, beside SQLite, in one run.

Every line runs the same load: `--appenders` concurrent appenders, each
appending `--per-appender` one-event records to its own stream, one after
another, gathered by the journal's group committer (`_group`). Lines:

- `asyncpg_round` / `psycopg_round`: the PostgreSQL journal's commit round
  (the same statements: take the seqs from the counter row, upsert the
  streams and insert the records over arrays, commit) written with each
  driver; psycopg sends the two inserts and the commit in one pipeline.
- `postgres_journal`: `PostgresJournal` itself (the chosen driver).
- `postgres_journal_fenced`: the same with an owner holding every
  partition's lease: each round also share-locks and checks the leases.
- `sqlite_journal`: `SqliteJournal` on a file in a temporary folder.

Each line runs `--rounds` times, interleaved; `summary` gives the medians
of records/s and of this process's CPU time per record (the client's cost,
steadier than wall time on a shared machine).
- `pg_commit_ceiling`: one-row transactions per second on one connection,
  the server's commit (fsync) ceiling.

A private server is started from Debian's binaries (fsync on, the default
settings) unless `--url` names one; each line gets a fresh database.
Prints one JSON object. psycopg is not a dependency of cadenza: install it
for this benchmark (`pip install 'psycopg[binary]'`).

    .venv/bin/python -m benchmarks.bench_pg_journal --appenders 64 --per-appender 200
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cadenza.persistence import Append, Journal, PostgresJournal, SqliteJournal, StreamInfo
from cadenza.persistence import _postgres_schema as sql
from cadenza.persistence._codec import EncodedAppend, encode_append
from cadenza.persistence._group import GroupCommitter, Ticket
from cadenza.persistence._postgres_rows import round_arrays
from tests._postgres import PostgresServer

EVENT = {"type": "task_completed", "ref": "charge_card", "attempt": 1, "output": {"n": 42}}
Submit = Callable[[EncodedAppend], Awaitable[int]]


def _psycopg(statement: str) -> str:
    """asyncpg's `$n` placeholders as psycopg's `%s` (each is used once, in order)."""
    return re.sub(r"\$\d+", "%s", statement)


async def _load(submit: Submit, appenders: int, per_appender: int) -> tuple[float, float]:
    """(wall seconds, this process's CPU seconds) to append everything."""

    async def appender(i: int) -> None:
        sid = f"run-{i}"
        for n in range(per_appender):
            row = StreamInfo(sid, "bench", 1, "RUNNING", False, 0.0, float(n))
            await submit(encode_append(Append(row, [EVENT])))

    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(appender(i) for i in range(appenders)))
    return time.perf_counter() - started, time.process_time() - cpu


def _line(name: str, records: int, commits: int, took: tuple[float, float]) -> dict[str, Any]:
    elapsed, cpu = took
    return {
        "line": name,
        "records": records,
        "seconds": round(elapsed, 3),
        "records_per_s": round(records / elapsed),
        "client_cpu_us_per_record": round(cpu / records * 1e6, 1),
        "commits": commits,
        "avg_batch": round(records / max(commits, 1), 1),
    }


def _summary(lines: list[dict[str, Any]]) -> dict[str, Any]:
    """The median records/s and client CPU per record of each line measured more than once."""
    summary: dict[str, Any] = {}
    for name in dict.fromkeys(line["line"] for line in lines):
        runs = [line for line in lines if line["line"] == name and "records_per_s" in line]
        if runs:
            summary[name] = {
                "median_records_per_s": statistics.median(r["records_per_s"] for r in runs),
                "median_client_cpu_us_per_record": statistics.median(
                    r["client_cpu_us_per_record"] for r in runs
                ),
                "runs": len(runs),
            }
    return summary


async def _schema(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(sql.DDL)
    finally:
        await conn.close()


async def bench_asyncpg(url: str, appenders: int, per: int) -> dict[str, Any]:
    await _schema(url)
    conn = await asyncpg.connect(url)
    commits = 0

    async def commit(batch: list[Ticket[EncodedAppend]]) -> None:
        nonlocal commits
        async with conn.transaction():
            last = await conn.fetchval(sql.NEXT_SEQS, len(batch))
            streams, records = round_arrays([t.item for t in batch], last - len(batch) + 1)
            await conn.execute(sql.UPSERT_STREAMS, *streams)
            await conn.execute(sql.INSERT_RECORDS, *records)
        for offset, ticket in enumerate(batch):
            ticket.succeed(last - len(batch) + 1 + offset)
        commits += 1

    committer: GroupCommitter[EncodedAppend] = GroupCommitter(commit, batch_max=4096)
    took = await _load(committer.submit, appenders, per)
    await conn.close()
    return _line("asyncpg_round", appenders * per, commits, took)


async def bench_psycopg(url: str, appenders: int, per: int) -> dict[str, Any]:
    await _schema(url)
    conn = await psycopg.AsyncConnection.connect(url)
    upsert, insert, seqs = (
        _psycopg(s) for s in (sql.UPSERT_STREAMS, sql.INSERT_RECORDS, sql.NEXT_SEQS)
    )
    commits = 0

    async def commit(batch: list[Ticket[EncodedAppend]]) -> None:
        nonlocal commits
        cur = await conn.execute(seqs, (len(batch),))
        row = await cur.fetchone()
        assert row is not None
        last = int(row[0])
        streams, records = round_arrays([t.item for t in batch], last - len(batch) + 1)
        async with conn.pipeline():
            await conn.execute(upsert, streams)
            await conn.execute(insert, records)
            await conn.commit()
        for offset, ticket in enumerate(batch):
            ticket.succeed(last - len(batch) + 1 + offset)
        commits += 1

    committer: GroupCommitter[EncodedAppend] = GroupCommitter(commit, batch_max=4096)
    took = await _load(committer.submit, appenders, per)
    await conn.close()
    return _line("psycopg_round", appenders * per, commits, took)


async def bench_journal(name: str, journal: Journal, appenders: int, per: int) -> dict[str, Any]:
    async with journal:
        if isinstance(journal, PostgresJournal) and journal.leases is not None:
            await journal.acquire(60.0)

        async def submit(enc: EncodedAppend) -> int:
            return await journal.append(enc.append)

        took = await _load(submit, appenders, per)
        stats = journal.stats
        return _line(name, stats.records, stats.commits, took)


async def commit_ceiling(url: str, commits: int = 300) -> dict[str, Any]:
    conn = await asyncpg.connect(url)
    await conn.execute("CREATE TABLE ceiling (n bigint)")
    started = time.perf_counter()
    for n in range(commits):
        await conn.execute("INSERT INTO ceiling VALUES ($1)", n)
    elapsed = time.perf_counter() - started
    await conn.close()
    return {"line": "pg_commit_ceiling", "commits_per_s": round(commits / elapsed)}


async def run(base_url: str, appenders: int, per: int, rounds: int) -> list[dict[str, Any]]:
    admin = await asyncpg.connect(base_url)
    counter = 0

    async def fresh() -> str:
        nonlocal counter
        counter += 1
        name = f"bench_{counter}"
        await admin.execute(f"DROP DATABASE IF EXISTS {name}")
        await admin.execute(f"CREATE DATABASE {name}")
        return base_url.rsplit("/", 1)[0] + "/" + name

    lines = [await commit_ceiling(await fresh())]
    for _ in range(rounds):  # interleaved, so no line always runs on a warmer server
        lines.append(await bench_asyncpg(await fresh(), appenders, per))
        lines.append(await bench_psycopg(await fresh(), appenders, per))
        journal = PostgresJournal(await fresh())
        lines.append(await bench_journal("postgres_journal", journal, appenders, per))
        fenced = PostgresJournal(await fresh(), owner="bench")
        lines.append(await bench_journal("postgres_journal_fenced", fenced, appenders, per))
        with tempfile.TemporaryDirectory() as folder:
            sqlite = SqliteJournal(f"{folder}/journal.db")
            lines.append(await bench_journal("sqlite_journal", sqlite, appenders, per))
    await admin.close()
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=None, help="a server to use (default: a private one)")
    parser.add_argument("--appenders", type=int, default=64)
    parser.add_argument("--per-appender", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5, help="runs of each line")
    args = parser.parse_args()
    server = None
    url = args.url
    if url is None:
        server = PostgresServer()
        server.start()
        url = server.url()
    try:
        lines = asyncio.run(run(url, args.appenders, args.per_appender, args.rounds))
    finally:
        if server is not None:
            server.stop()
    report = {
        "platform": platform.platform(),
        "asyncpg": asyncpg.__version__,
        "psycopg": psycopg.__version__,
        "appenders": args.appenders,
        "per_appender": args.per_appender,
        "summary": _summary(lines),
        "lines": lines,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
