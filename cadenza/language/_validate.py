"""Structural checks of a parsed workflow definition, at registration.

Design note
-----------
`_parse.py` decodes each task on its own; this module checks what only
the whole definition shows, and raises `DefinitionError` naming the task
reference and the problem:

- a reference used twice anywhere (nested branches and loop bodies
  included; loop iterations are named `ref__n`, so a reference may not look
  like one);
- a JOIN on a reference the definition does not have;
- a top-level task's input expression naming a task reference the
  definition does not have (`_references.py`, Conductor's ConstraintParamUtil);
- a SWITCH or DECISION without `decisionCases`, or without its case value
  (`expression` for value-param, `caseValueParam`);
- a DO_WHILE with neither `loopCondition` nor `items`, or inside another;
- a FORK_JOIN_DYNAMIC without `dynamicForkTasksParam` and
  `dynamicForkTasksInputParamName`, or not followed by a JOIN;
- a SUB_WORKFLOW without `subWorkflowParam.name` (or an inline
  `workflowDefinition`, parsed and checked with its parent), or naming its own workflow
  (a direct cycle; `check_cycles` follows registered definitions further);
- a TERMINATE whose literal `terminationStatus` is not COMPLETED, FAILED or
  TERMINATED;
- a SWITCH `evaluatorType` other than value-param, javascript or graaljs;
  an INLINE without `evaluatorType`/`expression` inputs, a LAMBDA without
  `scriptExpression`;
- an EXCLUSIVE_JOIN on (or defaulting to) a reference the definition does
  not have; a DYNAMIC without `dynamicTaskNameParam`, an HTTP without
  `http_request` (or a top-level `uri`/`method`), a JSON_JQ_TRANSFORM
  without `queryExpression` (WorkflowTaskTypeConstraint.java; an inline
  `taskDefinition.inputTemplate` may give either);
- JavaScript (SWITCH `javascript`, DECISION `caseExpression`, DO_WHILE
  `loopCondition`, INLINE, LAMBDA) when no engine is installed (`pip install
  cadenza[js]`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from cadenza._errors import DefinitionError
from cadenza.language._definition import TaskSpec, WorkflowDef, walk
from cadenza.language._inline import inline_key
from cadenza.language._references import undefined_reference
from cadenza.language._script import JAVASCRIPT_EVALUATORS

TERMINATION_STATUSES = frozenset({"COMPLETED", "FAILED", "TERMINATED"})
_LOOKS_LIKE_ITERATION = re.compile(r"__\d+$")


VALUE_PARAM = "value-param"
EVALUATORS = frozenset({VALUE_PARAM, *JAVASCRIPT_EVALUATORS})


def switch_script(spec: TaskSpec) -> str | None:
    """The JavaScript a SWITCH or DECISION evaluates for its case, or None (a value-param)."""
    raw = spec.raw
    if spec.type == "SWITCH" and raw.get("evaluatorType", VALUE_PARAM) in JAVASCRIPT_EVALUATORS:
        return str(raw.get("expression"))
    if spec.type == "DECISION" and not raw.get("caseValueParam") and raw.get("caseExpression"):
        return str(raw["caseExpression"])
    return None


def needs_javascript(spec: TaskSpec) -> str | None:
    """What in `spec` needs a JavaScript engine, or None."""
    raw = spec.raw
    if spec.type == "INLINE" and spec.input_parameters.get("evaluatorType") != VALUE_PARAM:
        return "INLINE runs JavaScript"
    if spec.type == "LAMBDA":
        return "LAMBDA runs JavaScript"
    if spec.type == "SWITCH" and switch_script(spec) is not None:
        return f"evaluatorType {raw.get('evaluatorType')!r} is JavaScript"
    if spec.type == "DECISION" and switch_script(spec) is not None:
        return "caseExpression is JavaScript"
    if spec.type == "DO_WHILE" and raw.get("loopCondition") and not raw.get("items"):
        return "loopCondition is JavaScript"
    return None


def _check_script_task(task: TaskSpec) -> str | None:
    """What is wrong with an INLINE or LAMBDA task, or None."""
    inputs = task.input_parameters
    if task.type == "LAMBDA":
        if not isinstance(inputs.get("scriptExpression"), str):
            return "a LAMBDA needs inputParameters.scriptExpression (a JavaScript function body)"
        return None
    evaluator = inputs.get("evaluatorType")
    if not isinstance(evaluator, str) or ("${" not in evaluator and evaluator not in EVALUATORS):
        return f"an INLINE needs inputParameters.evaluatorType, one of {sorted(EVALUATORS)}, got {evaluator!r}"
    if not isinstance(inputs.get("expression"), str):
        return "an INLINE needs inputParameters.expression (a string)"
    return None


def _template_has(task: TaskSpec, key: str) -> bool:
    """An inline TaskDef's inputTemplate gives `key` (Conductor also looks in a registered one)."""
    return task.task_def is not None and key in task.task_def.input_template


