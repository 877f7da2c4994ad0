"""Which definition a `Runtime` call means: a registered one, or one given to `start`."""

from __future__ import annotations

from typing import Any

from cadenza._errors import InvalidArgument
from cadenza.engine._host import Engine
from cadenza.language._definition import WorkflowDef, to_conductor_json
from cadenza.runtime import _arguments as check


async def registered_json(engine: Engine, name: Any, version: Any) -> dict[str, Any]:
    """`Runtime.definition`: the registered definition in Conductor's JSON; `NotFound`."""
    check.text("name", name)
    if version is not None:
        check.integer("version", version, 0, 2**31)
    definition, _digest = await engine.registry.found(name, version)
    return to_conductor_json(definition)


async def to_start(
    engine: Engine, name: str, version: int | None, given: Any
) -> tuple[WorkflowDef, str]:
    """The definition `Runtime.start` starts, and its digest.

    `given` (Conductor's StartWorkflowRequest.workflowDef) is started as it
    is — journaled first, neither registered nor validated (see
    `Registry.unregistered`); it must be named `name`. Otherwise the
    registered `name` (its `version`, or the latest).

    Raises:
        NotFound: no workflow `name` (or version) is registered.
        DefinitionError: `given` cannot run at all (a malformed field).
        InvalidArgument: `given` is not a dict JSON can hold, or names another workflow.
    """
    if given is None:
        return await engine.registry.found(name, version)
    raw = check.definition("definition", given)
    if raw.get("name") != name:
        raise InvalidArgument(
            "definition", f"it is named {raw.get('name')!r}, the run {name!r}: name it so"
        )
    return await engine.registry.unregistered(raw)
