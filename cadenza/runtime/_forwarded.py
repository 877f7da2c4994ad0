"""A forwarded call's caller, answered once the run's owner applied it (with its outcome).

`answered_when_applied(inbox, journal, id, message)` runs in the background
of the forwarding process (the stand-in's mailbox stays free): it waits
for the outcome of inbox message `id` (`Inbox.outcome`) and answers
`message.reply` with what the owner's actor answered, or fails it with the
owner's refusal (`_inbox_outcome.settle`): a forwarded call returns as a
direct call on the owner does, once the owner made it durable.

A start refused with `DuplicateKey` (its idempotency key is another run's)
answers that run's id, as a direct keyed start does.

It waits as long as the message is not applied: an owner that died leaves
it to the partition's next owner (within `lease_s`); the caller's own
timeout bounds the wait. If this runtime closes meanwhile the caller gets
`RuntimeClosed`; the message stays in the inbox and is still applied by the
owner (the call may or may not have taken effect: look at the run).
"""

from __future__ import annotations

from typing import Any

import anyio

from cadenza._errors import RuntimeClosed
from cadenza._log import get_logger
from cadenza.actors import Reply
from cadenza.engine._messages import StartRun
from cadenza.engine.shared._inbox_outcome import error_of, settle
from cadenza.persistence import DuplicateKey, Journal, JournalClosed
from cadenza.persistence._shared import Inbox

log = get_logger("cadenza.runtime")

CLOSED = (
    "the runtime closed before the run's owner applied the call; it stays in the owner's "
    "inbox and may still be applied"
)


async def answered_when_applied(inbox: Inbox, journal: Journal, id: int, message: Any) -> None:
    """Answer `message.reply` with the owner's outcome of inbox message `id`; see the note."""
    reply: Reply[Any] = message.reply
    try:
        outcome = await inbox.outcome(id)
        if isinstance(message, StartRun) and "error" in outcome:
            refused = error_of(outcome)
            if isinstance(refused, DuplicateKey) and message.key is not None:
                holder = await journal.find_key(message.key)
                reply.set(holder if holder is not None else refused.holder)
                return
        settle(reply, outcome)
    except anyio.get_cancelled_exc_class():
        reply.fail(RuntimeClosed(CLOSED))
        raise
    except JournalClosed:  # the inbox closed under it: the runtime is closing
        reply.fail(RuntimeClosed(CLOSED))
    except Exception as exc:  # the caller hears what failed
        log.warning("inbox.outcome_lost", id=id, error=repr(exc))
        reply.fail(exc)
