"""Strict JSON, once: payloads JSON can hold (no NaN, no infinity), and copies of them.

A payload crossing into the engine (a workflow input, a task output, a
signal) is checked by encoding it and copied by decoding that text: the
copy is exactly what the journal will replay (tuples become lists, keys
strings), and it shares nothing with the caller's objects, so mutating
them afterwards changes nothing (DESIGN invariant 8). The stdlib encoder
does the check (msgspec would encode NaN as null, and datetimes, sets and
bytes as strings and lists, where the journal refuses them); msgspec's
decoder, several times faster than `json.loads`, makes the copy.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import msgspec

from cadenza._errors import PayloadError

_STRICT_JSON = json.JSONEncoder(allow_nan=False)  # built once; json.dumps builds one per call
_DECODE = msgspec.json.Decoder().decode


def encode_strict(value: Any) -> str:
    """`value` as JSON text; `TypeError`/`ValueError` for what JSON cannot hold (NaN included)."""
    return _STRICT_JSON.encode(value)


def copy_json(value: Any) -> Any:
    """A deep copy of a JSON value, through its text (so it shares nothing with `value`).

    Raises `TypeError`/`ValueError` for what JSON cannot hold, as `encode_strict`.
    """
    text = _STRICT_JSON.encode(value)
    try:
        return _DECODE(text)
    except msgspec.DecodeError:  # a lone surrogate: msgspec refuses what json reads back
        return json.loads(text)


def check_payload(what: str, value: Any) -> dict[str, Any]:
    """A copy of `value` (None: empty) as a dict JSON can hold; `PayloadError` naming `what` if not."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise PayloadError(f"{what} must be a dict, got {type(value).__name__}", argument=what)
    try:
        copied: dict[str, Any] = copy_json(value)
    except (TypeError, ValueError) as exc:
        raise PayloadError(f"{what} is not JSON-serialisable: {exc}", argument=what) from None
    return copied
