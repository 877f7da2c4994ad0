"""`cadenza runs` / `cadenza show`: filters, JSON, whole ids, a footer, id prefixes, bad arguments.

Journals are written by a `Runtime` on a virtual clock (so start times are
known), closed, then read by the command in this process.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

import cadenza
from cadenza._cli import _args
from cadenza.cli import main
from cadenza.testing import VirtualClock
from tests.conftest import three_steps

START = 1_800_000_000.0  # 2027-01-15T08:00:00Z


@pytest.fixture(autouse=True)
def _reset_logging() -> Iterator[None]:
    """The CLI configures logging (it is an application); undo that after each test."""
    cadenza_log = logging.getLogger("cadenza")
    handlers, level = list(cadenza_log.handlers), cadenza_log.level
    yield
    cadenza_log.handlers[:] = handlers
    cadenza_log.setLevel(level)


@pytest.fixture
def journal(tmp_path: Path) -> tuple[str, dict[str, list[str]]]:
    """Seven runs: five `three_steps` (two COMPLETED, one FAILED, two RUNNING), two `other`.

    One run starts every hour from START; returns the file and the ids by kind. (The
    tests are synchronous: the command runs its own event loop.)
    """
    db = str(tmp_path / "journal.db")
    return db, anyio.run(_write, db)


async def _write(db: str) -> dict[str, list[str]]:
    clock = VirtualClock(start=START)
    ids: dict[str, list[str]] = {"completed": [], "failed": [], "running": [], "other": []}
    async with cadenza.Runtime(db, clock=clock, seed=3) as rt:
        await rt.register(three_steps())
        await rt.register(three_steps(name="other"))
        await rt.register_task({"name": "step_a", "retryCount": 0})
        for kind in ("completed", "completed", "failed", "running", "running", "other", "other"):
            name = "other" if kind == "other" else "three_steps"
            ids[kind].append(await rt.start(name, {"n": 1}, correlation_id=f"corr-{kind}"))
            if kind in ("completed", "failed"):
                for _ in range(3):
                    task = (
                        await rt.poll("step_a")
                        or await rt.poll("step_b")
                        or await rt.poll("step_c")
                    )
                    assert task is not None
                    if kind == "failed":
                        await rt.fail(task.id, "boom")
                        break
                    await rt.complete(task.id, {"n": 1})
            await rt.settle()
            await clock.advance(3600)
    return ids


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line]


def test_runs_json_filters_by_status_case_insensitively(
    journal: tuple[str, dict[str, list[str]]], capsys: pytest.CaptureFixture[str]
) -> None:
    """`--status completed` is COMPLETED; `--json` is a JSON array of whole runs."""
    db, ids = journal
    assert main(["runs", "--db", db, "--status", "completed", "--json"]) == 0
    out, err = capsys.readouterr()
    runs = json.loads(out)
    assert {run["id"] for run in runs} == set(ids["completed"])
    assert all(run["status"] == "COMPLETED" and len(run["tasks"]) == 3 for run in runs)
    assert err.strip() == "2 of 2 runs"


def test_runs_filter_by_name_correlation_and_since(
    journal: tuple[str, dict[str, list[str]]], capsys: pytest.CaptureFixture[str]
) -> None:
    """--name, --correlation-id and --since each narrow the listing; together they all hold."""
    db, ids = journal
    assert main(["runs", "--db", db, "--name", "other", "--json"]) == 0
    assert {run["id"] for run in json.loads(capsys.readouterr().out)} == set(ids["other"])
    assert main(["runs", "--db", db, "--correlation-id", "corr-failed", "--json"]) == 0
    assert [run["id"] for run in json.loads(capsys.readouterr().out)] == ids["failed"]
    # runs started at START + 0h .. 6h; since START + 4h: the last three
    assert main(["runs", "--db", db, "--since", "2027-01-15T12:00:00Z", "--json"]) == 0
    listed = [run["id"] for run in json.loads(capsys.readouterr().out)]
    assert listed == [ids["other"][1], ids["other"][0], ids["running"][1]]
    args = ["runs", "--db", db, "--since", "2027-01-15T12:00:00+00:00", "--name", "three_steps"]
    assert main([*args, "--json"]) == 0
    assert [run["id"] for run in json.loads(capsys.readouterr().out)] == [ids["running"][1]]


def test_runs_piped_prints_whole_ids_tab_separated_with_a_footer(
    journal: tuple[str, dict[str, list[str]]], capsys: pytest.CaptureFixture[str]
) -> None:
    """Piped, each run is one tab-separated line with its whole id; "3 of 7" goes to stderr."""
    db, ids = journal
    assert main(["runs", "--db", db, "--limit", "3"]) == 0
    out, err = capsys.readouterr()
    header, *rows = _lines(out)
    assert header.split("\t")[:3] == ["id", "workflow", "status"]
    assert [row.split("\t")[0] for row in rows] == [
        ids["other"][1], ids["other"][0], ids["running"][1],
    ]  # fmt: skip
    assert all(len(row.split("\t")) == len(header.split("\t")) for row in rows)
    assert rows[0].split("\t")[3] == "2027-01-15T14:00:00Z"
    assert err.strip() == "3 of 7 runs"


def test_show_takes_a_unique_id_prefix(
    journal: tuple[str, dict[str, list[str]]], capsys: pytest.CaptureFixture[str]
) -> None:
    """A prefix naming one run shows it; one naming several is refused, naming them."""
    db, ids = journal
    run_id = ids["failed"][0]
    everyone = [i for kind in ids.values() for i in kind]
    unique = next(
        run_id[:n] for n in range(1, 37) if sum(i.startswith(run_id[:n]) for i in everyone) == 1
    )
    assert main(["show", unique, "--db", db, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["id"] == run_id
    assert shown["status"] == "FAILED"
    assert shown["tasks"][0]["reason"] == "boom"
    assert main(["show", "", "--db", db]) == 2  # the empty prefix starts every id
    err = capsys.readouterr().err
    assert "starts 7 run ids" in err
    assert len(_lines(err)) == 1


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["runs", "--limit", "-1"], "--limit: expected 1 to 100,000, got -1"),
        (["runs", "--limit", "0"], "--limit: expected 1 to 100,000, got 0"),
        (["runs", "--limit", "many"], "--limit: expected a whole number"),
        (["runs", "--status", "BOGUS"], "--status: expected one of RUNNING, COMPLETED"),
        (["runs", "--since", "yesterday"], "--since: expected a duration"),
        (["--log-level", "verbose", "runs"], "invalid choice: 'verbose'"),
        (["show", "no-such-run"], "NotFound: no run with an id starting 'no-such-run'"),
        (["runs", "--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_every_bad_argument_is_one_line_and_exit_2(
    journal: tuple[str, dict[str, list[str]]],
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    said: str,
) -> None:
    """A bad argument: one line on stderr naming it, exit code 2, no traceback, no output."""
    db, _ids = journal
    assert main([*argv, "--db", db]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert said in err
    assert len(_lines(err)) == 1, err
    assert "Traceback" not in err


def test_version_prints_the_installed_version(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"cadenza {version('cadenza')}"


def test_since_reads_durations_back_from_now_and_iso_times() -> None:
    """`2h` is two hours before now; an ISO time without a zone is UTC."""
    assert _args.since("2h", now=10_000.0) == 10_000.0 - 7200
    assert _args.since("90s", now=100.0) == 10.0
    assert _args.since("1.5D", now=200_000.0) == 200_000.0 - 129_600
    assert _args.since("2027-01-15T08:00:00") == START
    assert _args.since("2027-01-15T09:00:00+01:00") == START
