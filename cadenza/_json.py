"""Checks at the public face: payloads JSON can hold, task ids that name their run."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from cadenza._errors import PayloadError

_STRICT_JSON = json.JSONEncoder(allow_nan=False)  # built once; json.dumps builds one per call


def check_payload(what: str, value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise PayloadError(f"{what} must be a dict, got {type(value).__name__}")
    try:
        _STRICT_JSON.encode(value)
    except (TypeError, ValueError) as exc:
        raise PayloadError(f"{what} is not JSON-serialisable: {exc}") from None
    return dict(value)
