"""System tasks the walker runs by itself: NOOP, JSON_JQ_TRANSFORM, EXCLUSIVE_JOIN, DYNAMIC.

Design note
-----------
Each follows Conductor's mapper (core/.../execution/mapper/) and its task
(core/.../execution/tasks/, json-jq-task/), as pure functions of the
events that schedule the task and the run's state:

- NOOP completes at once with no output (Noop.java: `execute` sets COMPLETED).
- JSON_JQ_TRANSFORM runs its `queryExpression` with the `jq` package over
  the whole task input (JsonJqTransform.java:62-104): output `result` (the
  first value, null if none) and `resultList` (every value); a missing
  expression fails it (FAILED, `Missing 'queryExpression' in input
  parameters`), and an error fails it with the message as reason and as
  output `error`. jq's C messages are put as jackson-jq words them where
  they differ (`Cannot index string with string "array"`).
- EXCLUSIVE_JOIN is in progress from the start (ExclusiveJoinTaskMapper.java,
  input `joinOn` and `defaultExclusiveJoinTask`); `exclusive_join` is
  ExclusiveJoin.java:41-139: the first `joinOn` task that was scheduled
  decides (in a loop, its reference of this iteration); if none did and is
  terminal, the first scheduled `defaultExclusiveJoinTask` (its reference
  as written; a task not ended counts as successful, as TaskModel.Status
  says). Terminal and successful completes the join with that task's
  output; a failure fails it with the reasons.
- SET_VARIABLE merges its input into the variables (`apply` does, on its
  completion) unless the merged variables, as compact JSON, pass
  `Environment.max_variables_kb` kilobytes: then it ends
  FAILED_WITH_TERMINAL_ERROR with Conductor's reason and the variables stay
  as they were (SetVariable.java:59-113, maxWorkflowVariablesPayloadSizeThreshold).
- DYNAMIC takes its task name from the input named by
  `dynamicTaskNameParam` and is scheduled as a worker task of that name
  and type (DynamicTaskMapper.java:58-93); it needs a TaskDef (inline or
  registered). No name, or no TaskDef, ends the run FAILED with Conductor's
  reason (a TerminateWorkflowException: `MapperRefused`, the round discarded).

HTTP does I/O: it is scheduled into `SYSTEM_GROUP` with its input plus
`asyncComplete` (HTTPTaskMapper.java:75-89), and run there by the engine's
system worker (`cadenza.engine._http_task`), as Conductor runs it async.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

import jq  # type: ignore[import-not-found]  # the jq package ships no type hints

from cadenza.core._events import (
    Event,
    TaskCompleted,
    TaskFailed,
    TaskScheduled,
)
from cadenza.core._schedule import Environment, _schedule, roots_for, task_id
from cadenza.core._state import TaskState, WorkflowState
from cadenza.core._status import TaskStatus
from cadenza.core._terminate import MapperRefused
from cadenza.language._definition import TaskSpec, WorkflowDef
from cadenza.language._expressions import resolve

AT_ONCE = frozenset({"NOOP", "JSON_JQ_TRANSFORM"})  # scheduled and ended in one step
SYSTEM_GROUP = "cadenza.system"  # the group of the engine's own system workers (HTTP)
BY_SYSTEM_WORKER = frozenset({"HTTP"})
QUERY = "queryExpression"


def _scheduled_id(scheduled: list[Event]) -> str:
    found: str = scheduled[0].task_id  # type: ignore[attr-defined]
    return found


def run_at_once(kind: str, scheduled: list[Event], now: float) -> list[Event]:
    """A NOOP or JSON_JQ_TRANSFORM just scheduled, and how it ended."""
    new_id = _scheduled_id(scheduled)
    if kind == "NOOP":
        return [*scheduled, TaskCompleted(at=now, task_id=new_id, output={})]
    task_input = scheduled[0].input  # type: ignore[attr-defined]
    query = task_input.get(QUERY)
    if query is None:  # JsonJqTransform.java:64-69
        reason = f"Missing '{QUERY}' in input parameters"
        return [*scheduled, TaskFailed(at=now, task_id=new_id, reason=reason)]
    try:
        if not isinstance(query, str):
            raise ValueError(f"'{QUERY}' is not a string: {query!r}")
        values = _compiled(query).input_value(task_input).all()
    except ValueError as exc:  # jq's compile and run errors
        message = jq_message(str(exc))
        failed = TaskFailed(at=now, task_id=new_id, reason=message, output={"error": message})
        return [*scheduled, failed]
    output = {"result": values[0] if values else None, "resultList": values}
    return [*scheduled, TaskCompleted(at=now, task_id=new_id, output=output)]


def set_variable(scheduled: list[Event], state: WorkflowState, max_kb: int) -> list[Event]:
    """A SET_VARIABLE just scheduled, and how it ended (see the module note)."""
    new_id, now = _scheduled_id(scheduled), state.updated_at
    task_input = scheduled[0].input  # type: ignore[attr-defined]
    if task_input:  # SetVariable.execute: the size is checked only when there is input
        merged = {**state.variables, **task_input}
        size = len(json.dumps(merged, separators=(",", ":"), ensure_ascii=False).encode())
        if size > max_kb * 1024:  # SetVariable.java:69
            reason = (
                f"The variables payload size: {size} of workflow: {state.id} is greater than "
                f"the permissible limit: {max_kb} kilobytes"
            )
            failed = TaskFailed(
                at=now, task_id=new_id, reason=reason, status="FAILED_WITH_TERMINAL_ERROR"
            )
            return [*scheduled, failed]
    return [*scheduled, TaskCompleted(at=now, task_id=new_id, output={})]


@lru_cache(maxsize=1000)  # JsonJqTransform.java:106-112: a cache of 1,000 compiled queries
def _compiled(query: str) -> Any:
    return jq.compile(query)


_INDEX = re.compile(r"^Cannot index (\w+) with (\w+) \((.*)\)$", re.DOTALL)


def jq_message(message: str) -> str:
    """jq's error as jackson-jq (Conductor's jq) words it, where they are known to differ."""
    found = _INDEX.match(message)
    if found:  # jq 1.7: `... with string ("x")`; jackson-jq: `... with string "x"`
        return f"Cannot index {found.group(1)} with {found.group(2)} {found.group(3)}"
    return message


def for_system_worker(scheduled: list[Event], spec: TaskSpec) -> list[Event]:
    """An HTTP task, queued for the engine's system worker."""
    first = scheduled[0]
    assert isinstance(first, TaskScheduled)
    task_input = {**first.input, "asyncComplete": bool(spec.raw.get("asyncComplete"))}
    routed = dataclasses.replace(first, input=task_input, group=SYSTEM_GROUP)
    return [routed, *scheduled[1:]]


