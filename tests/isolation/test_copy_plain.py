"""`copy_plain` and `copy_json`: a payload crossing into or out of the engine shares nothing
with the caller's objects, and is what a replay of the journal reads."""

from __future__ import annotations

import datetime
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cadenza._json import copy_json, copy_plain

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


def _containers(value: Any) -> list[Any]:
    found = [value] if isinstance(value, (dict, list)) else []
    inner = value.values() if isinstance(value, dict) else value if isinstance(value, list) else []
    for item in inner:
        found.extend(_containers(item))
    return found


@given(json_values)
def test_a_copy_is_equal_and_shares_no_container(value: Any) -> None:
    copied = copy_plain(value)
    assert copied == value
    originals = {id(c) for c in _containers(value)}
    assert not originals & {id(c) for c in _containers(copied)}


def test_tuples_come_back_as_lists_as_a_replay_reads_them() -> None:
    assert copy_plain({"a": (1, (2, 3))}) == {"a": [1, [2, 3]]}


class _Opaque:
    def __init__(self) -> None:
        self.items = [1, 2]


def test_a_value_msgspec_cannot_copy_is_deep_copied() -> None:
    value = {"object": _Opaque()}
    copied = copy_plain(value)
    assert copied["object"].items == [1, 2]
    assert copied["object"] is not value["object"]
    assert copied["object"].items is not value["object"].items


payloads = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats()
    | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text() | st.integers(0, 9), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(payloads)
def test_a_payload_copy_is_what_a_replay_reads_or_refused_as_the_strict_encoder_refuses(
    value: Any,
) -> None:
    """`copy_json`'s fast copy never differs from the strict stdlib round trip."""
    try:
        expected = json.loads(json.dumps(value, allow_nan=False))
    except ValueError:
        with pytest.raises(ValueError, match="not a finite number"):
            copy_json(value)
        return
    copied = copy_json(value)
    assert copied == expected
    assert not {id(c) for c in _containers(value)} & {id(c) for c in _containers(copied)}


@pytest.mark.parametrize(
    "value", [b"bytes", {1, 2}, datetime.date(2026, 1, 1), _Opaque(), json.JSONDecoder]
)
def test_what_json_cannot_hold_is_refused_by_the_payload_copy(value: Any) -> None:
    """msgspec would write these as strings, lists or objects; the copy refuses them."""
    with pytest.raises(TypeError):
        copy_json({"x": [value]})
