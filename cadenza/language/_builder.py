"""Workflow definitions written in Python, producing Conductor's JSON.

Design note
-----------
The builder is a thin, chainable writer of the same dicts a Conductor
user would write by hand: `workflow("name")` starts a definition,
`tasks()` a nested task list (a SWITCH case, a FORK_JOIN branch, a
DO_WHILE body); each method appends one task and returns the builder;
`build()` returns a fresh dict. It adds only the fields it is given (plus
`name`, `taskReferenceName`, `type` and `inputParameters`), so a built
definition equals its hand-written JSON and `Runtime.register` treats the
two alike. It validates nothing itself: registration does, with the same
`DefinitionError`s.

    cadenza.workflow("order").simple("charge", "charge_card", input={"amount": "${workflow.input.amount}"})
        .switch("route", "${charge.output.status}", {"ok": cadenza.tasks().simple("ship", "ship")})
        .build()
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any, Self


def _branch(branch: Tasks | Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    if isinstance(branch, Tasks):
        return branch.build_tasks()
    return [copy.deepcopy(dict(task)) for task in branch]


class Tasks:
    """A list of tasks; see the module note."""

    def __init__(self) -> None:
        self._tasks: list[dict[str, Any]] = []

    def build_tasks(self) -> list[dict[str, Any]]:
        """The task list as Conductor JSON (a fresh list each time)."""
        return copy.deepcopy(self._tasks)

    def task(self, raw: Mapping[str, Any]) -> Self:
        """Append a task given as Conductor JSON, as it is."""
        self._tasks.append(copy.deepcopy(dict(raw)))
        return self

    def _add(
        self, ref: str, kind: str, name: str | None, input: Mapping[str, Any] | None, **fields: Any
    ) -> Self:
        task: dict[str, Any] = {
            "name": name or ref,
            "taskReferenceName": ref,
            "type": kind,
            "inputParameters": dict(input or {}),
        }
        task.update({key: value for key, value in fields.items() if value is not None})
        self._tasks.append(task)
        return self

    def simple(
        self,
        ref: str,
        task: str | None = None,
        *,
        input: Mapping[str, Any] | None = None,
        optional: bool | None = None,
        retry_count: int | None = None,
        task_definition: Mapping[str, Any] | None = None,
    ) -> Self:
        """A SIMPLE task of type `task` (default: the reference) for a worker."""
        return self._add(
            ref, "SIMPLE", task, input, optional=optional, retryCount=retry_count,
            taskDefinition=dict(task_definition) if task_definition is not None else None,
        )  # fmt: skip

    def wait(self, ref: str, *, duration: str | None = None, until: str | None = None) -> Self:
        """A WAIT: for `duration` ("5s", "2 hours"), until a date, or (neither) a signal."""
        input = {k: v for k, v in (("duration", duration), ("until", until)) if v is not None}
        return self._add(ref, "WAIT", None, input)

    def human(self, ref: str, *, input: Mapping[str, Any] | None = None) -> Self:
        """A HUMAN task: in progress until signalled."""
        return self._add(ref, "HUMAN", None, input)

    def set_variable(self, ref: str, **values: Any) -> Self:
        """SET_VARIABLE: merge `values` into the workflow's variables."""
        return self._add(ref, "SET_VARIABLE", None, values)

    def terminate(
        self, ref: str, status: str, *, reason: str | None = None, output: Any = None
    ) -> Self:
        """TERMINATE the run as `status` (COMPLETED, FAILED or TERMINATED)."""
        input: dict[str, Any] = {"terminationStatus": status}
        if reason is not None:
            input["terminationReason"] = reason
        if output is not None:
            input["workflowOutput"] = output
        return self._add(ref, "TERMINATE", None, input)

    def switch(
        self,
        ref: str,
        value: str,
        cases: Mapping[str, Tasks | Sequence[Mapping[str, Any]]],
        default: Tasks | Sequence[Mapping[str, Any]] | None = None,
        *,
        javascript: bool = False,
        input: Mapping[str, Any] | None = None,
    ) -> Self:
        """A SWITCH on `value` (an input template), or on a JavaScript expression over `input`."""
        if javascript:
            inputs, expression, evaluator = dict(input or {}), value, "javascript"
        else:
            inputs = {**(input or {}), "switchCaseValue": value}
            expression, evaluator = "switchCaseValue", "value-param"
        return self._add(
            ref, "SWITCH", None, inputs, evaluatorType=evaluator, expression=expression,
            decisionCases={case: _branch(branch) for case, branch in cases.items()},
            defaultCase=_branch(default or []),
        )  # fmt: skip

    def fork(self, ref: str, *branches: Tasks | Sequence[Mapping[str, Any]]) -> Self:
        """A FORK_JOIN of `branches`; follow it with `join`."""
        return self._add(ref, "FORK_JOIN", None, None, forkTasks=[_branch(b) for b in branches])

    def join(self, ref: str, *on: str) -> Self:
        """A JOIN waiting for the tasks `on` (empty after a dynamic fork)."""
        return self._add(ref, "JOIN", None, None, joinOn=list(on))

    def dynamic_fork(
        self,
        ref: str,
        *,
        tasks: str,
        inputs: str,
        tasks_param: str = "dynamicTasks",
        inputs_param: str = "dynamicTasksInput",
    ) -> Self:
        """FORK_JOIN_DYNAMIC over the task list `tasks` and input map `inputs` (templates)."""
        return self._add(
            ref, "FORK_JOIN_DYNAMIC", None, {tasks_param: tasks, inputs_param: inputs},
            dynamicForkTasksParam=tasks_param, dynamicForkTasksInputParamName=inputs_param,
        )  # fmt: skip

    def do_while(
        self,
        ref: str,
        body: Tasks | Sequence[Mapping[str, Any]],
        *,
        condition: str | None = None,
        items: str | None = None,
        input: Mapping[str, Any] | None = None,
    ) -> Self:
        """A DO_WHILE running `body` while `condition` (JavaScript) holds, or once per item."""
        return self._add(
            ref, "DO_WHILE", None, input, loopCondition=condition, items=items,
            loopOver=_branch(body),
        )  # fmt: skip

    def sub_workflow(
        self,
        ref: str,
        name: str | None = None,
        *,
        version: int | None = None,
        definition: Workflow | Mapping[str, Any] | None = None,
        input: Mapping[str, Any] | None = None,
    ) -> Self:
        """A SUB_WORKFLOW starting `name` (and `version`), or an inline `definition`."""
        param: dict[str, Any] = {}
        if name is not None:
            param["name"] = name
        if version is not None:
            param["version"] = version
        if definition is not None:
            inline = definition.build() if isinstance(definition, Workflow) else dict(definition)
            param["workflowDefinition"] = copy.deepcopy(inline)
        return self._add(ref, "SUB_WORKFLOW", None, input, subWorkflowParam=param)

    def inline(self, ref: str, expression: str, *, input: Mapping[str, Any] | None = None) -> Self:
        """An INLINE JavaScript task; its output is `{"result": <value>}`."""
        inputs = {**(input or {}), "evaluatorType": "javascript", "expression": expression}
        return self._add(ref, "INLINE", None, inputs)


