"""Tasks a definition does not spell out: dynamic forks and inline sub-workflow definitions.

Design note
-----------
FORK_JOIN_DYNAMIC (Conductor's legacy form): the task's resolved input
holds, under `dynamicForkTasksParam`, a list of `WorkflowTask` objects and,
under `dynamicForkTasksInputParamName`, a map from each one's reference to
its input. `plan_dynamic_fork` checks and parses them once, when the fork
is scheduled; the fork completes at once with output `forkedTasks` (the
references) and `forkedTaskDefs` (the tasks, their inputs merged into
`inputParameters` with `${` escaped, so values are taken literally, as
Conductor adds them to the forked tasks' input). From then on the state
carries the branches: `dynamic_specs` parses them back from that output,
so the walker (and recovery, which only folds events) never re-reads the
fork's input. The JOIN that follows the fork joins on `forkedTasks`.
Anything malformed (not a list of tasks, an input that is not a map, a
reference already used) is a problem string, which fails the fork naming it.

`spec_for` finds a task's spec in the definition or, for a forked task,
in its fork's output.

Inline SUB_WORKFLOW definitions (`subWorkflowParam.workflowDefinition`)
are parsed with their parent and registered alongside it under
`inline_key(definition)` (the name and a digest of its JSON), so the
child starts, and recovers, like any registered workflow, and never
shadows a workflow registered under the same name.
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
