"""`Runtime.start_many`: a batch of starts checked whole, then made with one durable commit."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cadenza import _trace
from cadenza._errors import InvalidArgument
from cadenza._json import check_payload
from cadenza.engine._caller_starts import StartFields
from cadenza.engine._host import Engine
from cadenza.runtime import _arguments as check
from cadenza.runtime._calls import calls_translated

BATCH_MAX = 1_000_000  # starts in one batch


async def start_many(
    engine: Engine, name: Any, inputs: Any, version: Any, priority: Any, keys: Any
) -> list[str]:
    """Every argument checked (`InvalidArgument` naming the first bad one, the item's index
    included) before anything is queued; then the batch started as `CallerStarts.start_many`."""
    batch = _checked(name, inputs, version, priority, keys)
    definition, digest = await engine.registry.found(name, version)
    with calls_translated(f"start_many of {name!r}"), _trace.start_span(name) as span:
        run_ids = await engine.starts.start_many(definition, digest, batch)
        if span is not None:
            span.set_attribute("cadenza.workflow.count", len(run_ids))
        return run_ids


def _checked(name: Any, inputs: Any, version: Any, priority: Any, keys: Any) -> list[StartFields]:
    check.start_args(name, None, version, priority, None, None, None, None)
    _sequence("inputs", inputs)
    if len(inputs) > BATCH_MAX:
        raise InvalidArgument("inputs", f"holds {len(inputs)} items, at most {BATCH_MAX}")
    if keys is not None:
        _sequence("keys", keys)
        if len(keys) != len(inputs):
            raise InvalidArgument(
                "keys", f"holds {len(keys)} keys for {len(inputs)} inputs: one key per input"
            )
    batch = []
    for i, run_input in enumerate(inputs):
        key = None if keys is None else check.text(f"keys[{i}]", keys[i])
        checked = check_payload(f"inputs[{i}]", run_input)
        batch.append(StartFields(checked, priority, key, None, None, None))
    return batch


def _sequence(argument: str, value: Any) -> None:
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Sequence):
        raise InvalidArgument(argument, f"expected a list, got {type(value).__name__}")