def _check_system_task(task: TaskSpec, refs: set[str]) -> str | None:
    """What is wrong with an EXCLUSIVE_JOIN, DYNAMIC, HTTP or JSON_JQ_TRANSFORM, or None
    (after WorkflowTaskTypeConstraint.java's isDynamicTaskValid, isHttpTaskValid and
    isJSONJQTransformTaskValid)."""
    inputs = task.input_parameters
    if task.type == "EXCLUSIVE_JOIN":
        defaults = task.raw.get("defaultExclusiveJoinTask") or []
        for joined in (*task.join_on, *defaults):
            if joined not in refs:
                return f"an EXCLUSIVE_JOIN names {joined!r}, which is not a task of this workflow"
    elif task.type == "DYNAMIC" and not task.raw.get("dynamicTaskNameParam"):
        return "dynamicTaskNameParam field is required for taskType: DYNAMIC"
    elif task.type == "HTTP" and not (
        "http_request" in inputs or "uri" in inputs or "method" in inputs
        or _template_has(task, "http_request")
    ):  # fmt: skip
        return "inputParameters.http_request or inputParameters.uri field is required for taskType: HTTP"
    elif task.type == "JSON_JQ_TRANSFORM" and not (
        "queryExpression" in inputs or _template_has(task, "queryExpression")
    ):
        return "inputParameters.queryExpression field is required for taskType: JSON_JQ_TRANSFORM"
    return None


def sub_workflow_name(spec: TaskSpec) -> str | None:
    """The workflow a SUB_WORKFLOW starts: its registered name, or its inline definition's key."""
    if spec.sub_workflow is not None:
        return inline_key(spec.sub_workflow)
    param = spec.raw.get("subWorkflowParam")
    if isinstance(param, dict) and isinstance(param.get("name"), str):
        return str(param["name"])
    return None


def sub_workflow_version(spec: TaskSpec) -> int | None:
    param = spec.raw.get("subWorkflowParam")
    version = param.get("version") if isinstance(param, dict) else None
    return version if isinstance(version, int) and not isinstance(version, bool) else None


def _loops(tasks: tuple[TaskSpec, ...], inside: bool = False) -> Iterator[tuple[TaskSpec, bool]]:
    for task in tasks:
        yield task, inside
        for branch in task.children():
            yield from _loops(branch, inside or task.type == "DO_WHILE")


def _followed_by_join(tasks: tuple[TaskSpec, ...], fork: TaskSpec) -> bool:
    for position, task in enumerate(tasks):
        if task is fork:
            return position + 1 < len(tasks) and tasks[position + 1].type == "JOIN"
        for branch in task.children():
            if _followed_by_join(branch, fork):
                return True
    return False


def unique_refs(definition: WorkflowDef) -> set[str]:
    """Every task reference of the definition; `DefinitionError` for one used twice (a run
    finds its tasks by reference: such a definition cannot run)."""
    refs: set[str] = set()
    for task in walk(definition.tasks):
        if task.ref in refs:
            raise DefinitionError(
                "duplicate taskReferenceName", workflow=definition.name, ref=task.ref
            )
        refs.add(task.ref)
    return refs


