"""Workflow and task definitions: Conductor's JSON, parsed and validated.

Design note
-----------
A definition is data. `parse_workflow_def` takes a dict in Conductor's
`WorkflowDef` JSON format, ignores unknown fields, fills missing ones with
Conductor's defaults (from WorkflowDef.java / WorkflowTask.java /
TaskDef.java) and returns an immutable `WorkflowDef`; `to_conductor_json`
gives the normalised dict back. Anything malformed raises `DefinitionError`
naming the workflow, the task reference and the problem — at registration,
never mid-run.

Task types the runtime executes are listed in `SUPPORTED_TYPES`; every
other type Conductor knows is recognised and rejected with a clear error
until it is implemented, and an unknown type is rejected as unknown.

Control-flow tasks nest: a SWITCH/DECISION holds `cases` and a
`default_case`, a FORK_JOIN its `fork_tasks` branches, a DO_WHILE its
`loop_over` body; each is a tuple of `TaskSpec`. `WorkflowDef.spec(ref)`
finds any task, nested or not, and also by a loop iteration's reference
(`ref__3` -> `ref`). Structural checks (duplicate references anywhere,
JOIN on unknown references, SWITCH without cases, SUB_WORKFLOW naming its
own workflow, JavaScript without an engine) live in `_validate.py`; task
definitions (`TaskDef`) in `_taskdef.py`; an inline SUB_WORKFLOW
definition is parsed with its parent into `TaskSpec.sub_workflow`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from cadenza._errors import DefinitionError
from cadenza.language._definition import (
    CONDUCTOR_TYPES,
    SUPPORTED_TYPES,
    TaskSpec,
    WorkflowDef,
    _walk,
)
from cadenza.language._expressions import check_template
from cadenza.language._script import engine_available
from cadenza.language._taskdef import (
    TimeoutPolicy,
    _enum,
    _number,
    parse_task_def,
)
from cadenza.language._validate import validate


def _parse_list(raw: Any, workflow: str, ref: str | None, what: str) -> tuple[TaskSpec, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise DefinitionError(f"{what} must be a list of tasks", workflow=workflow, ref=ref)
    return tuple(_parse_task(task, workflow, index) for index, task in enumerate(raw))


def _parse_nested(
    raw: Mapping[str, Any], task_type: str, workflow: str, ref: str
) -> dict[str, Any]:
    """The nested task lists of a control-flow task, parsed."""
    nested: dict[str, Any] = {}
    if task_type in ("SWITCH", "DECISION"):
        cases = raw.get("decisionCases") or {}
        if not isinstance(cases, Mapping):
            raise DefinitionError("decisionCases must be an object", workflow=workflow, ref=ref)
        nested["cases"] = tuple(
            (str(value), _parse_list(branch, workflow, ref, f"decisionCases[{value!r}]"))
            for value, branch in cases.items()
        )
        nested["default_case"] = _parse_list(raw.get("defaultCase"), workflow, ref, "defaultCase")
    elif task_type == "FORK_JOIN":
        branches = raw.get("forkTasks") or []
        if not isinstance(branches, list):
            raise DefinitionError("forkTasks must be a list of lists", workflow=workflow, ref=ref)
        nested["fork_tasks"] = tuple(
            _parse_list(branch, workflow, ref, "each forkTasks branch") for branch in branches
        )
    elif task_type == "DO_WHILE":
        nested["loop_over"] = _parse_list(raw.get("loopOver"), workflow, ref, "loopOver")
    elif task_type == "SUB_WORKFLOW":
        param = raw.get("subWorkflowParam")
        inline = param.get("workflowDefinition") if isinstance(param, Mapping) else None
        if inline is not None:
            if not isinstance(inline, Mapping):
                raise DefinitionError(
                    "subWorkflowParam.workflowDefinition must be an object",
                    workflow=workflow,
                    ref=ref,
                )
            try:
                nested["sub_workflow"] = parse_workflow_def(inline)
            except DefinitionError as exc:
                raise DefinitionError(
                    f"its inline workflowDefinition is invalid: {exc}", workflow=workflow, ref=ref
                ) from None
    elif task_type == "JOIN":
        join_on = raw.get("joinOn") or []
        if not isinstance(join_on, list) or not all(isinstance(r, str) for r in join_on):
            raise DefinitionError("joinOn must be a list of references", workflow=workflow, ref=ref)
        nested["join_on"] = tuple(join_on)
    return nested


def _parse_task(raw: Any, workflow: str, index: int) -> TaskSpec:
    if not isinstance(raw, Mapping):
        raise DefinitionError(
            f"task #{index} must be an object, got {type(raw).__name__}", workflow=workflow
        )
    ref = raw.get("taskReferenceName")
    if not isinstance(ref, str) or not ref:
        raise DefinitionError(f"task #{index} has no 'taskReferenceName'", workflow=workflow)
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise DefinitionError("has no 'name'", workflow=workflow, ref=ref)
    task_type = raw.get("type") or "SIMPLE"
    if not isinstance(task_type, str):
        raise DefinitionError(
            f"type must be a string, got {task_type!r}", workflow=workflow, ref=ref
        )
    if task_type not in CONDUCTOR_TYPES:
        raise DefinitionError(f"unknown task type {task_type!r}", workflow=workflow, ref=ref)
    if task_type not in SUPPORTED_TYPES:
        raise DefinitionError(
            f"task type {task_type!r} is not supported yet (supported: {', '.join(sorted(SUPPORTED_TYPES))})",
            workflow=workflow,
            ref=ref,
        )
    inputs = raw.get("inputParameters") or {}
    if not isinstance(inputs, Mapping):
        raise DefinitionError("inputParameters must be an object", workflow=workflow, ref=ref)
    try:
        check_template(inputs)
    except DefinitionError as exc:
        raise DefinitionError(exc.problem, workflow=workflow, ref=ref) from None
    inline = raw.get("taskDefinition")
    try:  # an inline definition may omit its name: it is the task's
        task_def = (
            parse_task_def({"name": name, **inline}, workflow=workflow)
            if isinstance(inline, Mapping)
            else None
        )
    except DefinitionError as exc:
        raise DefinitionError(exc.problem, workflow=workflow, ref=ref) from None
    retry_override = raw.get("retryCount")
    if retry_override is not None and (not isinstance(retry_override, int) or retry_override < 0):
        raise DefinitionError(f"retryCount must be a non-negative integer, got {retry_override!r}",
                              workflow=workflow, ref=ref)  # fmt: skip
    nested = _parse_nested(raw, task_type, workflow, ref)
    normalised = {
        "name": name,
        "taskReferenceName": ref,
        "type": task_type,
        "inputParameters": dict(inputs),
        "optional": bool(raw.get("optional", False)),
        "startDelay": raw.get("startDelay", 0),
        "asyncComplete": bool(raw.get("asyncComplete", False)),
        "permissive": bool(raw.get("permissive", False)),
        **{k: v for k, v in raw.items() if k in _KEPT_TASK_FIELDS},
    }
    if "cases" in nested:
        normalised["decisionCases"] = {
            value: [t.raw for t in branch] for value, branch in nested["cases"]
        }
        normalised["defaultCase"] = [t.raw for t in nested["default_case"]]
    if "fork_tasks" in nested:
        normalised["forkTasks"] = [[t.raw for t in branch] for branch in nested["fork_tasks"]]
    if "loop_over" in nested:
        normalised["loopOver"] = [t.raw for t in nested["loop_over"]]
    if "join_on" in nested:
        normalised["joinOn"] = list(nested["join_on"])
    return TaskSpec(
        ref=ref,
        name=name,
        type=task_type,
        input_parameters=dict(inputs),
        optional=bool(raw.get("optional", False)),
        start_delay_s=_number(raw, "startDelay", 0, where=workflow, ref=ref),
        task_def=task_def,
        retry_count=retry_override,
        raw=normalised,
        **nested,
    )


_KEPT_TASK_FIELDS = frozenset(
    {
        "description", "taskDefinition", "retryCount", "rateLimited", "caseValueParam",
        "caseExpression", "evaluatorType", "expression", "loopCondition", "items",
        "subWorkflowParam", "sink", "dynamicForkTasksParam", "dynamicForkTasksInputParamName",
    }
)  # fmt: skip


def parse_workflow_def(raw: Mapping[str, Any]) -> WorkflowDef:
    """Parse and validate a Conductor `WorkflowDef` dict; raises `DefinitionError`."""
    if not isinstance(raw, Mapping):
        raise DefinitionError(f"a workflow definition must be an object, got {type(raw).__name__}")
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise DefinitionError("a workflow definition needs a non-empty 'name'")
    version = raw.get("version", 1)
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise DefinitionError(
            f"version must be a non-negative integer, got {version!r}", workflow=name
        )
    raw_tasks = raw.get("tasks")
    if not isinstance(raw_tasks, list) or not raw_tasks:
        raise DefinitionError("'tasks' must be a non-empty list", workflow=name)
    tasks = tuple(_parse_task(task, name, index) for index, task in enumerate(raw_tasks))
    seen: set[str] = set()
    for task in _walk(tasks):
        if task.ref in seen:
            raise DefinitionError("duplicate taskReferenceName", workflow=name, ref=task.ref)
        seen.add(task.ref)
    outputs = raw.get("outputParameters") or {}
    if not isinstance(outputs, Mapping):
        raise DefinitionError("outputParameters must be an object", workflow=name)
    try:
        check_template(outputs)
    except DefinitionError as exc:
        raise DefinitionError(exc.problem, workflow=name) from None
    input_names = raw.get("inputParameters") or []
    if not isinstance(input_names, list):
        raise DefinitionError("inputParameters must be a list of names", workflow=name)
    variables = raw.get("variables") or {}
    template = raw.get("inputTemplate") or {}
    if not isinstance(variables, Mapping) or not isinstance(template, Mapping):
        raise DefinitionError("variables and inputTemplate must be objects", workflow=name)
    timeout_policy = _enum(TimeoutPolicy, raw, "timeoutPolicy", "ALERT_ONLY", workflow=name)
    if timeout_policy is TimeoutPolicy.RETRY:
        raise DefinitionError(
            "a workflow's timeoutPolicy is TIME_OUT_WF or ALERT_ONLY", workflow=name
        )
    failure_workflow = raw.get("failureWorkflow") or None
    try:
        schema_version = int(raw.get("schemaVersion", 2) or 2)
    except (TypeError, ValueError):
        raise DefinitionError(
            f"schemaVersion must be an integer, got {raw.get('schemaVersion')!r}", workflow=name
        ) from None
    definition = WorkflowDef(
        name=name,
        version=version,
        tasks=tasks,
        output_parameters=dict(outputs),
        input_parameters=tuple(str(n) for n in input_names),
        timeout_s=_number(raw, "timeoutSeconds", 0, where=name, ref=None),
        timeout_policy=timeout_policy,
        failure_workflow=failure_workflow if isinstance(failure_workflow, str) else None,
        restartable=bool(raw.get("restartable", True)),
        schema_version=schema_version,
        variables=dict(variables),
        input_template=dict(template),
    )
    normalised = {
        "name": name,
        "description": raw.get("description"),
        "version": version,
        "tasks": [task.raw for task in tasks],
        "inputParameters": list(definition.input_parameters),
        "outputParameters": dict(outputs),
        "failureWorkflow": definition.failure_workflow,
        "schemaVersion": definition.schema_version,
        "restartable": definition.restartable,
        "workflowStatusListenerEnabled": bool(raw.get("workflowStatusListenerEnabled", False)),
        "ownerEmail": raw.get("ownerEmail"),
        "timeoutPolicy": timeout_policy.value,
        "timeoutSeconds": raw.get("timeoutSeconds", 0),
        "variables": dict(variables),
        "inputTemplate": dict(template),
    }
    try:
        json.dumps(normalised, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise DefinitionError(
            f"the definition is not JSON-serialisable: {exc}", workflow=name
        ) from None

    validate(definition, javascript=engine_available())
    return _with_raw(definition, normalised)


def _with_raw(definition: WorkflowDef, raw: Mapping[str, Any]) -> WorkflowDef:
    object.__setattr__(definition, "raw", raw)
    return definition


parse_task = _parse_task  # a dynamic fork's tasks are parsed when the fork is scheduled
