"""Errors of the actor kernel; all derive from `cadenza.CadenzaError`.

Each says whose fault it is and what to do. None of them is a control-flow
signal: they are raised to a caller (a sender, an asker, a spawner) that can
act on them.
"""

from __future__ import annotations

from cadenza._errors import CadenzaError


class MailboxFull(CadenzaError):
    """`tell_nowait` found the target's mailbox full; nothing was sent.

    Use `await ref.tell(...)`, which waits for space (back-pressure), or give
    the actor a larger `mailbox_size`.
    """

    def __init__(self, actor: str, mailbox_size: int):
        self.actor = actor
        self.mailbox_size = mailbox_size
        super().__init__(
            f"mailbox of actor {actor!r} is full ({mailbox_size} messages); "
            "nothing was sent: await tell() to wait for space"
        )


class AskTimeout(CadenzaError, TimeoutError):
    """No reply to an `ask` arrived within `timeout_s` on the system's clock.

    The message may still be handled later (or may never have been enqueued if
    the mailbox stayed full); make the request idempotent before retrying.
    """

    def __init__(self, actor: str, timeout_s: float):
        self.actor = actor
        self.timeout_s = timeout_s
        super().__init__(
            f"actor {actor!r} did not reply within {timeout_s}s; the request may still "
            "be handled: retry only if it is idempotent"
        )


class ActorCrashed(CadenzaError):
    """The actor failed while handling the asked message (or gave up before it).

    The original exception is chained as `__cause__`. The actor itself was
    restarted or stopped by its supervisor; the request was not completed.
    """

    def __init__(self, actor: str, message_type: str, why: str = "crashed while handling it"):
        self.actor = actor
        self.message_type = message_type
        super().__init__(f"actor {actor!r} {why} (message {message_type}); see __cause__")


class ActorStopped(CadenzaError):
    """The target actor (or supervisor) was stopped; the message was not handled.

    Raised by `tell` to a stopped actor and set on the replies of messages it
    never handled. Spawn a new actor (or use an `EntityPool`, whose keys always
    resolve) to continue.
    """

    def __init__(self, actor: str, why: str = "was stopped"):
        self.actor = actor
        super().__init__(f"actor {actor!r} {why}; the message was not handled")


class ActorSystemStopped(CadenzaError):
    """The actor system is not running (not yet started, stopping or stopped).

    Raised by `tell`/`ask`/`start_soon` and set on the replies of messages that
    were never handled at shutdown. Start the system with `async with`.
    """

    def __init__(self, system: str, why: str = "is not running"):
        self.system = system
        super().__init__(f"actor system {system!r} {why}; the message was not handled")


class ActorNameTaken(CadenzaError, ValueError):
    """`spawn` or `entities` was given a name or kind already in use in this system.

    Actor names are delivery addresses and must be unique; pick another name,
    or stop the existing actor first.
    """

    def __init__(self, name: str):
        self.name = name
        super().__init__(f"an actor or entity kind named {name!r} already exists in this system")
