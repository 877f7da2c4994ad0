"""`cadenza pause|resume|terminate|retry|restart|rerun|skip|signal`, on a journal and via a server.

On `--db` the command owns the journal for the call (a live owner refuses it:
one line, exit 2, nothing written). Via `--server` the same controls go
through Conductor's REST API: here over ASGI in the test's own loop, and
once end to end against a `cadenza serve` subprocess with a token.
"""

from __future__ import annotations

import logging
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

import cadenza
from cadenza._cli import _operate
from cadenza._cli._operate import Control, Refused
from cadenza.cli import main
from cadenza.http import create_app

ROOT = Path(__file__).resolve().parents[2]

WAITING: dict[str, Any] = {
    "name": "waiting",
    "version": 1,
    "tasks": [
        {"name": "w", "taskReferenceName": "w", "type": "WAIT"},
        {"name": "step", "taskReferenceName": "step", "type": "SIMPLE"},
        {"name": "last", "taskReferenceName": "last", "type": "SIMPLE"},
    ],
}


@pytest.fixture(autouse=True)
def _reset_logging() -> Iterator[None]:
    cadenza_log = logging.getLogger("cadenza")
    handlers, level = list(cadenza_log.handlers), cadenza_log.level
    yield
    cadenza_log.handlers[:] = handlers
    cadenza_log.setLevel(level)


async def _started(db: str) -> str:
    async with cadenza.Runtime(db) as rt:
        await rt.register(WAITING)
        await rt.register_task({"name": "step", "retryCount": 0})
        return await rt.start("waiting", {"n": 1})


async def _run(db: str, run_id: str) -> cadenza.WorkflowRun:
    async with cadenza.inspect(db) as journal:
        return await journal.get(run_id)


def _records(db: str) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM records").fetchone()[0])


def test_controls_on_a_journal_no_process_owns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each control on --db is durable: the next reader sees its effect."""
    db = str(tmp_path / "journal.db")
    run_id = anyio.run(_started, db)
    assert main(["pause", run_id, "--db", db]) == 0
    assert capsys.readouterr().out.strip() == f"pause {run_id}: PAUSED"
    assert anyio.run(_run, db, run_id).status == "PAUSED"
    assert main(["resume", run_id, "--db", db]) == 0
    assert main(["signal", run_id, "w", "--db", db, "--output", '{"approved": true}']) == 0
    run = anyio.run(_run, db, run_id)
    assert run.tasks[0].status == "COMPLETED"
    assert run.tasks[0].output == {"approved": True}
    assert [t.ref for t in run.tasks] == ["w", "step"]
    assert main(["skip", run_id, "last", "--db", db]) == 0
    assert main(["terminate", run_id, "--db", db, "--reason", "by hand"]) == 0
    run = anyio.run(_run, db, run_id)
    assert (run.status, run.reason) == ("TERMINATED", "by hand")
    assert main(["rerun", run_id, "--db", db, "--from", "step", "--input", '{"n": 2}']) == 0
    run = anyio.run(_run, db, run_id)
    assert run.status == "RUNNING"
    assert run.input["n"] == 2
    assert main(["terminate", run_id, "--db", db]) == 0
    assert main(["restart", run_id, "--db", db]) == 0
    assert anyio.run(_run, db, run_id).tasks[-1].ref == "w"
    capsys.readouterr()
    assert main(["retry", run_id, "--db", db]) == 2  # RUNNING: nothing failed to retry
    err = capsys.readouterr().err
    assert err.startswith("cadenza: InvalidOperation:")
    assert len(err.splitlines()) == 1


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["pause", "no-such-run"], "NotFound: no run 'no-such-run'"),
        (["signal", "RUN", "w", "--output", "[1]"], "--output: expected a JSON object"),
        (["signal", "RUN", "w", "--output", "{"], "--output: expected a JSON object"),
        (["rerun", "RUN"], "the following arguments are required: --from"),
        (["skip", "RUN"], "the following arguments are required: ref"),
    ],
)
def test_a_bad_control_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], said: str
) -> None:
    db = str(tmp_path / "journal.db")
    run_id = anyio.run(_started, db)
    before = _records(db)
    assert main([arg.replace("RUN", run_id) for arg in argv] + ["--db", db]) == 2
    err = capsys.readouterr().err
    assert said in err
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in err
    assert _records(db) == before


def test_a_control_on_a_missing_journal_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing.db"
    assert main(["pause", "some-run", "--db", str(missing)]) == 2
    assert not missing.exists()
    assert "NotFound: no journal file" in capsys.readouterr().err


async def test_a_journal_a_live_process_owns_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With an owner open, `--db` controls exit 2 with JournalBusy and write nothing."""
    db = str(tmp_path / "journal.db")
    async with cadenza.Runtime(db) as rt:
        await rt.register(WAITING)
        run_id = await rt.start("waiting")
        await rt.settle()
        before = _records(db)
        code = await anyio.to_thread.run_sync(main, ["pause", run_id, "--db", db])
        assert code == 2
        err = capsys.readouterr().err
        assert err.startswith("cadenza: JournalBusy: the journal")
        assert len(err.splitlines()) == 1
        assert _records(db) == before
        assert (await rt.get(run_id)).status == "RUNNING"


