"""Inline SUB_WORKFLOW definitions: the names they are registered under.

An inline definition (`subWorkflowParam.workflowDefinition`) is parsed with
its parent and registered alongside it under `inline_key(definition)` (the
name and a digest of its JSON), so the child starts, and recovers, like any
registered workflow, and never shadows a workflow registered under the same
name. Dynamic forks live in `cadenza.core._dynamic`.
"""

from __future__ import annotations

import hashlib
import json

from cadenza.language._definition import WorkflowDef, to_conductor_json, walk

INLINE_VERSION = -2  # the journal's definition table: inline sub-workflow definitions


def inline_key(definition: WorkflowDef) -> str:
    """The name an inline sub-workflow definition is registered under: its name and digest."""
    body = json.dumps(to_conductor_json(definition), sort_keys=True, separators=(",", ":"))
    return f"{definition.name}@inline:{hashlib.sha256(body.encode()).hexdigest()[:16]}"


def inline_definitions(definition: WorkflowDef) -> list[WorkflowDef]:
    """Every inline sub-workflow definition in `definition`, nested ones first."""
    found: list[WorkflowDef] = []
    for task in walk(definition.tasks):
        if task.sub_workflow is not None:
            found.extend(inline_definitions(task.sub_workflow))
            found.append(task.sub_workflow)
    return found
