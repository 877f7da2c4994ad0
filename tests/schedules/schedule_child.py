"""A process for the schedule crash test: ticks a fast schedule until SIGKILLed or done.

usage: python -m tests.schedules.schedule_child DB WORKDIR GENERATION SECONDS

It creates the schedule only if the journal has none (a restart must not
replace it: its progress is in the journal), writes `ready-<gen>` once
open, and exits cleanly after SECONDS on the real clock.
"""

from __future__ import annotations

import sys
from pathlib import Path

import anyio

import cadenza

EVERY_S = 0.02
DEFINITION = {
    "name": "ticked",
    "tasks": [
        {
            "name": "note",
            "taskReferenceName": "note",
            "type": "SET_VARIABLE",
            "inputParameters": {"tick": "${workflow.input._scheduledTime}"},
        }
    ],
}


async def main(db: str, workdir: Path, generation: int, seconds: float) -> None:
    async with cadenza.Runtime(db, durability="normal") as rt:
        await rt.register(DEFINITION)
        if not await rt.schedules():
            await rt.schedule(
                "fast", "ticked", every_s=EVERY_S, catchup_window_s=3600, overlap="allow_all"
            )
        (workdir / f"ready-{generation}").write_text("open")
        await anyio.sleep(seconds)
    print("DONE", flush=True)


if __name__ == "__main__":
    anyio.run(main, sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]))
