"""A real crash: SIGKILL a process while its system tasks run or await, recover from its journal."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import cadenza
from tests.system_task_crash_child import ENRICH

ROOT = Path(__file__).resolve().parents[2]


def _run_and_kill(db: Path, workdir: Path) -> tuple[str, str]:
    """Start the child, SIGKILL it once it is ready; the ids of its runs `held` and `hung`."""
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.system_task_crash_child", str(db), str(workdir)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    ready = workdir / "ready"
    deadline = time.monotonic() + 60
    while not ready.exists() and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert ready.exists(), child.communicate(timeout=10)[1].decode()[-3000:]
    child.send_signal(signal.SIGKILL)
    child.communicate()
    held, hung = ready.read_text().split()
    return held, hung


async def test_after_a_sigkill_an_awaiting_system_task_is_not_run_again_a_running_one_is(
    tmp_path: Path,
) -> None:
    """The task whose function returned (asyncComplete) still awaits its signal; the one whose
    function was running when the process died runs again (at least once)."""
    db = tmp_path / "crash.db"
    held, hung = _run_and_kill(db, tmp_path)
    assert sorted((tmp_path / "calls.txt").read_text().split("\n")[:2]) == [
        "held child",
        "hung child",
    ]

    calls: list[str] = []

    async def enrich(task_input: dict[str, Any]) -> dict[str, Any]:
        calls.append(task_input["run"])
        return {"by": "recovery"}

    async with cadenza.Runtime(str(db)) as rt:
        rt.system_task(ENRICH, enrich)
        again = await rt.wait(hung, timeout=30)
        assert (again.status, again.tasks[0].output) == ("COMPLETED", {"by": "recovery"})
        waiting = await rt.get(held)
        assert (waiting.tasks[0].status, waiting.tasks[0].output) == (
            "IN_PROGRESS",
            {"by": "child"},
        )
        await rt.signal(held, "e", {"by": "signal"})
        done = await rt.wait(held, timeout=30)
        assert (done.status, done.tasks[0].output) == ("COMPLETED", {"by": "signal"})
    assert calls == ["hung"]
