"""The face's own words for the kernel's: no actor, mailbox or ask reaches a caller.

`calls_translated()` wraps every public call: a reply that did not come in
time is the built-in `TimeoutError`, a stopped actor system is
`RuntimeClosed` (also when an actor crashed because the system was
stopping under it), an actor that crashed on a journal write that cannot
succeed is that `JournalWriteError`, and an actor that crashed while handling the call is
`InternalError` (the crash is chained as its cause; the run's journal is
untouched and its actor restarts).
"""

from __future__ import annotations

from typing import Any

from cadenza._errors import InternalError, RuntimeClosed
from cadenza.actors import ActorCrashed, ActorSystemStopped, AskTimeout
from cadenza.persistence import JournalWriteError


class calls_translated:
    """Re-raise the kernel's errors from the call `what` as the face's (a cheap context manager)."""

    __slots__ = ("what",)

    def __init__(self, what: str):
        self.what = what

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any
    ) -> None:
        if exc is None:
            return
        what = self.what
        if isinstance(exc, AskTimeout):
            raise TimeoutError(f"{what} did not finish within {exc.timeout_s:g} s") from None
        if isinstance(exc, ActorSystemStopped):
            raise RuntimeClosed(f"{what}: the runtime closed before it finished") from None
        if isinstance(exc, ActorCrashed) and isinstance(exc.__cause__, ActorSystemStopped):
            raise RuntimeClosed(f"{what}: the runtime closed before it finished") from None
        if isinstance(exc, ActorCrashed) and isinstance(exc.__cause__, JournalWriteError):
            refused = exc.__cause__
            refused.__suppress_context__ = True
            raise refused  # the journal's own error says what and why
        if isinstance(exc, ActorCrashed):
            cause = exc.__cause__
            detail = f": {cause!r}" if cause is not None else ""
            raise InternalError(f"{what} failed inside the engine{detail}") from cause
