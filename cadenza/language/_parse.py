"""Conductor's `WorkflowDef` JSON to a `WorkflowDef`: decoded, checked, normalised.

Design note
-----------
`parse_workflow_def` decodes the definition with `WorkflowWire` and each
task with `TaskWire`, their schemas (Conductor's field names and defaults
from WorkflowDef.java and WorkflowTask.java; see `_wire.py` for decoding
and its errors). It walks into the task lists of control-flow tasks, an
inline `taskDefinition` (`_taskdef.py`) and an inline sub-workflow
definition, and checks what a schema does not say: a task's type is one
Conductor knows and cadenza runs, or one of `system_types` (a system task a
runtime registered: Conductor's USER_DEFINED), `${...}` expressions parse,
the whole is JSON; then the structure (`_validate.py`). `system_types=None`
accepts any type Conductor does not know (a definition journaled earlier,
read back: whether its system task is registered is the runtime's question,
asked when the task is scheduled).

The normalised JSON (`WorkflowDef.raw`, what `to_conductor_json` gives
back) is what was decoded: Conductor's defaults filled in, unknown fields
dropped, a task's optional fields only when given, and nested task lists
only where the task's type has them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal

import msgspec

from cadenza._errors import DefinitionError
from cadenza.language._definition import CONDUCTOR_TYPES, SUPPORTED_TYPES, TaskSpec, WorkflowDef
from cadenza.language._expressions import check_template
from cadenza.language._script import engine_available
from cadenza.language._taskdef import TaskDef, TimeoutPolicy
from cadenza.language._validate import unique_refs, validate
from cadenza.language._wire import Count, Name, Number, decode

RawTask = dict[str, Any]  # a nested task, decoded when the parser reaches it (see _wire.py)


class TaskWire(msgspec.Struct, kw_only=True, rename="camel"):
    """Conductor's WorkflowTask JSON."""

    name: Name
    task_reference_name: Name
    type: str = "SIMPLE"
    input_parameters: dict[str, Any] = {}
    optional: bool = False
    start_delay: Number = 0
    async_complete: bool = False
    permissive: bool = False
    # normalised only when given (the fields whose default is None)
    description: str | None = None
    task_definition: dict[str, Any] | None = None
    retry_count: Count | None = None  # overrides the TaskDef's
    rate_limited: bool | None = None
    case_value_param: str | None = None  # DECISION
    case_expression: str | None = None  # DECISION, JavaScript
    evaluator_type: str | None = None  # SWITCH
    expression: str | None = None  # SWITCH
    loop_condition: str | None = None  # DO_WHILE, JavaScript
    items: Any = None  # DO_WHILE over a list
    sub_workflow_param: dict[str, Any] | None = None
    sink: str | None = None
    dynamic_fork_tasks_param: str | None = None
    dynamic_fork_tasks_input_param_name: str | None = None
    dynamic_task_name_param: str | None = None  # DYNAMIC
    default_exclusive_join_task: list[str] | None = None  # EXCLUSIVE_JOIN
    # nested task lists: normalised only where the type has them
    decision_cases: dict[str, list[RawTask]] = {}
    default_case: list[RawTask] = []
    fork_tasks: list[list[RawTask]] = []
    loop_over: list[RawTask] = []
    join_on: list[str] = []


_GIVEN = frozenset(f.encode_name for f in msgspec.structs.fields(TaskWire) if f.default is None)


class WorkflowWire(msgspec.Struct, kw_only=True, rename="camel"):
    """Conductor's WorkflowDef JSON: the fields cadenza keeps."""

    name: str
    description: str | None = None
    version: Count = 1
    tasks: list[RawTask]  # none at all is refused by `parse_workflow_def` when it validates
    input_parameters: list[str] = []
    output_parameters: dict[str, Any] = {}
    failure_workflow: str | None = None
    schema_version: int = 2
    restartable: bool = True
    workflow_status_listener_enabled: bool = False
    owner_email: str | None = None
    timeout_policy: Literal["TIME_OUT_WF", "ALERT_ONLY"] = "ALERT_ONLY"
    timeout_seconds: Number = 0
    variables: dict[str, Any] = {}
    input_template: dict[str, Any] = {}


