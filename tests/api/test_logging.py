"""The library's manners: named standard-library loggers, configured only by the application."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import structlog

import cadenza
from cadenza.testing import VirtualClock

ONE_TASK: dict[str, Any] = {
    "name": "one",
    "version": 1,
    "tasks": [{"name": "work", "taskReferenceName": "w", "inputParameters": {}}],
}

QUIET_APP = f"""
import asyncio, logging, sys
import cadenza

async def main() -> None:
    async with cadenza.Runtime(sys.argv[1]) as rt:
        await rt.register({ONE_TASK!r})

        async def work(data: dict) -> dict:
            return {{"ok": True}}

        rt.worker("work", work)
        run = await rt.wait(await rt.start("one", {{}}))
        assert run.status == "COMPLETED", run.status
    assert logging.getLogger().handlers == [], "cadenza configured the root logger"
    assert logging.getLogger("cadenza").handlers == [], "cadenza added a handler"

asyncio.run(main())
"""

ALERTING_APP = f"""
import asyncio
import cadenza
from cadenza.persistence import MemoryJournal
from cadenza.testing import VirtualClock

async def main() -> None:
    clock = VirtualClock(start=1_800_000_000.0)
    async with cadenza.Runtime(clock=clock, journal=MemoryJournal()) as rt:
        await rt.register({ONE_TASK!r})
        await rt.register_task(
            {{"name": "work", "timeoutSeconds": 5, "timeoutPolicy": "ALERT_ONLY"}}
        )
        await rt.start("one")
        assert await rt.poll("work") is not None
        await clock.advance(10)

asyncio.run(main())
"""


def _python(script: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        check=False,
    )


def test_an_application_that_configures_no_logging_sees_nothing_of_a_run(tmp_path: Path) -> None:
    """A run that opens a journal, completes a task and closes prints nothing at all."""
    done = _python(QUIET_APP, str(tmp_path / "app.db"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (done.stdout, done.stderr) == ("", "")


def test_an_application_that_configures_no_logging_still_sees_warnings(tmp_path: Path) -> None:
    """No NullHandler hides them: WARNING and above reach stderr, readable, nothing on stdout."""
    done = _python(ALERTING_APP, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert done.stderr.startswith("run.deadline_passed run_id=")
    assert "kind=timeout" in done.stderr
    assert len(done.stderr.splitlines()) == 1


async def test_the_cadenza_logger_silences_what_cadenza_would_warn(
    rt: cadenza.Runtime, clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """An ALERT_ONLY timeout warns; with `cadenza` set to CRITICAL the next one is not emitted."""
    await rt.register(ONE_TASK)
    await rt.register_task({"name": "work", "timeoutSeconds": 5, "timeoutPolicy": "ALERT_ONLY"})

    async def alert() -> list[logging.LogRecord]:
        caplog.clear()
        await rt.start("one")
        assert await rt.poll("work") is not None
        await clock.advance(10)
        return [r for r in caplog.records if r.getMessage().startswith("run.deadline_passed")]

    [warned] = await alert()
    assert (warned.name, warned.levelno) == ("cadenza.engine", logging.WARNING)
    cadenza_log = logging.getLogger("cadenza")
    saved = cadenza_log.level
    cadenza_log.setLevel(logging.CRITICAL)
    try:
        assert await alert() == []
    finally:
        cadenza_log.setLevel(saved)


async def test_info_events_reach_a_configured_handler_with_their_key_values(
    rt: cadenza.Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    """At INFO a finished run is one record of `cadenza.engine`, its keys in the message."""
    caplog.set_level(logging.INFO, logger="cadenza")
    await rt.register(ONE_TASK)

    async def work(_data: dict[str, Any]) -> dict[str, Any]:
        return {}

    rt.worker("work", work)
    run_id = await rt.start("one")
    assert (await rt.wait(run_id)).status == "COMPLETED"
    [finished] = [r for r in caplog.records if r.getMessage().startswith("run.finished ")]
    assert (finished.name, finished.levelno) == ("cadenza.engine", logging.INFO)
    message = finished.getMessage()
    assert f"run_id={run_id}" in message
    assert "workflow=one" in message
    assert "status=COMPLETED" in message
    assert "engine" in Path(finished.pathname).parts  # the caller, not structlog
    assert {"event": "run.finished", "run_id": run_id}.items() <= dict(finished.msg).items()


def test_a_processor_formatter_gets_the_event_dict() -> None:
    """An application rendering with structlog's ProcessorFormatter sees the keys, not a string."""
    from cadenza._log import get_logger

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.JSONRenderer(),
            ]
        )
    )
    cadenza_log = logging.getLogger("cadenza")
    cadenza_log.addHandler(handler)
    try:
        get_logger("cadenza.dispatch").warning("group.worker_paused", group="g", crashes=4)
    finally:
        cadenza_log.removeHandler(handler)
    assert json.loads(stream.getvalue()) == {
        "event": "group.worker_paused",
        "group": "g",
        "crashes": 4,
        "level": "warning",
        "logger": "cadenza.dispatch",
    }
