"""Input expressions naming a task the workflow does not define, refused at registration.

Design note
-----------
Conductor's TaskReferenceNameUniqueConstraint validates each top-level
task's `inputParameters` with ConstraintParamUtil.validateInputParam
(common/.../utils/ConstraintParamUtil.java:38-140): every `${path}` in a
string (maps and lists searched through; `$${` is an escape) whose first
`.`-separated component is neither `workflow` nor a system parameter must
name a task defined anywhere in the workflow (nested tasks included), else:
`taskReferenceName: <ref> for given task: <task name> input value: <key> of
input parameter: <value> is not defined in workflow definition.`

Like Conductor, only top-level tasks' inputs are checked (a nested task may
name an iteration's `ref__n` or a dynamically forked task). Conductor also
skips a path that is the name of an environment variable or system property
of its server; cadenza skips the system parameters (CPEWF_TASK_ID,
NETFLIX_ENV, NETFLIX_STACK) and the names of the runtime's `template_env`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from cadenza.language._definition import WorkflowDef, walk

SYSTEM_PARAMETERS = frozenset({"CPEWF_TASK_ID", "NETFLIX_ENV", "NETFLIX_STACK"})
_PLACEHOLDER = re.compile(r"(?<!\$)\$\{([^{}]*)\}")


def undefined_reference(
    definition: WorkflowDef, env_names: frozenset[str] = frozenset()
) -> tuple[str, str] | None:
    """(task reference, Conductor's message) for the first input expression that names a
    task reference the definition does not have, or None."""
    defined = {task.ref for task in walk(definition.tasks)}
    for task in definition.tasks:
        for key, value in _strings(task.input_parameters, ""):
            for found in _PLACEHOLDER.finditer(value):
                path = found.group(1)
                head = path.split(".")[0]
                if (
                    head == "workflow"
                    or path in SYSTEM_PARAMETERS
                    or path in env_names
                    or head in defined
                ):
                    continue
                return task.ref, (
                    f"taskReferenceName: {head} for given task: {task.name} input value: {key} "
                    f"of input parameter: {value} is not defined in workflow definition."
                )
    return None


def _strings(value: Any, key: str) -> Iterator[tuple[str, str]]:
    """Every (parameter key, string) in an input template: a list's strings under its key."""
    if isinstance(value, str):
        yield key, value
    elif isinstance(value, Mapping):
        for inner_key, inner in value.items():
            yield from _strings(inner, str(inner_key))
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item, key)
