"""Checks at the public face: payloads JSON can hold, task ids that name their run."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from cadenza._errors import NotFound, PayloadError

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


def run_id_of(task_id: str) -> str:
    """The run a task id belongs to (task ids are `<run id>-<n>`)."""
    run_id, sep, number = task_id.rpartition("-")
    if not sep or not number.isdigit():
        raise NotFound("task", task_id)
    return run_id
