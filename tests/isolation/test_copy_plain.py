"""`copy_plain`: a task's input handed to a worker shares nothing with the run's state."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from cadenza._json import copy_plain

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
