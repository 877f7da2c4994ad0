"""Tasks handed out per second: over HTTP by Conductor's batch poll, beside the in-process rate.

HTTP: `cadenza serve` runs as a subprocess (its own process, as in
production); this process queues `--tasks` tasks through the REST API, waits
until the queue holds them all, then times `GET /api/tasks/poll/batch/{type}
?count=C` until every task is handed out (and, separately, handing out plus
completing each through `POST /api/tasks/update-v2`). In-process: the same
load on a `Runtime` in this process, timed with `rt.poll` (and `rt.complete`).
Prints one JSON object.

    .venv/bin/python benchmarks/bench_http_poll.py --tasks 5000 --count 100
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

import cadenza

ROOT = Path(__file__).resolve().parents[1]
FLOW = {"name": "bench", "tasks": [{"name": "work", "taskReferenceName": "work"}]}
TASK_DEF = {"name": "work", "retryCount": 0, "responseTimeoutSeconds": 3600}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def _until(what: str, check: Any, deadline_s: float = 120.0) -> None:
    end = time.monotonic() + deadline_s
    while not await check():
        if time.monotonic() > end:
            raise TimeoutError(what)
        await asyncio.sleep(0.05)


async def _queue(api: httpx.AsyncClient, tasks: int) -> None:
    """Start `tasks` runs through the API and wait until their tasks are all queued."""
    semaphore = asyncio.Semaphore(32)

    async def start(n: int) -> None:
        async with semaphore:
            answer = await api.post("/api/workflow", json={"name": "bench", "input": {"n": n}})
            answer.raise_for_status()

    await asyncio.gather(*(start(n) for n in range(tasks)))

    async def queued() -> bool:
        sizes = (await api.get("/api/tasks/queue/sizes", params={"taskType": "work"})).json()
        return bool(sizes["work"] >= tasks)

    await _until("the tasks to be queued", queued)


async def http_rates(tasks: int, count: int) -> dict[str, Any]:
    port = _free_port()
    with tempfile.TemporaryDirectory() as tmp:
        server = subprocess.Popen(  # noqa: ASYNC220 (start-up, untimed)
            [sys.executable, "-m", "cadenza.cli", "serve", "--db", f"{tmp}/bench.db",
             "--port", str(port)],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as api:

                async def healthy() -> bool:
                    try:
                        return (await api.get("/health")).status_code == 200
                    except httpx.TransportError:
                        return False

                await _until("cadenza serve", healthy)
                (await api.post("/api/metadata/taskdefs", json=[TASK_DEF])).raise_for_status()
                (await api.post("/api/metadata/workflow", json=FLOW)).raise_for_status()

                await _queue(api, tasks)
                params = {"count": count, "timeout": 0, "workerid": "bench"}
                handed: list[dict[str, Any]] = []
                began = time.perf_counter()
                while len(handed) < tasks:
                    answer = await api.get("/api/tasks/poll/batch/work", params=params)
                    handed.extend(answer.json())
                poll_s = time.perf_counter() - began
                for task in handed:  # drain, untimed
                    await api.post(
                        "/api/tasks", json={"taskId": task["taskId"], "status": "COMPLETED"}
                    )

                await _queue(api, tasks)
                done = 0
                began = time.perf_counter()

                async def work_on(task: dict[str, Any]) -> None:
                    """Complete `task` and each next task update-v2 hands back (Conductor's
                    update-and-poll: the answer is the worker's next task)."""
                    nonlocal done
                    while task:
                        result = {"taskId": task["taskId"], "status": "COMPLETED",
                                  "outputData": {"ok": 1}, "workerId": "bench"}  # fmt: skip
                        answer = await api.post("/api/tasks/update-v2", json=result)
                        done += 1
                        task = answer.json() if answer.status_code == 200 else {}

                while done < tasks:
                    answer = await api.get("/api/tasks/poll/batch/work", params=params)
                    await asyncio.gather(*(work_on(task) for task in answer.json()))
                cycle_s = time.perf_counter() - began
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
    return {
        "handed_out_per_s": round(tasks / poll_s),
        "handed_out_and_completed_per_s": round(tasks / cycle_s),
    }


async def in_process_rates(tasks: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        async with cadenza.Runtime(f"{tmp}/bench.db", durability="normal") as rt:
            await rt.register_task(TASK_DEF)
            await rt.register(FLOW)

            async def queue() -> None:
                for n in range(tasks):
                    await rt.start("bench", {"n": n})
                await rt.settle()

            await queue()
            handed = []
            began = time.perf_counter()
            while len(handed) < tasks:
                task = await rt.poll("work", worker_id="bench")
                assert task is not None
                handed.append(task)
            poll_s = time.perf_counter() - began
            for task in handed:
                await rt.complete(task.id, {})

            await queue()
            began = time.perf_counter()
            for _ in range(tasks):
                task = await rt.poll("work", worker_id="bench")
                assert task is not None
                await rt.complete(task.id, {"ok": 1})
            cycle_s = time.perf_counter() - began
    return {
        "handed_out_per_s": round(tasks / poll_s),
        "handed_out_and_completed_per_s": round(tasks / cycle_s),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=3000)
    parser.add_argument("--count", type=int, default=100, help="tasks per batch poll")
    args = parser.parse_args()
    http = await http_rates(args.tasks, args.count)
    local = await in_process_rates(args.tasks)
    print(
        json.dumps(
            {
                "tasks": args.tasks,
                "batch_count": args.count,
                "http": http,
                "in_process": local,
                "http_share_of_in_process_hand_out": round(
                    http["handed_out_per_s"] / local["handed_out_per_s"], 3
                ),
                "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                "note": "server and client are two processes on the same machine",
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
