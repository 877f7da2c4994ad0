"""A process for the system-task crash test: SIGKILLed while one system task awaits its
completion and another is still running.

usage: python -m tests.system_task_crash_child DB WORKDIR

It registers `ENRICH` (a plain function, so it runs in a worker thread), starts run
`held` (asyncComplete: the function returns, the task awaits) and run `hung` (the
function never returns), appends each call to `calls.txt` (fsynced) and writes
`ready` (the two run ids) once both are where the test wants them.
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path
from typing import Any

import anyio

import cadenza

ENRICH = "ENRICH"
NEVER = threading.Event()


def definition(name: str, *, async_complete: bool) -> dict[str, Any]:
    return {
        "name": name,
        "tasks": [
            {"name": "enrich", "taskReferenceName": "e", "type": ENRICH,
             "asyncComplete": async_complete, "inputParameters": {"run": name}}
        ],
    }  # fmt: skip


async def main(db: str, workdir: Path) -> None:
    calls = os.open(workdir / "calls.txt", os.O_WRONLY | os.O_APPEND | os.O_CREAT)

    def enrich(task_input: dict[str, Any]) -> dict[str, Any]:
        os.write(calls, f"{task_input['run']} child\n".encode())
        os.fsync(calls)
        if task_input["run"] == "hung":
            NEVER.wait()  # killed meanwhile
        return {"by": "child"}

    async with cadenza.Runtime(db) as rt:
        rt.system_task(ENRICH, enrich)
        await rt.register(definition("held", async_complete=True))
        await rt.register(definition("hung", async_complete=False))
        held, hung = await rt.start("held", {}), await rt.start("hung", {})
        while True:  # (no settle: the hung function never lets the runtime settle)
            tasks = [(await rt.get(run_id)).tasks[0] for run_id in (held, hung)]
            if tasks[0].output == {"by": "child"} and tasks[1].status == "IN_PROGRESS":
                break
            await anyio.sleep(0.01)
        (workdir / "ready").write_text(f"{held} {hung}")
        await anyio.sleep(3600)


if __name__ == "__main__":
    anyio.run(main, sys.argv[1], Path(sys.argv[2]))
