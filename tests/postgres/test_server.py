"""The private PostgreSQL server the tests start (tests/_postgres.py)."""

from __future__ import annotations

import os
import socket

import pytest

from tests._postgres import PostgresServer


def _answers(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1.0)
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_the_session_server_answers_and_never_runs_as_root(
    postgres_server: PostgresServer,
) -> None:
    """The server accepts connections on its port; its files belong to a user other
    than root (initdb and postgres refuse root), whoever runs the tests."""
    postgres_server.sql("SELECT 1")
    assert _answers(postgres_server.port)
    owner = os.stat(postgres_server.data).st_uid
    if os.geteuid() == 0:
        assert owner != 0
    else:
        assert owner == os.geteuid()


def test_a_server_stops_and_leaves_nothing_behind(postgres_server: PostgresServer) -> None:
    """stop() shuts the server down (its port closes) and removes its folder."""
    server = PostgresServer()
    server.start()
    folder, port = server.folder, server.port
    assert folder is not None
    assert folder.exists()
    assert port != postgres_server.port
    server.sql("CREATE TABLE t (n int)")
    server.stop()
    assert not folder.exists()
    assert not _answers(port)


def test_a_failing_statement_says_what_the_server_said(postgres_server: PostgresServer) -> None:
    with pytest.raises(RuntimeError, match="no_such_table"):
        postgres_server.sql("SELECT * FROM no_such_table")


def test_missing_binaries_are_named_with_the_way_to_get_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without initdb/pg_ctl the reason to skip says what is missing and how CI installs it."""
    import tests._postgres as pg

    assert pg.missing() is None  # here the binaries are present (CI installs them)
    monkeypatch.setattr(pg, "bin_dir", lambda: None)
    why = pg.missing()
    assert why is not None
    assert "initdb" in why
    assert "apt-get install postgresql" in why
