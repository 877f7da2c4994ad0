"""Conductor's `${...}` input expressions, resolved against a run's state.

Design note
-----------
`inputParameters` (and `outputParameters`) are JSON templates. Every string
in them may hold placeholders `${path}`; the path's first segment names a
root (`workflow`, or a task reference) and the rest is a JSONPath into it,
as Conductor's ParametersUtils does with Jayway JsonPath:

- a string that is exactly one placeholder takes the value's JSON type
  (`"${workflow.input.n}"` -> `3`, a dict stays a dict);
- placeholders inside a longer string are replaced by the value's text
  (`null` for a missing value, JSON for containers);
- a path that resolves to nothing gives `None` — never an error;
- `$${` escapes a literal `${`;
- dicts and lists are resolved recursively; other values pass through.

Resolution is pure: the caller supplies a `Roots` lookup, so the same code
serves decide() and the tests.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from jsonpath_ng.exceptions import JsonPathParserError
from jsonpath_ng.ext.parser import parse as _parse_jsonpath

from cadenza._errors import DefinitionError

Roots = Callable[[str], Any]
"""Looks up a root by name (`"workflow"` or a task reference); None if unknown."""

_PLACEHOLDER = re.compile(r"(?<!\$)\$\{([^{}]+)\}")
_WHOLE = re.compile(r"^\$\{([^{}]+)\}$")
_TOKEN = re.compile(r"\$\$\{|\$\{([^{}]+)\}")  # an escape or a placeholder, left to right
# jsonpath-ng lexes these as operators; quoted, they are plain keys as in Jayway.
_RESERVED_KEY = re.compile(r"(?<=\.)(where|wherenot)(?=$|[.\[])")


@lru_cache(maxsize=4096)
def _compiled(path: str) -> Any:
    path = path if path.startswith("[") else "." + path
    return _parse_jsonpath(_RESERVED_KEY.sub(r'"\1"', "$" + path))


_ROOT = re.compile(r"^([^.\[]*)\.?(.*)$", re.DOTALL)


def _split(path: str) -> tuple[str, str]:
    """`root.a.b` -> (`root`, `a.b`); `root['a']` -> (`root`, `['a']`), as Jayway reads it."""
    match = _ROOT.match(path.strip())
    assert match is not None  # the pattern matches any text
    return match.group(1), match.group(2)


def check_path(path: str) -> None:
    """Raise `DefinitionError` if a placeholder path cannot be parsed."""
    _root, rest = _split(path)
    if rest:
        try:
            _compiled(rest)
        except (JsonPathParserError, Exception) as exc:
            raise DefinitionError(f"cannot parse expression ${{{path}}}: {exc}") from exc


def check_template(template: Any) -> None:
    """Validate every placeholder in a template; raises `DefinitionError`."""
    if isinstance(template, str):
        for match in _PLACEHOLDER.finditer(template):
            check_path(match.group(1))
    elif isinstance(template, Mapping):
        for value in template.values():
            check_template(value)
    elif isinstance(template, list):
        for value in template:
            check_template(value)


_DOTTED = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_OPERATOR_WORDS = frozenset({"where", "wherenot"})  # jsonpath-ng's, quoted by _compiled


@lru_cache(maxsize=8192)
def _plan(path: str) -> tuple[str, str, tuple[str, ...] | None]:
    """(root, the rest, its keys if a plain dotted path): parsed once per distinct path."""
    root_name, rest = _split(path)
    keys = tuple(rest.split(".")) if rest and _DOTTED.match(rest) else None
    if keys is not None and _OPERATOR_WORDS.intersection(keys):
        keys = None
    return root_name, rest, keys


@lru_cache(maxsize=8192)
def _whole_path(template: str) -> str | None:
    """The path of a template that is one placeholder and nothing else, else None."""
    whole = _WHOLE.match(template)
    return None if whole is None else whole.group(1)


def _walk_dotted(root: Any, keys: tuple[str, ...]) -> Any:
    """`a.b.c` over nested dicts: what JSONPath gives for a plain dotted path."""
    value = root
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
        if value is None:
            return None
    return value


def lookup(path: str, roots: Roots) -> Any:
    """The value at `path` (`root.json.path`), or None when anything is missing."""
    root_name, rest, keys = _plan(path)
    root = roots(root_name)
    if root is None or not rest:
        return root
    if keys is not None:
        return _walk_dotted(root, keys)
    try:
        matches = _compiled(rest).find(root)
    except Exception:
        return None
    if not matches:
        return None
    if len(matches) == 1 and "*" not in rest and ".." not in rest and "?" not in rest:
        return matches[0].value
    return [m.value for m in matches]


def _as_text(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def resolve(template: Any, roots: Roots) -> Any:
    """Resolve a JSON template against `roots`; see the module note."""
    if isinstance(template, str):
        if "${" not in template:
            return template
        whole = _whole_path(template)
        if whole is not None:
            return lookup(whole, roots)
        return _TOKEN.sub(
            lambda m: "${" if m.group(1) is None else _as_text(lookup(m.group(1), roots)),
            template,
        )
    if isinstance(template, Mapping):
        return {key: resolve(value, roots) for key, value in template.items()}
    if isinstance(template, list):
        return [resolve(value, roots) for value in template]
    return template
