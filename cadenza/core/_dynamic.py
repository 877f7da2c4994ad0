"""Tasks a definition does not spell out: the branches of a dynamic fork.

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
reference already used) is a problem string, which fails the run naming it
(Conductor's mapper throws TerminateWorkflowException: no fork task is added).

`spec_for` finds a task's spec in the definition or, for a forked task,
in its fork's output.

Inline sub-workflow definitions are named in `cadenza.language._inline`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from typing import Any

from cadenza._errors import DefinitionError
from cadenza.core._events import Event, TaskCompleted
from cadenza.core._state import TaskState, WorkflowState
from cadenza.core._terminate import MapperRefused
from cadenza.language._definition import TaskSpec, WorkflowDef, walk
from cadenza.language._parse import parse_task

_PARSED: dict[tuple[str, str], tuple[TaskSpec, ...]] = {}  # (workflow, branch JSON) -> branches
_PARSED_MAX = 10_000
_FORKS = frozenset({"FORK", "FORK_JOIN_DYNAMIC"})


def _literal(value: Any) -> Any:
    """`value` with every `${` escaped, so template resolution leaves it as it is."""
    if isinstance(value, str):
        return value.replace("${", "$${")
    if isinstance(value, dict):
        return {key: _literal(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_literal(item) for item in value]
    return value


def plan_dynamic_fork(
    definition: WorkflowDef, state: WorkflowState, spec: TaskSpec, task_input: dict[str, Any]
) -> dict[str, Any] | str:
    """The fork's output (`forkedTasks`, `forkedTaskDefs`), or the problem with its input."""
    tasks_param = str(spec.raw.get("dynamicForkTasksParam"))
    inputs_param = str(spec.raw.get("dynamicForkTasksInputParamName"))
    tasks = task_input.get(tasks_param)
    inputs = task_input.get(inputs_param)
    if not isinstance(tasks, list) or not all(isinstance(t, dict) for t in tasks):
        return (
            f"input {tasks_param!r} (dynamicForkTasksParam) is not a list of tasks: got {tasks!r}"
        )
    if inputs is None:
        inputs = {}
    if not isinstance(inputs, dict):
        return f"input {inputs_param!r} (dynamicForkTasksInputParamName) is not a map of task inputs: got {inputs!r}"
    taken = {task.ref for task in walk(definition.tasks)} | {task.ref for task in state.tasks}
    refs: list[str] = []
    defs: list[dict[str, Any]] = []
    for index, raw in enumerate(tasks):
        own = inputs.get(raw.get("taskReferenceName"))
        if own is not None and not isinstance(own, dict):  # ForkJoinDynamicTaskMapper.java:208
            return (
                "Tasks could not be dynamically forked due to invalid input: the input of "
                f"{raw.get('taskReferenceName')!r} is not a map (got {own!r})"
            )
        merged = {**(raw.get("inputParameters") or {}), **_literal(own or {})}
        try:
            parsed = parse_task(  # any type: an unregistered system task fails when scheduled
                {**raw, "inputParameters": merged}, definition.name, index, system_types=None
            )
        except DefinitionError as exc:
            return f"dynamic task #{index} is not a valid task: {exc.problem}"
        if parsed.type in ("FORK_JOIN_DYNAMIC", "DO_WHILE") or any(True for _ in _nested(parsed)):
            return f"dynamic task {parsed.ref!r} is a {parsed.type}: only tasks without nested tasks may be forked"
        if parsed.ref in taken:
            return f"dynamic task reference {parsed.ref!r} is already used in this run"
        taken.add(parsed.ref)
        refs.append(parsed.ref)
        defs.append(dict(parsed.raw))
    return {"forkedTasks": refs, "forkedTaskDefs": defs}


def _nested(spec: TaskSpec) -> Iterator[TaskSpec]:
    for branch in spec.children():
        yield from branch


def dynamic_specs(fork: TaskState, workflow: str) -> tuple[TaskSpec, ...]:
    """The branches a completed FORK_JOIN_DYNAMIC started, from its output."""
    raws = fork.output.get("forkedTaskDefs") or []
    key = (workflow, json.dumps(raws, sort_keys=True, separators=(",", ":")))  # by content
    found = _PARSED.get(key)
    if found is None:
        found = tuple(
            parse_task(raw, workflow, index, system_types=None) for index, raw in enumerate(raws)
        )
        if len(_PARSED) >= _PARSED_MAX:
            _PARSED.clear()
        _PARSED[key] = found
    return found


def spec_for(definition: WorkflowDef, state: WorkflowState, ref: str) -> TaskSpec:
    """The spec of task `ref`: from the definition, else a dynamic fork's branches; KeyError."""
    try:
        spec = definition.spec(ref)
    except KeyError:
        pass
    else:
        if spec.type != "DYNAMIC":
            return spec
        # a DYNAMIC task is the worker task its input named (DynamicTaskMapper.java:74-93)
        named = next((t.name for t in reversed(state.tasks) if t.ref == ref), None)
        return spec if named is None else dataclasses.replace(spec, name=named, type="SIMPLE")
    for task in state.tasks:
        # a dynamic fork runs as FORK (journals before issue 12 say FORK_JOIN_DYNAMIC)
        if task.type in _FORKS and task.status.successful and "forkedTaskDefs" in task.output:
            for spec in dynamic_specs(task, definition.name):
                if spec.ref == ref or ref.startswith(spec.ref + "__"):
                    return spec
    raise KeyError(ref)


def dynamic_fork_step(
    definition: WorkflowDef, state: WorkflowState, spec: TaskSpec, scheduled: list[Event]
) -> list[Event]:
    """A FORK_JOIN_DYNAMIC's step: `scheduled` (its scheduling) completed with its plan, or,
    on bad input `MapperRefused` (`_terminate.py`): ForkJoinDynamicTaskMapper throws
    TerminateWorkflowException (:208-213 and the checks before it), which
    WorkflowExecutorOps.decide (:1412) turns into terminate(): the round is discarded,
    what is in flight cancelled, the output evaluated, the run FAILED with the message."""
    now = state.updated_at
    task_id: str = scheduled[0].task_id  # type: ignore[attr-defined]
    plan = plan_dynamic_fork(definition, state, spec, scheduled[0].input)  # type: ignore[attr-defined]
    if not isinstance(plan, str):
        return [*scheduled, TaskCompleted(at=now, task_id=task_id, output=plan)]
    raise MapperRefused(f"task {spec.ref!r}: {plan}")
