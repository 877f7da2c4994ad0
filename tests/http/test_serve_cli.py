"""`cadenza serve`'s bad arguments: one line and exit code 2, before anything opens."""

from __future__ import annotations

from pathlib import Path

import pytest

from cadenza.cli import main
from cadenza.http._serve import load_setup


@pytest.mark.parametrize(
    ("setup", "said"),
    [
        ("no_colon", "expected MODULE:FUNCTION"),
        ("no_such_module_here:setup", "cannot import"),
        ("tests.http._sdk_workers:nothing", "has no 'nothing'"),
        ("tests.http._sdk_workers:left", "must be an async function"),
    ],
)
def test_a_bad_setup_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], setup: str, said: str
) -> None:
    db = tmp_path / "journal.db"
    assert main(["serve", "--db", str(db), "--setup", setup]) == 2
    err = capsys.readouterr().err
    assert said in err
    assert len(err.splitlines()) == 1
    assert "Traceback" not in err
    assert not db.exists()  # nothing opened


def test_a_bad_port_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--db", str(tmp_path / "j.db"), "--port", "70000"]) == 2
    assert "--port" in capsys.readouterr().err


def test_setup_loads_an_async_function() -> None:
    assert load_setup("tests.http._sdk_workers:setup").__name__ == "setup"
