"""One owner per SQLite journal (issue 13, item 1), and what opening a bad path raises (item 2)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

import cadenza
from cadenza.cli import main
from tests.conftest import three_steps
from tests.isolation._support import open_rt, records, serve

ROOT = Path(__file__).resolve().parents[2]

OWNER = """
import sys, anyio, cadenza
async def main():
    async with cadenza.Runtime(sys.argv[1]) as rt:
        print("READY", flush=True)
        await anyio.sleep(3600)
anyio.run(main)
"""


async def test_a_second_runtime_in_this_process_is_refused_and_the_first_keeps_working(
    tmp_path: Path,
) -> None:
    """The second `Runtime` raises JournalBusy naming file, pid and host; nothing is written."""
    db = tmp_path / "owned.db"
    async with open_rt(db) as rt:
        await rt.register(three_steps())
        serve(rt)
        first = await rt.start("three_steps", {"n": 1})
        await rt.settle()
        before = records(db)
        with pytest.raises(cadenza.JournalBusy) as caught:
            async with open_rt(db):
                pass  # pragma: no cover - never entered
        busy = caught.value
        assert busy.path == str(db)
        assert str(db) in str(busy)
        assert busy.pid == os.getpid()
        assert str(os.getpid()) in str(busy)
        assert busy.host == socket.gethostname()
        assert socket.gethostname() in str(busy)
        assert records(db) == before
        # the owner is unharmed: later writes of the first runtime still land
        second = await rt.start("three_steps", {"n": 5})
        assert (await rt.wait(first)).output == {"result": 4}
        assert (await rt.wait(second)).output == {"result": 8}
    async with open_rt(db) as rt:  # once closed, the journal can be owned again
        assert len(await rt.runs()) == 2


async def test_reentering_an_open_runtime_is_refused_without_closing_it(tmp_path: Path) -> None:
    async with open_rt(tmp_path / "j.db") as rt:
        await rt.register(three_steps())
        serve(rt)
        with pytest.raises(cadenza.RuntimeClosed, match="already"):
            async with rt:
                pass  # pragma: no cover - never entered
        run = await rt.wait(await rt.start("three_steps", {"n": 1}))
        assert run.status == "COMPLETED"


def test_the_owner_killed_by_sigkill_releases_the_journal_at_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Beside a live owner: JournalBusy names its pid, inspection reads; after SIGKILL: opens."""
    db = tmp_path / "owned.db"

    async def seed() -> str:
        async with open_rt(db) as rt:
            await rt.register(three_steps())
            return await rt.start("three_steps", {"n": 1})

    run_id = anyio.run(seed)
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER, str(db)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert owner.stdout is not None
        assert owner.stdout.readline().strip() == b"READY", (
            owner.stderr.read() if owner.stderr else b""
        )
        before = records(db)

        async def second() -> None:
            async with open_rt(db):
                pass  # pragma: no cover - never entered

        with pytest.raises(cadenza.JournalBusy) as caught:
            anyio.run(second)
        assert caught.value.pid == owner.pid
        assert str(owner.pid) in str(caught.value)
        assert socket.gethostname() in str(caught.value)
        assert records(db) == before

        async def look() -> list[cadenza.WorkflowRun]:
            async with cadenza.inspect(str(db)) as journal:
                assert (await journal.get(run_id)).id == run_id
                return await journal.runs()

        assert [run.id for run in anyio.run(look)] == [run_id]
        capsys.readouterr()
        assert main(["runs", "--db", str(db)]) == 0
        assert run_id in capsys.readouterr().out
        assert main(["show", run_id, "--db", str(db)]) == 0
        assert records(db) == before
    finally:
        owner.send_signal(signal.SIGKILL)
        owner.communicate()

    async def reopen() -> str:
        async with open_rt(db) as rt:
            serve(rt)
            return (await rt.wait(run_id)).status.value

    assert anyio.run(reopen) == "COMPLETED"


def _opened(path: Path) -> BaseException:
    async def attempt() -> None:
        async with cadenza.Runtime(str(path)):
            pass  # pragma: no cover - never entered

    with pytest.raises(cadenza.CadenzaError) as caught:
        anyio.run(attempt)
    return caught.value


def test_a_path_in_a_missing_directory_is_named(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "j.db"
    error = _opened(path)
    assert str(path) in str(error)
    assert "does not exist" in str(error)
    assert not path.parent.exists()


def test_a_directory_is_named(tmp_path: Path) -> None:
    error = _opened(tmp_path)
    assert str(tmp_path) in str(error)
    assert "directory" in str(error)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_a_read_only_location_is_named(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        error = _opened(folder / "j.db")
    finally:
        folder.chmod(0o700)
    assert str(folder / "j.db") in str(error)
    assert "lock file" in str(error)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_a_read_only_journal_file_is_named(tmp_path: Path) -> None:
    db = tmp_path / "j.db"

    async def make() -> None:
        async with cadenza.Runtime(str(db)) as rt:
            await rt.register(three_steps())

    anyio.run(make)
    db.chmod(0o400)
    try:
        error = _opened(db)
    finally:
        db.chmod(0o600)
    assert str(db) in str(error)
    assert "read-only" in str(error)


def test_a_full_disk_is_named(tmp_path: Path) -> None:
    """/dev/full takes no byte: SQLite's SQLITE_FULL becomes a cadenza error naming the path."""
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    db = tmp_path / "full.db"
    db.symlink_to("/dev/full")
    error = _opened(db)
    assert str(db) in str(error)
