"""Failures visible: a worker that cannot be awaited is refused at registration."""

from __future__ import annotations

import functools
from typing import Any

import pytest

import cadenza


def plain(data: dict[str, Any]) -> dict[str, Any]:
    return data


async def coroutine(data: dict[str, Any]) -> dict[str, Any]:
    return data


class AsyncCallable:
    async def __call__(self, data: dict[str, Any]) -> dict[str, Any]:
        return data


@pytest.mark.parametrize(
    "fn", [plain, lambda data: data, print, "not a function", None.__class__], ids=repr
)
def test_a_worker_that_is_not_a_coroutine_function_is_refused(fn: Any) -> None:
    """A plain function (or not a function at all) is a DefinitionError naming `fn`."""
    rt = cadenza.Runtime(":memory:")
    with pytest.raises(
        cadenza.DefinitionError, match="fn: a local worker must be an async function"
    ):
        rt.worker("t", fn)
    with pytest.raises(cadenza.InvalidArgument):  # also an argument of the wrong type
        rt.worker("t")(fn)


@pytest.mark.parametrize(
    "fn", [coroutine, AsyncCallable(), functools.partial(coroutine)], ids=["def", "obj", "partial"]
)
def test_async_workers_are_accepted(fn: Any) -> None:
    rt = cadenza.Runtime(":memory:")
    rt.worker("t", fn)
    assert rt.worker("u")(fn) is fn
