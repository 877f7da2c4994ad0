"""One owner per SQLite journal, and what opening a journal's path can go wrong with.

Design note
-----------
The owner of `<db>` holds an exclusive `flock` on a sidecar file,
`<db>.lock`, for as long as its journal is open, and writes its pid and host
into it. Why a sidecar and `flock`, not a lock on the database file:

- SQLite itself takes POSIX (`fcntl`) byte-range locks on the database, and
  POSIX locks belong to the process: any `close()` of any descriptor on the
  file drops them all, and two opens in one process never conflict. A
  `flock` belongs to the open file description instead, so a second
  `Runtime` in the same process is refused exactly like a second process,
  and SQLite's locking is left alone.
- The kernel drops a `flock` when its holder dies, however it dies (SIGKILL
  included): a crashed owner never leaves a stale lock to clean up.
- The sidecar can hold the owner's pid and host for the refusal's message
  without touching the database.

Readers (`cadenza runs`, `cadenza show`, `cadenza.inspect`) take no lock: the
WAL lets them read beside the owner. The lock is advisory and local: two
hosts sharing one file over a network file system are not protected (share
work through PostgreSQL, never through one SQLite file).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import socket
import sqlite3

from cadenza._errors import JournalBusy
from cadenza.persistence._journal import JournalUnavailable


def lock_path(path: str) -> str:
    return f"{path}.lock"


def check_path(path: str) -> None:
    """`JournalUnavailable` naming `path` if it cannot be a journal file (before any write)."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise JournalUnavailable(path, f"its directory {directory!r} does not exist")
    if os.path.isdir(path):
        raise JournalUnavailable(path, "it is a directory, not a file")


def check_existing(path: str) -> None:
    """`check_path`, and `JournalUnavailable` if there is no file to inspect (creates nothing)."""
    check_path(path)
    if not os.path.isfile(path):
        raise JournalUnavailable(path, "no such file (inspection creates nothing)")


def acquire(path: str) -> int:
    """Take the owner's lock of `path`'s journal; returns the descriptor to keep.

    Raises `JournalBusy` (naming the owner's pid and host) if a live owner
    holds it, `JournalUnavailable` if the lock file cannot be created.
    """
    check_path(path)
    while True:
        fd = _lock_once(path)
        try:  # the owner before us may have unlinked the file we locked: lock the new one
            if os.fstat(fd).st_ino == os.stat(lock_path(path)).st_ino:
                break
        except FileNotFoundError:
            pass
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {socket.gethostname()}\n".encode(), 0)
    except OSError as exc:
        release(path, fd)
        raise JournalUnavailable(
            path, f"its lock file {lock_path(path)!r} cannot be written", exc
        ) from exc
    return fd


def _lock_once(path: str) -> int:
    sidecar = lock_path(path)
    try:
        fd = os.open(sidecar, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise JournalUnavailable(path, f"its lock file {sidecar!r} cannot be created", exc) from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        owner = _read_owner(fd)
        os.close(fd)
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise JournalBusy(path, pid=owner[0], host=owner[1]) from None
        raise JournalUnavailable(path, f"its lock file {sidecar!r} cannot be locked", exc) from exc
    return fd


def release(path: str, fd: int) -> None:
    """Give the lock up: unlink the lock file (still holding it), then close it.

    A waiting opener that locks the unlinked file sees its inode is no longer
    the path's and tries again (`acquire`), so there is never a second owner.
    """
    with contextlib.suppress(OSError):  # gone already, or a read-only directory: the lock goes
        os.unlink(lock_path(path))
    with contextlib.suppress(OSError):  # already closed: the lock went with it
        os.close(fd)


def _read_owner(fd: int) -> tuple[int | None, str | None]:
    try:
        text = os.pread(fd, 512, 0).decode(errors="replace").split()
    except OSError:
        return None, None
    pid = int(text[0]) if text and text[0].isdigit() else None
    host = text[1] if len(text) > 1 else None
    return pid, host


_UNAVAILABLE = {
    "SQLITE_READONLY": "it is read-only (a read-only file, directory or mount)",
    "SQLITE_CANTOPEN": "it cannot be opened (a missing directory, a directory, no permission)",
    "SQLITE_FULL": "the disk is full",
    "SQLITE_IOERR": "an I/O error",
    "SQLITE_PERM": "permission denied",
}


def unavailable(path: str, exc: sqlite3.Error) -> JournalUnavailable | None:
    """The cadenza error for a storage error met while opening `path`, or None if not one."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    for prefix, why in _UNAVAILABLE.items():
        if name.startswith(prefix):
            return JournalUnavailable(path, why, exc)
    text = str(exc).lower()
    if "readonly" in text or "read-only" in text:
        return JournalUnavailable(path, _UNAVAILABLE["SQLITE_READONLY"], exc)
    if "disk is full" in text:
        return JournalUnavailable(path, _UNAVAILABLE["SQLITE_FULL"], exc)
    if "unable to open" in text:
        return JournalUnavailable(path, _UNAVAILABLE["SQLITE_CANTOPEN"], exc)
    return None