class Workflow(Tasks):
    """A workflow definition; `build()` gives its Conductor JSON."""

    def __init__(self, name: str, version: int = 1) -> None:
        super().__init__()
        self._fields: dict[str, Any] = {"name": name, "version": version}

    def _set(self, key: str, value: Any) -> Self:
        self._fields[key] = copy.deepcopy(value)
        return self

    def description(self, text: str) -> Self:
        """The workflow's `description`."""
        return self._set("description", text)

    def input(self, *names: str) -> Self:
        """The names of the workflow's inputs (Conductor's `inputParameters`)."""
        return self._set("inputParameters", list(names))

    def output(self, **parameters: Any) -> Self:
        """The workflow's `outputParameters` (templates)."""
        return self._set("outputParameters", parameters)

    def variables(self, **values: Any) -> Self:
        """The workflow variables' initial values (Conductor's `variables`)."""
        return self._set("variables", values)

    def failure_workflow(self, name: str) -> Self:
        """The workflow started when a run of this one fails or times out (`failureWorkflow`)."""
        return self._set("failureWorkflow", name)

    def timeout(self, seconds: float, policy: str = "TIME_OUT_WF") -> Self:
        """The run's `timeoutSeconds` and `timeoutPolicy` (TIME_OUT_WF or ALERT_ONLY)."""
        return self._set("timeoutSeconds", seconds)._set("timeoutPolicy", policy)

    def restartable(self, value: bool) -> Self:
        """Whether a COMPLETED run of it may be restarted (`restartable`, default true)."""
        return self._set("restartable", value)

    def build(self) -> dict[str, Any]:
        """The definition as Conductor JSON (a fresh dict each time)."""
        return {**copy.deepcopy(self._fields), "tasks": self.build_tasks()}


def workflow(name: str, version: int = 1) -> Workflow:
    """Start a workflow definition in Python; `build()` gives its Conductor JSON.

    The builder checks nothing itself: `Runtime.register` validates the
    result and raises `DefinitionError` naming the task and the problem,
    exactly as for the same JSON written by hand.
    """
    return Workflow(name, version)


def tasks() -> Tasks:
    """Start a nested task list: a SWITCH case, a FORK_JOIN branch, a DO_WHILE body.

    Like `workflow`, it validates nothing: registration does.
    """
    return Tasks()
