"""A process for the crash test: runs keyed workflows until done or SIGKILLed.

usage: python -m tests.crash_child DB WORKDIR GENERATION RUNS

Before starting work it records which tasks the journal already shows
COMPLETED (`completed-<gen>.txt`); every worker appends `<task id> <gen>`
to `effects.txt` (flushed and fsynced) as its effect, before returning.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import anyio

import cadenza

DEFINITION = {
    "name": "crashy",
    "tasks": [
        {
            "name": "step_a",
            "taskReferenceName": "a",
            "inputParameters": {"n": "${workflow.input.n}", "tid": "${CPEWF_TASK_ID}"},
        },
        {
            "name": "step_b",
            "taskReferenceName": "b",
            "inputParameters": {"n": "${a.output.n}", "tid": "${CPEWF_TASK_ID}"},
        },
        {
            "name": "step_c",
            "taskReferenceName": "c",
            "inputParameters": {"n": "${b.output.n}", "tid": "${CPEWF_TASK_ID}"},
        },
    ],
    "outputParameters": {"result": "${c.output.n}"},
}


async def main(db: str, workdir: Path, generation: int, runs: int) -> None:
    effects = os.open(workdir / "effects.txt", os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    async with cadenza.Runtime(db) as rt:
        await rt.register(DEFINITION)
        for name in ("step_a", "step_b", "step_c"):
            await rt.register_task({"name": name, "retryCount": 3, "retryDelaySeconds": 0})
        done = {
            task.id
            for run in await rt.runs(limit=100_000)
            for task in run.tasks
            if task.status == "COMPLETED"
        }
        (workdir / f"completed-{generation}.txt").write_text("\n".join(sorted(done)))

        async def effect(data: dict[str, Any]) -> dict[str, Any]:
            await anyio.sleep(0.02)
            os.write(effects, f"{data['tid']} {generation}\n".encode())
            os.fsync(effects)
            return {"n": data["n"] + 1}

        def worker(task_type: str) -> None:
            async def run(data: dict[str, Any]) -> dict[str, Any]:
                return await effect(data)

            rt.worker(task_type, run, concurrency=2)

        for name in ("step_a", "step_b", "step_c"):
            worker(name)
        ids = [await rt.start("crashy", {"n": i}, key=f"wf-{i}") for i in range(runs)]
        for run_id in ids:
            await rt.wait(run_id)
    print("DONE", flush=True)


if __name__ == "__main__":
    # logging is not configured: cadenza's warnings and worse reach stderr, nothing else
    anyio.run(main, sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
