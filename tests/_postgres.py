"""A private PostgreSQL server for the tests, from Debian's `postgresql` binaries.

`PostgresServer.start()` runs `initdb` in a fresh temporary folder, then
`pg_ctl start` on a free loopback port (its unix socket in the same folder),
and `stop()` shuts it down (`pg_ctl stop -m immediate`) and removes the
folder. The server trusts local connections from the user `cadenza`.

The binaries are looked up in `/usr/lib/postgresql/<version>/bin` (newest
first), then on PATH. PostgreSQL refuses to run as root, so when the tests
run as root (CI does) the server runs as the `postgres` user the Debian
package creates (else `nobody`), through `runuser`, and the folder is
handed to that user.

`missing()` says why no server can be had (no binaries), or None; the
fixtures skip with that reason, except under CI (`CI` set), where the
missing binaries fail the run: `.ci/run` installs them.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

USER = "cadenza"
START_TIMEOUT_S = 60


def bin_dir() -> Path | None:
    """The folder of `initdb` and `pg_ctl`: Debian's newest version, else PATH's."""
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
        reverse=True,
    )
    for initdb in versions:
        if (initdb.parent / "pg_ctl").exists():
            return initdb.parent
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).resolve().parent
    return None


def missing() -> str | None:
    """Why no private server can be started here, or None if one can."""
    if bin_dir() is None:
        return (
            "PostgreSQL server binaries (initdb, pg_ctl) not found in /usr/lib/postgresql/*/bin "
            "or on PATH: `apt-get install postgresql` (.ci/run does)"
        )
    if os.geteuid() == 0 and _service_user() is None:
        return "running as root and no `postgres` or `nobody` user to run the server as"
    return None


def _service_user() -> str | None:
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class PostgresServer:
    """One private server: `start()`, use `url(db)`, `stop()`. See the module note."""

    def __init__(self, *, settings: dict[str, str] | None = None):
        self.settings = {"fsync": "on", "max_connections": "200", **(settings or {})}
        self.folder: Path | None = None
        self.port = 0
        self._as: list[str] = []

    @property
    def data(self) -> Path:
        if self.folder is None:
            raise RuntimeError("the server was not started")
        return self.folder / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def _run(self, *argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self._as, *argv], capture_output=True, text=True, check=False, timeout=120
        )

    def start(self) -> None:
        """initdb and start; raises RuntimeError with the server's own words if it cannot."""
        binaries = bin_dir()
        if binaries is None:
            raise RuntimeError(missing() or "no PostgreSQL binaries")
        self.folder = Path(tempfile.mkdtemp(prefix="cadenza-pg-"))
        if os.geteuid() == 0:
            user = _service_user()
            if user is None:
                raise RuntimeError(missing() or "no user to run the server as")
            entry = pwd.getpwnam(user)
            os.chown(self.folder, entry.pw_uid, entry.pw_gid)
            self._as = ["runuser", "-u", user, "--"]
        done = self._run(
            str(binaries / "initdb"),
            "-D",
            str(self.data),
            "-U",
            USER,
            "--auth=trust",
            "--encoding=UTF8",
            "--no-sync",
        )
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed: {done.stderr or done.stdout}")
        for attempt in range(5):
            self.port = _free_port()
            options = " ".join(
                [
                    f"-p {self.port}",
                    "-c listen_addresses=127.0.0.1",
                    f"-c unix_socket_directories={self.folder}",
                    *(f"-c {k}={v}" for k, v in self.settings.items()),
                ]
            )
            started = self._run(
                str(binaries / "pg_ctl"),
                "start",
                "-D",
                str(self.data),
                "-w",
                "-t",
                str(START_TIMEOUT_S),
                "-l",
                str(self.folder / "server.log"),
                "-o",
                options,
            )
            if started.returncode == 0:
                return
            if attempt == 4 or "could not bind" not in self.log():
                raise RuntimeError(f"pg_ctl start failed: {started.stderr}\n{self.log()}")
            time.sleep(0.2)  # the port was taken meanwhile: another one

    def sql(self, statement: str, database: str = "postgres") -> None:
        """Run one statement with `psql` (no driver needed); RuntimeError if it fails."""
        binaries = bin_dir()
        if binaries is None or self.folder is None:
            raise RuntimeError("the server was not started")
        done = subprocess.run(
            [
                str(binaries / "psql"),
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                self.url(database),
                "-c",
                statement,
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        if done.returncode != 0:
            raise RuntimeError(f"psql failed on {statement!r}: {done.stderr}")

    def log(self) -> str:
        """The server's log so far (for failure messages)."""
        path = None if self.folder is None else self.folder / "server.log"
        return path.read_text(errors="replace") if path is not None and path.exists() else ""

    def stop(self) -> None:
        """Stop the server (immediately: its data is thrown away) and remove its folder."""
        if self.folder is None:
            return
        binaries = bin_dir()
        if binaries is not None and (self.data / "postmaster.pid").exists():
            self._run(str(binaries / "pg_ctl"), "stop", "-D", str(self.data), "-m", "immediate")
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder = None
