"""Strict JSON, once: payloads JSON can hold (no NaN, no infinity), and copies of them."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from cadenza._errors import PayloadError

_STRICT_JSON = json.JSONEncoder(allow_nan=False)  # built once; json.dumps builds one per call


def encode_strict(value: Any) -> str:
    """`value` as JSON text; `TypeError`/`ValueError` for what JSON cannot hold (NaN included)."""
    return _STRICT_JSON.encode(value)


def copy_json(value: Any) -> Any:
    """A deep copy of a JSON value, through its text (so it shares nothing with `value`)."""
    return json.loads(_STRICT_JSON.encode(value))


def check_payload(what: str, value: Any) -> dict[str, Any]:
    """`value` (None: empty) as a dict JSON can hold; `PayloadError` naming `what` if not."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise PayloadError(f"{what} must be a dict, got {type(value).__name__}", argument=what)
    try:
        _STRICT_JSON.encode(value)
    except (TypeError, ValueError) as exc:
        raise PayloadError(f"{what} is not JSON-serialisable: {exc}", argument=what) from None
    return dict(value)