def validate(
    definition: WorkflowDef, *, javascript: bool, env_names: frozenset[str] = frozenset()
) -> None:
    """Raise `DefinitionError` for the first structural problem; see the module note."""
    name = definition.name
    refs = unique_refs(definition)
    undefined = undefined_reference(definition, env_names)
    if undefined is not None:
        raise DefinitionError(undefined[1], workflow=name, ref=undefined[0])
    for task, in_loop in _loops(definition.tasks):
        ref = task.ref

        def fail(problem: str, ref: str = ref) -> DefinitionError:
            return DefinitionError(problem, workflow=name, ref=ref)

        if in_loop and _LOOKS_LIKE_ITERATION.search(ref):
            raise fail("a reference inside a DO_WHILE may not end in __<n> (iteration names)")
        if task.type in ("SWITCH", "DECISION"):
            if not task.cases:
                raise fail(f"a {task.type} needs at least one entry in decisionCases")
            if task.type == "SWITCH" and not task.raw.get("expression"):
                raise fail("a SWITCH needs an 'expression'")
            evaluator = task.raw.get("evaluatorType", VALUE_PARAM)
            if task.type == "SWITCH" and evaluator not in EVALUATORS:
                raise fail(f"evaluatorType must be one of {sorted(EVALUATORS)}, got {evaluator!r}")
            if task.type == "DECISION" and not (
                task.raw.get("caseValueParam") or task.raw.get("caseExpression")
            ):
                raise fail("a DECISION needs 'caseValueParam' or 'caseExpression'")
        elif task.type == "JOIN":
            for joined in task.join_on:
                if joined not in refs:
                    raise fail(f"joinOn names {joined!r}, which is not a task of this workflow")
        elif task.type == "DO_WHILE":
            if in_loop:
                raise fail("a DO_WHILE inside another DO_WHILE is not supported")
            if not task.raw.get("loopCondition") and not task.raw.get("items"):
                raise fail("a DO_WHILE needs a 'loopCondition' or 'items'")
            if not task.loop_over:
                raise fail("a DO_WHILE needs tasks in 'loopOver'")
        elif task.type == "SUB_WORKFLOW":
            child = sub_workflow_name(task)
            if child is None:
                raise fail("a SUB_WORKFLOW needs subWorkflowParam.name or .workflowDefinition")
            if child == name and task.sub_workflow is None:
                raise fail(f"SUB_WORKFLOW starts {child!r}, the workflow itself (a cycle)")
        elif task.type == "FORK_JOIN_DYNAMIC":
            for key in ("dynamicForkTasksParam", "dynamicForkTasksInputParamName"):
                if not task.raw.get(key):  # a string when given: see TaskWire
                    raise fail(f"a FORK_JOIN_DYNAMIC needs '{key}' (the name of an input)")
            if not _followed_by_join(definition.tasks, task):
                raise fail("a FORK_JOIN_DYNAMIC must be followed by a JOIN")
        elif task.type in ("EXCLUSIVE_JOIN", "DYNAMIC", "HTTP", "JSON_JQ_TRANSFORM"):
            problem = _check_system_task(task, refs)
            if problem is not None:
                raise fail(problem)
        elif task.type in ("INLINE", "LAMBDA"):
            problem = _check_script_task(task)
            if problem is not None:
                raise fail(problem)
        elif task.type == "TERMINATE":
            status = task.input_parameters.get("terminationStatus")
            if not isinstance(status, str) or (
                "${" not in status and status not in TERMINATION_STATUSES
            ):
                raise fail(
                    f"terminationStatus must be COMPLETED, FAILED or TERMINATED, got {status!r}"
                )
        why = needs_javascript(task)
        if why is not None and not javascript:
            raise fail(
                f"{why}, and no JavaScript engine is installed: install the extra "
                "'cadenza[js]' (mini-racer), or rewrite it without JavaScript"
            )


def check_cycles(
    definition: WorkflowDef, lookup: Callable[[str, int | None], WorkflowDef | None]
) -> None:
    """A SUB_WORKFLOW chain through registered (or inline) definitions that comes back.

    Raises `DefinitionError` naming the chain (`a -> b -> a`) and the task that
    closes it. A name given by an expression (`${workflow.input.x}`) is not followed.
    """
    stack: list[tuple[WorkflowDef, tuple[str, ...]]] = [(definition, (definition.name,))]
    seen: set[tuple[str, int]] = set()
    while stack:
        current, path = stack.pop()
        for task in walk(current.tasks):
            child = sub_workflow_name(task) if task.type == "SUB_WORKFLOW" else None
            if child is None:
                continue
            if child in path:
                raise DefinitionError(
                    f"SUB_WORKFLOW cycle: {' -> '.join((*path, child))}",
                    workflow=definition.name,
                    ref=task.ref,
                )
            found = task.sub_workflow or lookup(child, sub_workflow_version(task))
            if found is not None and (found.name, found.version) not in seen:
                seen.add((found.name, found.version))
                stack.append((found, (*path, child)))
