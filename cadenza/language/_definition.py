"""Workflow and task definitions: Conductor's JSON, parsed and validated.

Design note
-----------
A definition is data. `parse_workflow_def` (`_parse.py`) decodes a dict in
Conductor's `WorkflowDef` JSON format with msgspec schemas (`_wire.py`):
it ignores unknown fields, fills missing ones with Conductor's defaults
(from WorkflowDef.java / WorkflowTask.java / TaskDef.java) and returns an
immutable `WorkflowDef`; `to_conductor_json` gives the normalised dict
back. Anything malformed raises `DefinitionError` naming the workflow, the
task reference and the problem — at registration, never mid-run.

Task types the runtime executes are listed in `SUPPORTED_TYPES`; every
other type Conductor knows is recognised and rejected with a clear error
until it is implemented. A type Conductor does not know is Conductor's
USER_DEFINED (TaskType.java): it is run by the system task a runtime
registered under that name (`rt.system_task`, `user_defined`), and
refused as unknown when the runtime registered none.

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

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from cadenza._json import copy_json
from cadenza.language._taskdef import (
    TaskDef,
    TimeoutPolicy,
)

SUPPORTED_TYPES = frozenset(
    {
        "SIMPLE", "WAIT", "HUMAN", "SWITCH", "DECISION", "FORK_JOIN", "JOIN", "DO_WHILE",
        "SET_VARIABLE", "TERMINATE", "SUB_WORKFLOW", "INLINE", "LAMBDA", "FORK_JOIN_DYNAMIC",
        "NOOP", "JSON_JQ_TRANSFORM", "EXCLUSIVE_JOIN", "DYNAMIC", "HTTP", "START_WORKFLOW",
    }
)  # fmt: skip
CONDUCTOR_TYPES = frozenset(
    {
        "SIMPLE", "DYNAMIC", "FORK_JOIN", "FORK_JOIN_DYNAMIC", "DECISION", "SWITCH", "JOIN",
        "DO_WHILE", "SUB_WORKFLOW", "START_WORKFLOW", "EVENT", "WAIT", "HUMAN", "USER_DEFINED",
        "HTTP", "LAMBDA", "INLINE", "EXCLUSIVE_JOIN", "TERMINATE", "KAFKA_PUBLISH", "JSON_JQ_TRANSFORM",
        "SET_VARIABLE", "NOOP",
    }
)  # fmt: skip


def user_defined(kind: str) -> bool:
    """Whether task type `kind` is none Conductor knows: one a registered system task runs."""
    return kind not in CONDUCTOR_TYPES


@dataclass(frozen=True, slots=True)
class TaskSpec:
    """One task of a workflow definition (Conductor's `WorkflowTask`)."""

    ref: str
    name: str
    type: str
    input_parameters: Mapping[str, Any]
    optional: bool = False
    permissive: bool = False  # out of retries it stays failed; the run fails at its end
    start_delay_s: float = 0.0
    task_def: TaskDef | None = None  # an inline `taskDefinition`
    retry_count: int | None = None  # a per-task override of the TaskDef's
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False)
    cases: tuple[tuple[str, tuple[TaskSpec, ...]], ...] = ()  # SWITCH / DECISION
    default_case: tuple[TaskSpec, ...] = ()
    fork_tasks: tuple[tuple[TaskSpec, ...], ...] = ()  # FORK_JOIN
    loop_over: tuple[TaskSpec, ...] = ()  # DO_WHILE
    join_on: tuple[str, ...] = ()  # JOIN, EXCLUSIVE_JOIN
    sub_workflow: WorkflowDef | None = None  # SUB_WORKFLOW: `subWorkflowParam.workflowDefinition`

    def children(self) -> Iterator[tuple[TaskSpec, ...]]:
        """Every nested task list of this task (branches, cases, loop body)."""
        for _value, branch in self.cases:
            yield branch
        yield self.default_case
        yield from self.fork_tasks
        yield self.loop_over

    def branch_for(self, case: str | None) -> tuple[TaskSpec, ...]:
        for value, branch in self.cases:
            if value == case:
                return branch
        return self.default_case


_ITERATION = re.compile(r"^(.*)__(\d+)$")


def base_ref(ref: str) -> str:
    """`ref__3` (a loop iteration's reference, as Conductor names it) -> `ref`."""
    match = _ITERATION.match(ref)
    return match.group(1) if match else ref


@dataclass(frozen=True, slots=True)
class WorkflowDef:
    """A validated workflow definition; `raw` is its normalised Conductor JSON."""

    name: str
    version: int
    tasks: tuple[TaskSpec, ...]
    output_parameters: Mapping[str, Any]
    input_parameters: tuple[str, ...] = ()
    timeout_s: float = 0.0
    timeout_policy: TimeoutPolicy = TimeoutPolicy.ALERT_ONLY
    failure_workflow: str | None = None
    restartable: bool = True
    schema_version: int = 2
    variables: Mapping[str, Any] = field(default_factory=dict)
    input_template: Mapping[str, Any] = field(default_factory=dict)
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False)
    _by_ref: dict[str, TaskSpec] | None = field(
        default=None, init=False, compare=False, repr=False
    )  # every task by reference (the first of a reference), made at the first `spec`

    def spec(self, ref: str) -> TaskSpec:
        """The task `ref` names, nested ones included (a loop iteration's `ref__3`: its
        task's); `KeyError` if none. The first lookup indexes the definition once."""
        by_ref = self._by_ref
        if by_ref is None:
            by_ref = {}
            for task in _walk(self.tasks):
                by_ref.setdefault(task.ref, task)
            object.__setattr__(self, "_by_ref", by_ref)
        found = by_ref.get(ref)
        if found is not None:
            return found
        base = base_ref(ref)
        if base != ref:
            return self.spec(base)
        raise KeyError(ref)

    def position(self, ref: str) -> int:
        for index, task in enumerate(self.tasks):
            if task.ref == ref:
                return index
        raise KeyError(ref)


def _walk(tasks: tuple[TaskSpec, ...]) -> Iterator[TaskSpec]:
    """Every task of a definition, nested ones included, in definition order."""
    for task in tasks:
        yield task
        for branch in task.children():
            yield from _walk(branch)


walk = _walk


def to_conductor_json(definition: WorkflowDef) -> dict[str, Any]:
    """The definition in Conductor's JSON form, defaults filled in."""
    copied: dict[str, Any] = copy_json(definition.raw)
    return copied
