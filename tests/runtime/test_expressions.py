"""Conductor `${...}` expressions: resolve, lookup and check_template."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cadenza._errors import DefinitionError
from cadenza.language._expressions import check_template, lookup, resolve

INPUT: dict[str, Any] = {
    "n": 3,
    "pi": 3.5,
    "name": "ada",
    "flag": True,
    "off": False,
    "nothing": None,
    "obj": {"a": 1, "b": [1, 2]},
    "items": [10, 20, 30],
    "my-key": "dashed",
    "where": {"wherenot": [7]},
    "escaped": "cost: $${price}",
}
T1: dict[str, Any] = {
    "output": {"x": 42, "items": [{"id": "first"}, {"id": "second"}], "empty": {}},
    "status": "COMPLETED",
}


def roots(name: str) -> Any:
    return {"workflow": {"input": INPUT}, "t1": T1, "my-task": {"output": {"x": "ok"}}}.get(name)


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("${workflow.input.n}", 3),
        ("${workflow.input.pi}", 3.5),
        ("${workflow.input.name}", "ada"),
        ("${workflow.input.flag}", True),
        ("${workflow.input.off}", False),
        ("${workflow.input.nothing}", None),
        ("${workflow.input.obj}", {"a": 1, "b": [1, 2]}),
        ("${workflow.input.items}", [10, 20, 30]),
        ("${t1.output.empty}", {}),
    ],
)
def test_a_whole_placeholder_keeps_the_json_type(template: str, expected: Any) -> None:
    result = resolve(template, roots)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("n=${workflow.input.n}", "n=3"),
        ("${workflow.input.name}!", "ada!"),
        ("flag=${workflow.input.flag},${workflow.input.off}", "flag=true,false"),
        ("v=${workflow.input.nothing}", "v=null"),
        ("v=${workflow.input.missing}", "v=null"),
        ("obj=${workflow.input.obj}", 'obj={"a":1,"b":[1,2]}'),
        ("items=${workflow.input.items}", "items=[10,20,30]"),
        ("${workflow.input.n}${workflow.input.n}", "33"),
        ("${workflow.input.name} is ${t1.status}", "ada is COMPLETED"),
    ],
)
def test_embedded_placeholders_become_text(template: str, expected: str) -> None:
    assert resolve(template, roots) == expected


@pytest.mark.parametrize(
    "template",
    [
        "${workflow.input.missing}",
        "${workflow.input.obj.missing.deeper}",
        "${workflow.input.items[7]}",
        "${workflow.input.n.below_a_scalar}",
        "${t9.output.x}",
        "${nobody}",
        "${t1.output.items[5].id}",
    ],
)
def test_a_missing_path_resolves_to_none_and_never_raises(template: str) -> None:
    assert resolve(template, roots) is None


def test_an_unparseable_path_resolves_to_none_at_run_time() -> None:
    # check_template rejects it at registration; resolving must still never raise.
    assert resolve("${workflow.input.[}", roots) is None
    assert resolve("x=${t1.output..}", roots) == "x=null"


def test_double_dollar_escapes_a_literal_placeholder() -> None:
    assert resolve("$${workflow.input.n}", roots) == "${workflow.input.n}"
    assert resolve("a $${x} b ${workflow.input.n}", roots) == "a ${x} b 3"


def test_substituted_text_is_inserted_verbatim_even_when_it_contains_an_escape() -> None:
    assert resolve("said: ${workflow.input.escaped}", roots) == "said: cost: $${price}"
    assert resolve("${workflow.input.escaped}", roots) == "cost: $${price}"


def test_nested_dicts_and_lists_are_resolved_recursively() -> None:
    template = {
        "a": ["${workflow.input.n}", {"b": "x${workflow.input.n}", "c": [["${t1.output.x}"]]}],
        "plain": "text",
        "number": 5,
        "none": None,
        "bool": False,
    }
    assert resolve(template, roots) == {
        "a": [3, {"b": "x3", "c": [[42]]}],
        "plain": "text",
        "number": 5,
        "none": None,
        "bool": False,
    }


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("${t1.output.x}", 42),
        ("${t1.output.items[1].id}", "second"),
        ("${t1.output.items[0]}", {"id": "first"}),
        ("${workflow.input.my-key}", "dashed"),
        ("${my-task.output.x}", "ok"),
        ("${workflow.input.where.wherenot[0]}", 7),
        ("${ workflow.input.n }", 3),
    ],
)
def test_task_roots_array_indexes_and_unusual_keys_resolve(template: str, expected: Any) -> None:
    assert resolve(template, roots) == expected


def test_lookup_gives_the_root_itself_when_the_path_has_no_rest() -> None:
    assert lookup("t1", roots) == T1
    assert lookup("nobody", roots) is None


def test_lookup_of_a_wildcard_gives_a_list_even_for_one_match() -> None:
    assert lookup("t1.output.items[*].id", roots) == ["first", "second"]
    assert lookup("workflow.input.where.*", roots) == [[7]]


@pytest.mark.parametrize(
    "template",
    [
        "${workflow.input.[}",
        {"deep": ["ok", "x ${workflow.input..}"]},
        ["${t1.output.a b}"],
    ],
)
def test_check_template_raises_definition_error_for_an_unparseable_path(template: Any) -> None:
    with pytest.raises(DefinitionError, match="cannot parse expression"):
        check_template(template)


@pytest.mark.parametrize(
    "template",
    [
        {"a": "${workflow.input.x}", "b": ["${t1.output.items[0].id}", 3, None]},
        "$${not a [ path}",
        "no placeholders at all",
        "${workflow}",
        42,
    ],
)
def test_check_template_accepts_valid_and_escaped_placeholders(template: Any) -> None:
    check_template(template)  # raises on failure


# -- properties ---------------------------------------------------------------

identifiers = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,6}", fullmatch=True) | st.sampled_from(
    ["where", "wherenot", "true", "false", "null", "and", "in", "len", "id"]
)
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(identifiers, inner, max_size=3),
    max_leaves=10,
)
documents = st.dictionaries(identifiers, json_values, min_size=1, max_size=4)


@settings(max_examples=150)
@given(doc=documents, data=st.data())
def test_a_whole_placeholder_returns_exactly_the_value_at_an_existing_path(
    doc: dict[str, Any], data: st.DataObject
) -> None:
    """For any JSON-like dict and any existing dotted path of identifier keys, the
    whole placeholder `${workflow.input.<path>}` resolves to the value at that path."""
    path: list[str] = []
    node: Any = doc
    while isinstance(node, dict) and node and (not path or data.draw(st.booleans())):
        key = data.draw(st.sampled_from(sorted(node)))
        path.append(key)
        node = node[key]
    template = "${workflow.input." + ".".join(path) + "}"
    result = resolve(template, lambda name: {"input": doc} if name == "workflow" else None)
    assert result == node
    assert type(result) is type(node)


def _no_lookups(name: str) -> Any:
    raise AssertionError(f"a template without placeholders looked up {name!r}")


text_without_placeholders = st.text(max_size=12).filter(lambda s: "${" not in s)


@settings(max_examples=150)
@given(
    template=st.recursive(
        scalars.map(lambda v: v if not isinstance(v, str) or "${" not in v else "")
        | text_without_placeholders,
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
        ),
        max_leaves=10,
    )
)
def test_a_template_without_placeholders_is_returned_equal(template: Any) -> None:
    """Any template with no `${` comes back equal, and no root is ever looked up."""
    assert resolve(template, _no_lookups) == template
