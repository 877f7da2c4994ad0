"""A run whose state could not be read: nothing it was sent is dropped.

Design note
-----------
A run's actor loads its state when it starts (`RunActor.started`). When
that read fails for a reason other than damage (`JournalCorrupted`, which
quarantines the run) — the journal refused the read, an I/O error — the
incarnation holds no state, so it cannot act on its messages. It does not
drop them either (issue 13: a wake-up lost to a failed load left a WAIT
pending for ever): a caller waiting on an answer gets the error now and
can ask again; a wake-up is armed again a little later on the timer
service; any other message (a worker's result, a child's end) is delivered
to the run again at that moment. The actor then passivates, so the next
message starts an incarnation that reads the run afresh.
"""

from __future__ import annotations

from typing import Any

from cadenza._log import get_logger
from cadenza.actors import ActorRef, ActorStopped, ActorSystemStopped, Reply
from cadenza.engine._messages import Wake
from cadenza.engine.run._services import RunServices

log = get_logger("cadenza.engine")

LOAD_RETRY_S = 0.5  # the pause before a run that could not be read is tried again (jittered)


def put_off(
    run_id: str,
    messages: list[Any],
    error: BaseException,
    services: RunServices,
    self_ref: ActorRef[Any],
) -> None:
    """Answer, re-arm or re-deliver `messages` of a run that could not be read (module note)."""
    retry_at = services.clock.now() + LOAD_RETRY_S * (0.5 + services.jitter.random())
    later: list[Any] = []
    rearm = False
    for message in messages:
        reply = getattr(message, "reply", None)
        if isinstance(reply, Reply):
            reply.fail(error)
        elif isinstance(message, Wake):
            rearm = True
        else:
            later.append(message)
    if rearm:
        services.arm(retry_at, run_id)
    if later:

        def redeliver() -> None:
            for message in later:
                try:
                    self_ref.tell_soon(message)
                except (ActorStopped, ActorSystemStopped):
                    return  # shutting down: the journal holds what recovery needs

        services.clock.call_at(retry_at, redeliver)
    log.warning(
        "run.load_put_off",
        run_id=run_id,
        messages=len(messages),
        retry_at=retry_at,
        error=repr(error),
    )
