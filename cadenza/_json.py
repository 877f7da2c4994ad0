"""Strict JSON, once: payloads JSON can hold (no NaN, no infinity), and copies of them.

A payload crossing into the engine (a workflow input, a task output, a
signal) is checked by encoding it and copied by decoding that text: the
copy is exactly what the journal will replay (tuples become lists, keys
strings), and it shares nothing with the caller's objects, so mutating
them afterwards changes nothing (DESIGN invariant 8). msgspec encodes and
decodes it, several times faster than the stdlib, and its copy is kept if
it equals the value; otherwise (a tuple, or what JSON cannot hold, which
msgspec writes anyway: datetimes, sets and bytes as strings and lists) the
stdlib's strict encoder does the check, as the journal does.

Limits, checked before encoding (as a JSON parser limits its recursion): a
payload nests at most `MAX_DEPTH` (100) containers deep, its integers fit
in signed 64 bits, its floats are finite and its strings are valid text
(no lone surrogate). Deeper or larger values would be accepted by the
encoder and then break every later read of the run (`RecursionError` in
`get`, `wait`, `runs`), or be read back by other systems as something else.
The walk is iterative, so a value nested 100,000 deep is refused, not
overflowing the stack.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Mapping
from typing import Any

import msgspec

from cadenza._errors import PayloadError

MAX_DEPTH = 100  # containers nested in one payload, like a JSON parser's recursion limit
INT_MIN, INT_MAX = -(2**63), 2**63 - 1  # signed 64-bit, what SQLite, Java and Conductor hold

_STRICT_JSON = json.JSONEncoder(allow_nan=False)  # built once; json.dumps builds one per call
_DECODE = msgspec.json.Decoder().decode
_ENCODE_PLAIN = msgspec.json.Encoder().encode


def check_limits(value: Any, *, max_depth: int = MAX_DEPTH) -> None:
    """`ValueError` naming the place where `value` passes a limit of the module note.

    Types JSON cannot hold at all are left to the encoder (`TypeError`).
    """
    # (item, depth, path): a path is (parent path, key) or None, spelt out only on error
    stack: list[tuple[Any, int, Any]] = [(value, 0, None)]
    pop, push = stack.pop, stack.append
    while stack:
        item, depth, path = pop()
        kind = type(item)
        if kind is str:
            if not item.isascii():
                _check_text(item, path)
        elif kind is dict or kind is list or kind is tuple or isinstance(item, (dict, list, tuple)):
            if depth >= max_depth:
                raise ValueError(f"{_where(path)}: nested deeper than {max_depth} levels")
            if isinstance(item, dict):
                for key, inner in item.items():
                    if type(key) is not str or not key.isascii():
                        push((key, depth + 1, (path, "(a key)")))
                    push((inner, depth + 1, (path, key)))
            else:
                for index, inner in enumerate(item):
                    push((inner, depth + 1, (path, index)))
        elif kind is bool or item is None:
            continue
        elif isinstance(item, int):
            if not INT_MIN <= item <= INT_MAX:
                shown = repr(item) if item.bit_length() < 128 else "an integer"
                raise ValueError(f"{_where(path)}: {shown} is beyond signed 64 bits")
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise ValueError(f"{_where(path)}: {item!r} is not a finite number")
        elif isinstance(item, str):
            _check_text(item, path)


def _check_text(text: str, path: Any) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        shown = repr(text) if len(text) <= 40 else repr(text[:37]) + "..."
        raise ValueError(f"{_where(path)}: {shown} is not valid text (a lone surrogate?)") from None


def _where(path: Any) -> str:
    """`$.a[2].b` for the path (parent, key) chain; the first 10 steps of a deep one."""
    keys: list[Any] = []
    while path is not None:
        path, key = path
        keys.append(key)
    keys.reverse()
    shown = "".join(f"[{k}]" if isinstance(k, int) else f".{str(k)[:20]!r}" for k in keys[:10])
    return "$" + shown + ("..." if len(keys) > 10 else "")


def encode_strict(value: Any) -> str:
    """`value` as JSON text; `TypeError`/`ValueError` for what JSON cannot hold (NaN included)."""
    return _STRICT_JSON.encode(value)


def copy_json(value: Any) -> Any:
    """A deep copy of a JSON value, through its text (so it shares nothing with `value`).

    Raises `TypeError`/`ValueError` for what JSON cannot hold, as `encode_strict`,
    and `ValueError` for a value past the limits of the module note.
    """
    check_limits(value)
    fast = fast_round_trip(value)
    if fast is not None:  # the usual payload: no tuple, nothing JSON cannot hold
        return fast[1]
    text = _STRICT_JSON.encode(value)
    try:
        return _DECODE(text)
    except msgspec.DecodeError:  # a lone surrogate: msgspec refuses what json reads back
        return json.loads(text)


_NOT_FAST = (msgspec.MsgspecError, TypeError, ValueError, OverflowError, RecursionError)


def fast_round_trip(value: Any) -> tuple[bytes, Any] | None:
    """msgspec's JSON bytes of `value` and their reading, if that reading equals `value`;
    None otherwise (a tuple, NaN, or what JSON cannot hold, which msgspec writes anyway:
    datetimes, sets and bytes as strings and lists), for the strict stdlib encoder to
    take. Never raises."""
    try:
        data = _ENCODE_PLAIN(value)
        read = _DECODE(data)
    except _NOT_FAST:
        return None
    return (data, read) if read == value else None


def decode_json(data: bytes | str) -> Any:
    """The value of JSON text, as `json.loads` reads it; `ValueError` if it is not JSON.

    msgspec's decoder reads it (several times faster); text it refuses (a lone
    surrogate, which `json.loads` reads) is read by `json.loads`, whose error
    names what is wrong.
    """
    try:
        return _DECODE(data)
    except msgspec.DecodeError:
        return json.loads(data)


def copy_plain(value: Any) -> Any:
    """A deep copy of a value the engine already holds as checked JSON (a task's input).

    No check is made again: msgspec encodes and decodes it, eight times as fast
    as `copy.deepcopy`, and the copy is what a replay of the journal reads (lists,
    never tuples). A value msgspec cannot copy is copied by `copy.deepcopy`.
    """
    try:
        return _DECODE(_ENCODE_PLAIN(value))
    except (TypeError, ValueError, msgspec.DecodeError):
        return copy.deepcopy(value)


def check_payload(what: str, value: Any) -> dict[str, Any]:
    """A copy of `value` (None: empty) as a dict JSON can hold; `PayloadError` naming `what` if not."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise PayloadError(f"{what} must be a dict, got {type(value).__name__}", argument=what)
    try:
        copied: dict[str, Any] = copy_json(value)
    except (TypeError, ValueError, RecursionError) as exc:
        raise PayloadError(f"{what} is not JSON-serialisable: {exc}", argument=what) from None
    return copied
