"""The face's own words for the kernel's: no actor, mailbox or ask reaches a caller.

`calls_translated()` wraps every public call: a reply that did not come in
time is the built-in `TimeoutError`, a stopped actor system is
`RuntimeClosed` (also when an actor crashed because the system was
stopping under it), an actor that crashed on a journal write that cannot
succeed is that `JournalWriteError`, and an actor that crashed while handling the call is
`InternalError` (the crash is chained as its cause; the run's journal is
untouched and its actor restarts).

`ask_run(engine, run_id, make)` asks a run's actor as a call does. On a
journal shared by several processes, an owner whose lease was taken over
unawares (paused, cut off) learns it from the call itself: the fence
refuses the call's write, or the lease check refuses to answer from stale
state (`OwnershipLost`; nothing was written) and the partition is dropped.
The call is then asked again, of the run's new owner through the inbox,
instead of making its caller ask again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cadenza._errors import InternalError, RuntimeClosed
from cadenza._log import get_logger
from cadenza.actors import ActorCrashed, ActorSystemStopped, AskTimeout, Reply
from cadenza.engine._host import Engine
from cadenza.persistence import JournalWriteError, OwnershipLost

log = get_logger("cadenza.runtime")

ASKS_ON_LOST = 3  # a call is asked again at most this often as its run's owner moves


async def ask_run(
    engine: Engine,
    run_id: str,
    make: Callable[[Reply[Any]], Any],
    *,
    timeout_s: float | None = None,
) -> Any:
    """What run `run_id`'s actor answers to `make(reply)`; see the module note.

    Raises what the ask raises, `OwnershipLost` only when the run kept moving
    (`ASKS_ON_LOST` owners in a row lost it under the call).
    """
    for attempt in range(1, ASKS_ON_LOST + 1):
        try:
            return await engine.run(run_id).ask(make, timeout_s=timeout_s)
        except Exception as exc:
            lost = _lost(exc)
            ownership = engine.ownership
            if lost is None or attempt == ASKS_ON_LOST or ownership is None:
                raise
            if ownership.owns(run_id):  # not dropped yet: only the next tick knows
                raise
            log.info("call.forwarded_after_lost", run_id=run_id, partition=lost.partition)
    raise InternalError("unreachable: the last attempt returns or raises")


def _lost(exc: BaseException) -> OwnershipLost | None:
    for candidate in (exc, exc.__cause__):
        if isinstance(candidate, OwnershipLost):
            return candidate
    return None


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
