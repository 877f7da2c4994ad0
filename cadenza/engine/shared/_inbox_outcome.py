"""What the owner's call answered, as the JSON an outcome row carries back to the poster.

A forwarded message (`_inbox_codec`) is applied by its run's owner, whose
actor answers it as it would answer a direct call: a value, or a refusal —
a typed error the caller must hear (`InvalidOperation` and its `StaleTask`,
`NotFound`, `DuplicateKey`, `InvalidArgument`, `DefinitionError`).
`refusal_of` picks those out; any other failure (the actor dropped as the
partition moved, the journal away, the owner closing: `RuntimeClosed`) is
no answer: the message stays in the inbox and is applied again, here or by
the partition's next owner.

`outcome_of_value`/`outcome_of_error` make the row's body; `settle(reply,
outcome)` answers the poster's caller with the same value (a value that is
not JSON — a run's snapshot — travels as None), or raises the same error
class with the same message and attributes.
"""

from __future__ import annotations

import json
from typing import Any

from cadenza import _errors
from cadenza._errors import (
    CadenzaError,
    DefinitionError,
    InternalError,
    InvalidArgument,
    InvalidOperation,
    NotFound,
    RuntimeClosed,
)
from cadenza.actors import Reply
from cadenza.persistence import DuplicateKey

REFUSALS = (InvalidOperation, NotFound, DuplicateKey, InvalidArgument, DefinitionError)

KNOWN: dict[str, type[CadenzaError]] = {
    cls.__name__: cls
    for cls in vars(_errors).values()
    if isinstance(cls, type) and issubclass(cls, CadenzaError)
}
KNOWN[DuplicateKey.__name__] = DuplicateKey


def refusal_of(exc: BaseException) -> CadenzaError | None:
    """The owner's refusal `exc` carries (itself or its cause), or None: not an answer."""
    for candidate in (exc, exc.__cause__):
        if isinstance(candidate, REFUSALS) and not isinstance(candidate, RuntimeClosed):
            return candidate
    return None


def _json_or_none(value: Any) -> Any:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return None
    return value


def outcome_of_value(value: Any) -> dict[str, Any]:
    """The outcome of a call answered with `value`."""
    return {"value": _json_or_none(value)}


def outcome_of_error(exc: CadenzaError) -> dict[str, Any]:
    """The outcome of a call refused with `exc` (see `refusal_of`)."""
    attrs = {k: v for k, v in vars(exc).items() if _json_or_none(v) is not None or v is None}
    return {"error": type(exc).__name__, "message": str(exc), "attrs": attrs}


def error_of(outcome: dict[str, Any]) -> CadenzaError:
    """The error an outcome holds, rebuilt as its class (InternalError for an unknown one)."""
    name, message = str(outcome["error"]), str(outcome.get("message", ""))
    cls = KNOWN.get(name)
    if cls is None:  # written by a newer cadenza
        return InternalError(f"the run's owner refused the call with {name}: {message}")
    exc = cls.__new__(cls)
    Exception.__init__(exc, message)
    vars(exc).update(outcome.get("attrs") or {})
    return exc


def settle(reply: Reply[Any], outcome: dict[str, Any]) -> None:
    """Answer `reply` as the owner answered the call `outcome` records."""
    if "error" in outcome:
        reply.fail(error_of(outcome))
    else:
        reply.set(outcome.get("value"))