# -- through the REST API -------------------------------------------------------------


async def test_every_control_through_the_rest_api(rt: cadenza.Runtime) -> None:
    """on_server drives the same controls over Conductor's endpoints, ending as on --db."""
    await rt.register(WAITING)
    await rt.register_task({"name": "step", "retryCount": 0})
    run_id = await rt.start("waiting", {"n": 1})
    transport = httpx.ASGITransport(app=create_app(rt))
    async with httpx.AsyncClient(transport=transport, base_url="http://cadenza/api") as client:

        async def control(op: str, **fields: Any) -> str:
            return await _operate.on_server(client, Control(op, run_id, **fields))

        assert await control("pause") == "PAUSED"
        assert await control("resume") == "RUNNING"
        assert await control("signal", ref="w", output={"ok": 1}) == "RUNNING"
        assert await control("skip", ref="last") == "RUNNING"
        task = await rt.poll("step")
        assert task is not None
        await rt.fail(task.id, "no luck")
        await rt.settle()
        assert (await rt.get(run_id)).status == "FAILED"
        assert await control("retry") == "RUNNING"
        assert await control("terminate", reason="enough") == "TERMINATED"
        assert (await rt.get(run_id)).reason == "enough"
        assert await control("rerun", ref="step", input={"n": 5}) == "RUNNING"
        assert (await rt.get(run_id)).input["n"] == 5
        assert await control("terminate") == "TERMINATED"
        assert await control("restart", latest=True) == "RUNNING"
        with pytest.raises(Refused, match="server answered 409") as refused:
            await control("resume")
        assert refused.value.exit_code == 2
        with pytest.raises(Refused, match="has no task 'nope'"):
            await control("rerun", ref="nope")
        with pytest.raises(Refused, match="server answered 404") as missing:
            await _operate.on_server(client, Control("pause", "no-such-run"))
        assert missing.value.exit_code == 2


def test_a_server_url_may_name_the_api_or_its_host() -> None:
    assert _operate.api_base("http://h:8080") == "http://h:8080/api"
    assert _operate.api_base("http://h:8080/api/") == "http://h:8080/api"


def test_an_unreachable_server_is_one_line_and_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert main(["pause", "some-run", "--server", f"http://127.0.0.1:{port}"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"cadenza: cannot reach http://127.0.0.1:{port}/api")
    assert len(err.splitlines()) == 1


@pytest.mark.timeout(120)
def test_controls_through_cadenza_serve_with_a_token(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """End to end: `cadenza serve --token` in a subprocess; the command line pauses, resumes,
    signals and terminates a run it started; without the token it is refused (exit 2)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = (tmp_path / "serve.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "cadenza.cli", "serve", "--db", str(tmp_path / "j.db"),
         "--port", str(port), "--token", "s3cret"],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    auth = {"Authorization": "Bearer s3cret"}
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                if httpx.get(f"{base}/health", headers=auth, timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "cadenza serve did not answer /health"
            time.sleep(0.05)
        with httpx.Client(base_url=f"{base}/api", headers=auth) as api:
            assert api.post("/metadata/workflow", json=WAITING).status_code == 200
            run_id = api.post("/workflow/waiting", json={}).text
        server = ["--server", base, "--token", "s3cret"]
        assert main(["pause", run_id, *server]) == 0
        assert main(["resume", run_id, *server]) == 0
        assert main(["signal", run_id, "w", *server, "--output", '{"ok": true}']) == 0
        assert main(["terminate", run_id, *server, "--reason", "done here"]) == 0
        out = capsys.readouterr().out.splitlines()
        assert out == [
            f"pause {run_id}: PAUSED",
            f"resume {run_id}: RUNNING",
            f"signal {run_id}: RUNNING",
            f"terminate {run_id}: TERMINATED",
        ]
        assert main(["pause", run_id, "--server", base]) == 2
        err = capsys.readouterr().err
        assert "server answered 401" in err
        assert "--token" in err
        assert len(err.splitlines()) == 1
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
    assert process.returncode == 0, (tmp_path / "serve.log").read_text()