def exclusive_join_input(scheduled: list[Event], spec: TaskSpec) -> list[Event]:
    """The join's input is its `joinOn` and `defaultExclusiveJoinTask` (the mapper's)."""
    task_input: dict[str, Any] = {"joinOn": list(spec.join_on)}
    if spec.raw.get("defaultExclusiveJoinTask") is not None:
        task_input["defaultExclusiveJoinTask"] = list(spec.raw["defaultExclusiveJoinTask"])
    first = scheduled[0]
    assert isinstance(first, TaskScheduled)
    return [dataclasses.replace(first, input=task_input), *scheduled[1:]]


def exclusive_join(
    task: TaskState,
    spec: TaskSpec,
    current: Mapping[str, TaskState],
    iteration: int,
    spec_of: Callable[[str], TaskSpec | None],
    now: float,
) -> list[Event]:
    """ExclusiveJoin.execute: the join's end, or [] while it waits (see the module note)."""

    def found(ref: str) -> TaskState | None:
        got = current.get(ref)
        return None if got is None or got.status is TaskStatus.SKIPPED else got

    def unsuccessful(t: TaskState) -> bool:  # TaskModel.Status: a task not ended is successful
        return t.status.terminal and not t.status.successful

    join_on = [f"{ref}__{iteration}" if iteration else ref for ref in spec.join_on]
    decided: TaskState | None = None
    done = failures = False
    reasons: list[str] = []
    for ref in join_on:
        decided = found(ref)
        if decided is None:
            continue
        done = decided.status.terminal
        joined = [current.get(r) for r in join_on]
        joined_spec = spec_of(decided.ref)
        permissive = joined_spec is not None and joined_spec.permissive
        failures = unsuccessful(decided) and (
            not permissive or all(t is not None and t.status.terminal for t in joined)
        )
        if failures:
            reasons.append(
                " ".join(t.reason or "null" for t in joined if t is not None and unsuccessful(t))
            )
        break
    if not done:
        for ref in spec.raw.get("defaultExclusiveJoinTask") or []:
            decided = found(ref)
            if decided is None:
                continue
            done = decided.status.terminal
            failures = unsuccessful(decided)
            if failures:
                reasons.append(f"{decided.reason or 'null'} ")
            break
    if not (done or failures) or decided is None:
        return []
    if failures:
        return [TaskFailed(at=now, task_id=task.id, reason="".join(reasons))]
    return [TaskCompleted(at=now, task_id=task.id, output=dict(decided.output))]


def schedule_dynamic(
    definition: WorkflowDef,
    spec: TaskSpec,
    state: WorkflowState,
    env: Environment,
    *,
    ref: str,
    iteration: int,
) -> list[Event]:
    """A DYNAMIC task scheduled as the worker task its input names; else `MapperRefused`
    (DynamicTaskMapper throws TerminateWorkflowException)."""
    param = str(spec.raw.get("dynamicTaskNameParam"))
    task_input = resolve(spec.input_parameters, roots_for(state, task_id(state)))
    name = task_input.get(param)
    reason = None
    if name is None:  # DynamicTaskMapper.getDynamicTaskName
        reason = (
            "Cannot map a dynamic task based on the parameter and input. "
            f"Parameter= {param}, input= {_java_map(task_input)}"
        )
    else:
        name = _java_text(name)
        named = dataclasses.replace(spec, name=name, type="SIMPLE")
        if spec.task_def is None and name not in env.task_defs:  # getDynamicTaskDefinition
            reason = (
                f"Invalid task specified.  Cannot find task by name {name} in the task definitions"
            )
        else:
            return _schedule(
                definition, named, state, env, delay_s=spec.start_delay_s, ref=ref,
                iteration=iteration,
            )  # fmt: skip
    raise MapperRefused(reason)


def _java_text(value: Any) -> str:
    """`String.valueOf(value)` for JSON values."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return _java_map(value)
    if isinstance(value, list):
        return "[" + ", ".join(_java_text(v) for v in value) + "]"
    return "null" if value is None else str(value)


def _java_map(value: Mapping[str, Any]) -> str:
    return "{" + ", ".join(f"{k}={_java_text(v)}" for k, v in value.items()) + "}"