_WORKFLOW_FIELDS = [(f.name, f.encode_name) for f in msgspec.structs.fields(WorkflowWire)]


def _templates(template: Mapping[str, Any], workflow: str, ref: str | None) -> None:
    try:
        check_template(template)
    except DefinitionError as exc:
        raise DefinitionError(exc.problem, workflow=workflow, ref=ref) from None


def _raws(tasks: tuple[TaskSpec, ...]) -> list[Any]:
    return [task.raw for task in tasks]


SystemTypes = frozenset[str] | None  # task types run by registered system tasks; None: any


def _nested(
    wire: TaskWire, workflow: str, system_types: SystemTypes
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A control-flow task's nested tasks, parsed: its `TaskSpec` fields and their JSON."""
    ref, kind = wire.task_reference_name, wire.type

    def parse(raws: list[RawTask], at: str) -> tuple[TaskSpec, ...]:
        return tuple(
            _task(raw, workflow, ref, f"{at}[{i}]", system_types) for i, raw in enumerate(raws)
        )

    if kind in ("SWITCH", "DECISION"):
        cases = tuple(
            (v, parse(b, f"decisionCases[{v!r}]")) for v, b in wire.decision_cases.items()
        )
        default = parse(wire.default_case, "defaultCase")
        return {"cases": cases, "default_case": default}, {
            "decisionCases": {value: _raws(branch) for value, branch in cases},
            "defaultCase": _raws(default),
        }
    if kind == "FORK_JOIN":
        forks = tuple(parse(b, f"forkTasks[{i}]") for i, b in enumerate(wire.fork_tasks))
        return {"fork_tasks": forks}, {"forkTasks": [_raws(branch) for branch in forks]}
    if kind == "DO_WHILE":
        body = parse(wire.loop_over, "loopOver")
        return {"loop_over": body}, {"loopOver": _raws(body)}
    if kind in ("JOIN", "EXCLUSIVE_JOIN"):
        return {"join_on": tuple(wire.join_on)}, {"joinOn": wire.join_on}
    inline = (wire.sub_workflow_param or {}).get("workflowDefinition")
    if kind == "SUB_WORKFLOW" and isinstance(inline, str) and "${" in inline:
        return {}, {}  # resolved when the child starts (SubWorkflowTaskMapper.java:140-147)
    if kind == "SUB_WORKFLOW" and inline is not None:
        try:
            return {"sub_workflow": parse_workflow_def(inline, system_types=system_types)}, {}
        except DefinitionError as exc:
            raise DefinitionError(
                f"its inline workflowDefinition is invalid: {exc}", workflow=workflow, ref=ref
            ) from None
    return {}, {}


def _task(
    raw: Any, workflow: str, parent: str | None, at: str, system_types: SystemTypes
) -> TaskSpec:
    """One task; `at` names where it is under `parent` (or the workflow) if it has no reference."""
    own = raw.get("taskReferenceName") if isinstance(raw, Mapping) else None
    if isinstance(own, str) and own:
        parent, at = own, ""
    wire = decode(raw, TaskWire, workflow=workflow, ref=parent, at=at)
    ref, kind = wire.task_reference_name, wire.type
    if kind not in CONDUCTOR_TYPES and system_types is not None and kind not in system_types:
        raise DefinitionError(
            f"unknown task type {kind!r}: neither built in nor a system task registered on "
            f"this runtime (register one with rt.system_task({kind!r}, fn) first)",
            workflow=workflow,
            ref=ref,
        )
    if kind in CONDUCTOR_TYPES and kind not in SUPPORTED_TYPES:
        raise DefinitionError(
            f"task type {kind!r} is not supported yet (supported: {', '.join(sorted(SUPPORTED_TYPES))})",
            workflow=workflow,
            ref=ref,
        )
    _templates(wire.input_parameters, workflow, ref)
    inline = wire.task_definition  # it may leave out its name: it is the task's
    task_def = None
    if inline is not None:
        inline = {**inline, "name": inline.get("name") or wire.name}
        task_def = decode(inline, TaskDef, workflow=workflow, ref=ref, at="taskDefinition")
    nested, nested_json = _nested(wire, workflow, system_types)
    normalised = {
        "name": wire.name,
        "taskReferenceName": ref,
        "type": kind,
        "inputParameters": wire.input_parameters,
        "optional": wire.optional,
        "startDelay": wire.start_delay,
        "asyncComplete": wire.async_complete,
        "permissive": wire.permissive,
        **{key: value for key, value in raw.items() if key in _GIVEN and value is not None},
        **nested_json,
    }
    return TaskSpec(
        ref=ref,
        name=wire.name,
        type=kind,
        input_parameters=wire.input_parameters,
        optional=wire.optional,
        permissive=wire.permissive,
        start_delay_s=float(wire.start_delay),
        task_def=task_def,
        retry_count=wire.retry_count,
        raw=normalised,
        **nested,
    )


def parse_task(
    raw: Any, workflow: str, index: int, *, system_types: SystemTypes = frozenset()
) -> TaskSpec:
    """One task of `workflow` (a dynamic fork's, parsed when the fork is scheduled)."""
    return _task(raw, workflow, None, f"tasks[{index}]", system_types)


def parse_workflow_def(
    raw: Mapping[str, Any],
    *,
    validated: bool = True,
    env_names: frozenset[str] = frozenset(),
    system_types: SystemTypes = frozenset(),
) -> WorkflowDef:
    """Parse and validate a Conductor `WorkflowDef` dict; raises `DefinitionError`.

    `validated=False` parses without the checks of its structure (`validate`,
    and a task list that may be empty), as Conductor starts a definition given
    inline to startWorkflow (WorkflowExecutorOps.java:2746-2762 resolveWorkflowDefinition
    checks only that there is an input): only what cadenza cannot run at all
    (a malformed field, a duplicate or unknown task type, JSON it cannot hold,
    two tasks with one taskReferenceName) is still refused. `env_names` are
    `${NAME}`s the runtime resolves from its `template_env`: not undefined references.
    `system_types` are the task types of system tasks the runtime registered
    (`rt.system_task`): a task of such a type is accepted; any other type
    Conductor does not know is refused, unless `system_types` is None (a
    journaled definition read back: any such type is accepted).
    """
    name = raw.get("name") if isinstance(raw, Mapping) else None
    named = name if isinstance(name, str) and name.strip() else None
    wire = decode(raw, WorkflowWire, workflow=named, what="a workflow definition")
    if named is None:
        raise DefinitionError("a workflow definition needs a non-empty 'name'")
    if validated and not wire.tasks:
        raise DefinitionError("tasks must not be empty, got []", workflow=named)
    tasks = tuple(
        parse_task(task, named, index, system_types=system_types)
        for index, task in enumerate(wire.tasks)
    )
    _templates(wire.output_parameters, named, None)
    definition = WorkflowDef(
        name=named,
        version=wire.version,
        tasks=tasks,
        output_parameters=wire.output_parameters,
        input_parameters=tuple(wire.input_parameters),
        timeout_s=float(wire.timeout_seconds),
        timeout_policy=TimeoutPolicy(wire.timeout_policy),
        failure_workflow=wire.failure_workflow or None,
        restartable=wire.restartable,
        schema_version=wire.schema_version,
        variables=wire.variables,
        input_template=wire.input_template,
    )
    normalised = {wire_name: getattr(wire, name) for name, wire_name in _WORKFLOW_FIELDS}
    normalised.update(tasks=_raws(tasks), failureWorkflow=definition.failure_workflow)
    try:
        json.dumps(normalised, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise DefinitionError(
            f"the definition is not JSON-serialisable: {exc}", workflow=named
        ) from None
    if validated:
        validate(definition, javascript=engine_available(), env_names=env_names)
    else:
        unique_refs(definition)
    object.__setattr__(definition, "raw", normalised)
    return definition
