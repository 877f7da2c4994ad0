"""Checks of the public calls' arguments, before anything is queued.

Each raises `InvalidArgument` naming the parameter, what was expected and
what was given (a bool is not accepted where a number is meant).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Mapping
from typing import Any

from cadenza._errors import DefinitionError, InvalidArgument
from cadenza._json import check_limits, check_payload, encode_strict
from cadenza.core._status import WorkflowStatus
from cadenza.language._definition import CONDUCTOR_TYPES

PRIORITY_MAX = 99
ID_MAX = 1024  # characters in an id, name, key or reference
SECONDS_MAX = 100 * 366 * 86400.0  # a delay, wait or timeout: at most a century
CONCURRENCY_MAX = 10_000  # a local worker's (or system task's) pool
DEFINITION_DEPTH_MAX = 200  # containers nested in a definition (nested forks go deep)


class BadDefinition(InvalidArgument, DefinitionError):
    """A definition that is no JSON object, or past the payload limits: both errors at once.

    `register` has always raised `DefinitionError` for a malformed
    definition; one that is not even a dict of JSON is also an argument of
    the wrong type, so either `except` catches it.
    """

    def __init__(self, argument: str, problem: str):
        InvalidArgument.__init__(self, argument, problem)  # DefinitionError's init follows in MRO
        self.argument = argument
        self.problem = problem
        self.workflow = None
        self.ref = None


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def text(argument: str, value: Any) -> str:
    """A non-empty string of at most `ID_MAX` characters that SQLite and JSON can hold."""
    if not isinstance(value, str):
        raise InvalidArgument(argument, f"expected a string, got {type(value).__name__}")
    if not value or len(value) > ID_MAX:
        raise InvalidArgument(argument, f"expected 1 to {ID_MAX} characters, got {len(value)}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidArgument(
            argument, f"not valid text (a lone surrogate?): {_shown(value)}"
        ) from None
    return value


def optional_text(argument: str, value: Any) -> str | None:
    """`text`, or None."""
    return None if value is None else text(argument, value)


def optional_status(argument: str, value: Any) -> WorkflowStatus | None:
    """A run status by name, any case (`"failed"` is FAILED), or None."""
    if value is None:
        return None
    try:
        return WorkflowStatus(text(argument, value).upper())
    except ValueError:
        known = ", ".join(status.value for status in WorkflowStatus)
        raise InvalidArgument(argument, f"expected one of {known}, got {_shown(value)}") from None


def integer(argument: str, value: Any, low: int, high: int) -> int:
    """An int (not a bool) from `low` to `high`."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(argument, f"expected an integer, got {type(value).__name__}")
    if not low <= value <= high:
        raise InvalidArgument(argument, f"expected an integer from {low} to {high}, got {value}")
    return value


def priority(value: Any) -> int:
    """A run's priority: 0 to 99, higher first."""
    return integer("priority", value, 0, PRIORITY_MAX)


def seconds(argument: str, value: Any, *, optional: bool = True) -> float | None:
    """A finite, non-negative number of seconds (or None when `optional`)."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidArgument(argument, f"expected seconds as a number, got {type(value).__name__}")
    try:
        number = float(value)
    except OverflowError:
        raise InvalidArgument(argument, "expected at most a century of seconds, got more") from None
    if not math.isfinite(number) or number < 0:
        raise InvalidArgument(argument, f"expected finite, non-negative seconds, got {value!r}")
    if number > SECONDS_MAX:
        raise InvalidArgument(argument, f"expected at most {SECONDS_MAX:.0f} s, got {value!r}")
    return number


def flag(argument: str, value: Any) -> bool:
    """A bool (True or False, nothing merely truthy)."""
    if not isinstance(value, bool):
        raise InvalidArgument(argument, f"expected True or False, got {type(value).__name__}")
    return value


def definition(argument: str, value: Any) -> Mapping[str, Any]:
    """A definition: a dict JSON can hold, within the payload limits (`BadDefinition` if not)."""
    if not isinstance(value, Mapping):
        raise BadDefinition(argument, f"expected a dict, got {type(value).__name__}")
    try:
        check_limits(dict(value), max_depth=DEFINITION_DEPTH_MAX)
        encode_strict(dict(value))
    except (TypeError, ValueError) as exc:
        raise BadDefinition(argument, str(exc)) from None
    return value


def routes(argument: str, value: Any) -> dict[str, str] | None:
    """A map of task type to worker group, or None."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise InvalidArgument(
            argument, f"expected a dict of str to str, got {type(value).__name__}"
        )
    return {text(f"{argument} key", k): text(f"{argument}[{k!r}]", v) for k, v in value.items()}


def worker(fn: Any) -> Any:
    """`fn` if it is an async function (or an object whose `__call__` is one).

    Raises:
        BadDefinition: anything else (a `DefinitionError` and an `InvalidArgument`):
            a plain function would block the event loop, and its result could
            not be awaited.
    """
    if inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
        getattr(fn, "__call__", None)  # noqa: B004 (an object whose __call__ is async)
    ):
        return fn
    raise BadDefinition(
        "fn",
        f"a local worker must be an async function (async def fn(input) -> dict | None), "
        f"got {_shown(fn)}",
    )


def start_args(
    name: Any,
    input: Any,
    version: Any,
    priority_value: Any,
    key: Any,
    correlation_id: Any,
    task_to_group: Any,
    parent_id: Any,
) -> tuple[dict[str, str] | None, dict[str, Any]]:
    """`rt.start(...)`'s arguments checked; returns the routes and the run's input.

    Raises:
        InvalidArgument: naming the first bad one.
        PayloadError: `input` is not a JSON object.
    """
    text("name", name)
    if version is not None:
        integer("version", version, 0, 2**31)
    priority(priority_value)
    optional_text("key", key)
    optional_text("correlation_id", correlation_id)
    optional_text("parent_id", parent_id)
    return routes("task_to_group", task_to_group), check_payload("workflow input", input)


def concurrency(value: Any, limit: int = CONCURRENCY_MAX) -> None:
    """A local worker's `concurrency`: 1 to `limit`, or `(min, max)` of those with min <= max."""
    if isinstance(value, tuple):
        if len(value) != 2:
            raise InvalidArgument("concurrency", f"expected n or (min, max), got {_shown(value)}")
        integer("concurrency", value[0], 1, limit)
        integer("concurrency", value[1], 1, limit)
        if value[0] > value[1]:
            raise InvalidArgument("concurrency", f"(min, max) needs min <= max, got {value!r}")
        return
    integer("concurrency", value, 1, limit)


def system_task(task_type: Any, fn: Any, async_complete: Any) -> str:
    """A system task's type (one Conductor does not know), function (None: given later, to
    the decorator) and `async_complete`.

    Raises:
        InvalidArgument: a type that is not text, or one Conductor knows (a
            built-in type cannot be replaced); an `async_complete` that is
            neither None nor a bool.
        BadDefinition: `fn` is not callable.
    """
    text("task_type", task_type)
    if task_type in CONDUCTOR_TYPES:
        raise InvalidArgument(
            "task_type",
            f"{task_type!r} is a task type Conductor knows; a system task needs a type of its own",
        )
    if fn is not None and not callable(fn):
        raise BadDefinition(
            "fn", f"a system task must be a function (fn(input) -> dict | None), got {_shown(fn)}"
        )
    if async_complete is not None and not isinstance(async_complete, bool):
        raise InvalidArgument(
            "async_complete", f"expected None or a bool, got {type(async_complete).__name__}"
        )
    return str(task_type)
