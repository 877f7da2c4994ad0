"""Conductor's JSON decoded by msgspec, its validation errors as `DefinitionError`s.

Design note
-----------
The schemas are `msgspec.Struct`s with Conductor's field names and
defaults (WorkflowDef.java, WorkflowTask.java, TaskDef.java):
`WorkflowWire` and `TaskWire` in `_parse.py`, `TaskDef`, `BreakerConfig`.
Unknown fields are ignored, except in cadenza's own `circuitBreaker`. The
types below say a number's kind and bounds once; a `Number` keeps the kind
it was given (`5`, `0.05`), so the normalised JSON reads as written.

`decode` converts one object; a field given as null takes its default. A
`msgspec.ValidationError` becomes a `DefinitionError` naming the workflow,
the task reference and the field, with the value found there (msgspec's
path, like `$.retryCount`, read back against the input): `workflow 'wf',
task 'a': taskDefinition.retryCount must not be negative, got -1`. Tasks
are decoded one at a time, as the parser walks them: msgspec writes a
dict's values as `[...]` in a path, so this is how an error in a SWITCH
case still names its own task.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, TypeVar, get_args

import msgspec

from cadenza._errors import DefinitionError

Number = Annotated[int, msgspec.Meta(ge=0)] | Annotated[float, msgspec.Meta(ge=0)]
Float = Annotated[float, msgspec.Meta(ge=0)]  # a non-negative number, made a float
Positive = Annotated[float, msgspec.Meta(gt=0)]
Count = Annotated[int, msgspec.Meta(ge=0)]
Name = Annotated[str, msgspec.Meta(min_length=1)]

T = TypeVar("T")

_ERROR = re.compile(r"(?P<message>.*?)(?: - at `(?P<key>key` in `)?\$(?P<path>[^`]*)`)?", re.S)
_SEGMENT = re.compile(r"\.(\w+)|\[(\d+)\]|\[\.\.\.\]")  # [...]: some value of a dict
_A = {"int": "an integer", "str": "a string", "bool": "a boolean", "object": "an object",
      "array": "a list"}  # fmt: skip
_MISSING = object()


def decode(
    raw: Any,
    kind: type[T],
    *,
    workflow: str | None,
    ref: str | None = None,
    at: str = "",
    what: str = "the task",
) -> T:
    """`raw` as a `kind`; `at` is where `raw` is under the task `ref` (or the workflow)."""
    if isinstance(raw, Mapping) and None in raw.values():
        raw = {key: value for key, value in raw.items() if value is not None}
    try:
        return msgspec.convert(raw, kind)
    except msgspec.ValidationError as exc:
        problem = _problem(str(exc), raw, kind, at, what)
        raise DefinitionError(problem, workflow=workflow, ref=ref) from None


def _problem(error: str, raw: Any, kind: type, at: str, what: str) -> str:
    """msgspec's `error` (a message, then `- at `$.path``) as a problem naming the field."""
    match = _ERROR.fullmatch(error)
    assert match is not None  # the pattern matches any text
    message, field, value, name = match["message"], at, raw, ""
    for name, index in _SEGMENT.findall(match["path"] or ""):
        field += f".{name}" if name else f"[{index or '...'}]"
        value = _step(value, name or (int(index) if index else None))
    field = field.lstrip(".")
    words = _words(message, kind, name)
    if words is None:  # a __post_init__ check's own words
        return f"{field}: {message}" if field else message
    if match["key"]:
        return f"a key of {field} {words}"
    got = f", got {_short(value)}" if words.startswith("must") and value is not _MISSING else ""
    return f"{field or what} {words}{got}"


def _step(value: Any, step: str | int | None) -> Any:
    """`value[step]`, or `_MISSING` (a dict's `[...]` is None: which value is not said)."""
    if value is _MISSING or step is None:
        return _MISSING
    try:
        return value[step]
    except (KeyError, IndexError, TypeError):
        return _MISSING


def _words(message: str, kind: type, name: str) -> str | None:
    """msgspec's `message` in words to follow the field's name; None if it is not msgspec's."""
    if found := re.fullmatch(r"Expected `[^`]+`( of length)? ([<>]=?) ([\d.]+?)(\.0)?", message):
        length, op, bound = found[1], found[2], found[3]
        if length:
            return "must not be empty" if op + bound == ">=1" else f"must be of length {op} {bound}"
        return {">=0": "must not be negative", ">0": "must be positive"}.get(
            op + bound, f"must be {op} {bound}"
        )
    if found := re.fullmatch(r"Expected `([^`]+)`, got `[^`]+`", message):
        types = [name for name in found[1].split(" | ") if name != "null"]
        return "must be " + (
            "a number" if "float" in types else " or ".join(map(_A.get, types, types))
        )
    if found := re.fullmatch(
        r"Object (missing required|contains unknown) field `([^`]+)`", message
    ):
        how = "has no" if found[1].startswith("missing") else "has an unknown field"
        return f"{how} {found[2]!r}"
    if message.startswith("Invalid enum value"):
        for info in msgspec.structs.fields(kind):
            if info.encode_name == name:
                values: Any = info.type  # a Literal or an Enum
                choices = get_args(values) or [member.value for member in values]
                return "must be one of " + ", ".join(map(str, choices))
    return None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
