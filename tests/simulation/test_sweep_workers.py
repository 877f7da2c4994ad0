"""A sweep's worker processes leave with the process that started them (`run_seeds`)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")

_SWEEPER = """
from cadenza.testing._simulation.sweep import run_seeds
for result in run_seeds(range(10**6), 2, {"duration_s": 1.0}):
    print("swept", flush=True)
"""


def _children(pid: int) -> list[int]:
    found = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(child) for child in found]


def _running(pid: int) -> bool:
    """Alive and not a zombie waiting to be reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_workers_exit_when_the_sweeping_process_is_killed() -> None:
    """Before: a SIGKILLed sweep (a killed pytest) left its two workers sweeping for nobody."""
    sweeper = subprocess.Popen([sys.executable, "-c", _SWEEPER], stdout=subprocess.PIPE, text=True)
    workers: list[int] = []
    try:
        assert sweeper.stdout is not None
        assert sweeper.stdout.readline() == "swept\n"  # the pool is up and sweeping
        workers = _children(sweeper.pid)
        assert len(workers) == 2
        sweeper.send_signal(signal.SIGKILL)
        sweeper.wait()
        deadline = time.monotonic() + 30
        while any(_running(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert [w for w in workers if _running(w)] == []
    finally:
        sweeper.kill()
        sweeper.wait()
        if sweeper.stdout is not None:
            sweeper.stdout.close()
        for worker in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker, signal.SIGKILL)
