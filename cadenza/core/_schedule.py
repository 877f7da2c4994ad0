"""`decide`: what a run should do next, as a pure function of its state.

Design note
-----------
`decide(definition, state, env) -> list[Event]` returns *decisions*
(`TaskScheduled`, `TaskCanceled`, `WorkflowCompleted`, `WorkflowFailed`)
and no I/O happens here. The run's actor applies them, asks again until the
answer is empty (a fixpoint), journals inputs and decisions in one record,
and only then acts on them (enqueue, arm timers, notify waiters).

Rules, after Conductor's DeciderService:
- a paused or finished run decides nothing;
- a failed or timed-out attempt is retried while `attempt < retryCount`
  (the task's override, else its TaskDef's), after the TaskDef's retry
  delay plus a jitter drawn deterministically from the attempt's id; a
  FAILED_WITH_TERMINAL_ERROR attempt is never retried; an exhausted task
  fails the run — TIMED_OUT if the task timed out, else FAILED — after
  cancelling what is still in flight;
- a task's `startDelay` holds its first attempt back that many seconds;
- a WAIT task is IN_PROGRESS from the start with its deadline (`wake_at`)
  from `duration` or `until`, or none (it waits for a signal); a WAIT
  input that does not parse, or one past the run's timer quota
  (`Environment.max_timers_per_run`), fails FAILED_WITH_TERMINAL_ERROR at once;
- an exhausted `optional` task is marked COMPLETED_WITH_ERRORS and the run
  goes on; only SIMPLE and user-defined tasks are retried (system tasks fail at once);
- otherwise the walker of `_flow.py` finds the next step in the nested
  definition (SWITCH, FORK_JOIN/JOIN, DO_WHILE, SUB_WORKFLOW...), one step
  per call; when the whole definition is done and nothing is in flight the
  run completes with its `outputParameters` (the last task's output when
  empty).

Decisions are stamped with `state.updated_at`, the time of the event that
prompted them, and task ids are `<run id>-<n>` with n the number of tasks
the run ever scheduled before (those a restart or rerun dropped included,
so no id is reused), so the same inputs always give the same decisions.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from cadenza.core._events import (
    Event,
    TaskFailed,
    TaskScheduled,
)
from cadenza.core._state import TaskState, WorkflowState
from cadenza.language._definition import TaskSpec, WorkflowDef, base_ref
from cadenza.language._expressions import resolve
from cadenza.language._script import Evaluations
from cadenza.language._taskdef import TaskDef
from cadenza.language._waits import WaitInputError, wait_deadline

DEFAULT_GROUP = "default"
NO_DOMAIN = "NO_DOMAIN"  # in a task_to_group fallback list: the default group
WAIT_GROUP = "-"  # WAIT tasks are not queued in any worker group
ACTIVE_POLL_S = 10.0  # a poll this recent makes its group active (activeWorkerLastPollTimeout)
FORK = "FORK"  # the task type a FORK_JOIN or FORK_JOIN_DYNAMIC runs as
_RUN_AS = {"FORK_JOIN": FORK, "FORK_JOIN_DYNAMIC": FORK}


@dataclass(frozen=True, slots=True)
class Environment:
    """What decide() may know besides the definition and the state.

    `task_defs` maps task names to registered TaskDefs; `groups` maps task
    names to the group their local worker was registered in; `live` names
    the groups with a live local worker or a parked poll (for the fallback
    lists of `task_to_group`).
    """

    task_defs: Mapping[str, TaskDef] = field(default_factory=dict)
    groups: Mapping[str, str] = field(default_factory=dict)
    default_group: str = DEFAULT_GROUP
    live: frozenset[str] = frozenset()
    max_timers_per_run: int = 10_000  # pending WAIT deadlines one run may hold
    timers_by_type: Mapping[str, int] = field(default_factory=dict)  # pending WAITs, all runs
    max_timers_per_type: int = 1_000_000  # pending WAIT deadlines one task type may hold
    max_variables_kb: int = 256  # a run's variables as JSON (maxWorkflowVariablesPayloadSize...)
    template_env: Mapping[str, str] = field(default_factory=dict)  # ${NAME} in a task's input
    scripts: Evaluations | None = None  # a run's JavaScript results, made off the loop
    # task name -> groups a worker polled for it within ACTIVE_POLL_S (Conductor's poll data)
    polled: Mapping[str, frozenset[str]] = field(default_factory=dict)
    system_tasks: frozenset[str] = frozenset()  # task types of registered system tasks

    def with_scripts(self, scripts: Evaluations) -> Environment:
        """This environment with a run's own `scripts` book: as `dataclasses.replace`, at a
        third of its cost (a run's actor makes one each time it is loaded)."""
        env = object.__new__(Environment)
        for name in _ENV_FIELDS:
            object.__setattr__(env, name, getattr(self, name))
        object.__setattr__(env, "scripts", scripts)
        return env

    def task_def(self, spec: TaskSpec) -> TaskDef:
        if spec.task_def is not None:
            return spec.task_def
        return self.task_defs.get(spec.name) or TaskDef(name=spec.name)

    def group_for(self, task_name: str, task_to_group: Mapping[str, str]) -> str:
        """Conductor's taskToDomain: the task's own entry, then `*`, then the worker's group.

        An entry may be a fallback list, `"gpu,cpu,NO_DOMAIN"`: as
        WorkflowExecutorOps.getActiveDomain (:1950) picks, the first group,
        NO_DOMAIN left out, that is active — in `live`, or polled for this task
        within the last ACTIVE_POLL_S seconds (even emptily); when none is, the
        last one named (NO_DOMAIN: the default group). A single name is used as
        it is (an unknown group is created).
        """
        routed = task_to_group.get(task_name) or task_to_group.get("*")
        if not routed:
            return self.groups.get(task_name, self.default_group)
        names = [name.strip() for name in routed.split(",") if name.strip()]
        if not names:
            return self.default_group
        polled = self.polled.get(task_name, frozenset())
        for name in names:
            if name != NO_DOMAIN and (name in self.live or name in polled):
                return name
        return self.default_group if names[-1] == NO_DOMAIN else names[-1]


_ENV_FIELDS = tuple(f.name for f in fields(Environment))


def task_id(state: WorkflowState, offset: int = 0) -> str:
    return f"{state.id}-{len(state.tasks) + state.dropped + offset}"


def roots_for(
    state: WorkflowState, new_task_id: str | None = None, names: Mapping[str, str] | None = None
) -> Any:
    """The lookup of expression roots (`workflow`, task references) for a state.

    `CPEWF_TASK_ID` is, as in Conductor, the id of the task being scheduled;
    a root that is no task reference but one of `names` (`Environment.template_env`)
    is its value, as Conductor resolves `${NAME}` from a system property or
    environment variable (ParametersUtils.java:275-279, EnvUtils.java:32-45).
    Conductor looks at the environment first; cadenza at the task references first.
    """

    def roots(name: str) -> Any:
        if name == "CPEWF_TASK_ID":
            return new_task_id
        if name == "workflow":
            return {
                "input": state.input,
                "output": state.output,
                "variables": state.variables,
                "workflowId": state.id,
                "workflowType": state.name,
                "version": state.version,
                "correlationId": state.correlation_id,
                "priority": state.priority,
                "status": state.status.value,
                "parentWorkflowId": state.parent_id,
                "createTime": int(state.created_at * 1000),
                "reasonForIncompletion": state.reason,
                "taskToDomain": state.task_to_group,
            }
        task = state.latest(name)
        if task is None:  # inside a loop, `ref` is the newest iteration's `ref__n`
            for candidate in reversed(state.tasks):
                if base_ref(candidate.ref) == name:
                    task = candidate
                    break
            else:
                return names.get(name) if names else None
        return {
            "input": task.input,
            "output": task.output,
            "status": task.status.value,
            "taskId": task.id,
            "referenceTaskName": task.ref,
            "taskType": task.type,
            "retryCount": task.attempt,
            "iteration": task.iteration,
            "workerId": task.worker_id,
            "reasonForIncompletion": task.reason,
            "scheduledTime": int(task.scheduled_at * 1000),
            "startTime": int((task.started_at or 0) * 1000),
            "endTime": int((task.ended_at or 0) * 1000),
        }

    return roots


def _current(state: WorkflowState) -> list[TaskState]:
    return [task for task in state.tasks if not task.retried]


def _schedule(
    definition: WorkflowDef,
    spec: TaskSpec,
    state: WorkflowState,
    env: Environment,
    *,
    attempt: int = 0,
    delay_s: float = 0.0,
    retried_from: str | None = None,
    ref: str | None = None,
    iteration: int = 0,
    place_at: float | None = None,
    join_on: tuple[str, ...] | None = None,
) -> list[Event]:
    """`spec`'s next attempt, as Conductor's task mapper for its type makes it.

    A FORK_JOIN or FORK_JOIN_DYNAMIC runs as type `FORK` (ForkJoinTaskMapper.java:75,
    ForkJoinDynamicTaskMapper.java:295); a JOIN's input is `{"joinOn": [...]}`
    (JoinTaskMapper.java:60-61), and after a dynamic fork (`join_on` given: the forked
    references) its own `inputParameters`, unresolved, plus `joinOn`
    (ForkJoinDynamicTaskMapper.java:273-274).
    """
    now = state.updated_at
    new_id = task_id(state)
    roots = roots_for(state, new_id, env.template_env)
    task_input = resolve(spec.input_parameters, roots)
    template = env.task_def(spec).input_template if spec.type == "SIMPLE" else {}
    if template:  # Conductor: the TaskDef's inputTemplate gives defaults under inputParameters
        task_input = {**resolve(template, roots), **task_input}
    if spec.type == "JOIN":
        task_input = (
            {"joinOn": list(spec.join_on)}
            if join_on is None
            else {**copy.deepcopy(dict(spec.input_parameters)), "joinOn": list(join_on)}
        )
    task_type = spec.name if spec.type == "SIMPLE" else _RUN_AS.get(spec.type, spec.type)
    ref = ref or spec.ref
    wake_at = None
    if spec.type == "WAIT":
        try:
            wake_at = wait_deadline(task_input, now + delay_s)  # from when it starts
            waiting = sum(1 for t in state.tasks if t.wake_at is not None and not t.status.terminal)
            if wake_at is not None and waiting >= env.max_timers_per_run:
                raise WaitInputError(
                    f"the run already holds {waiting} pending timers, its quota (max_timers_per_run)"
                )
            of_type = env.timers_by_type.get(spec.name, 0)
            if wake_at is not None and of_type >= env.max_timers_per_type:
                raise WaitInputError(
                    f"task type {spec.name!r} already holds {of_type} pending timers, "
                    "its quota (max_timers_per_type)"
                )
        except WaitInputError as exc:
            return [
                TaskScheduled(at=now, task_id=new_id, ref=ref, name=spec.name, type=task_type,
                              input=task_input, attempt=attempt, group=WAIT_GROUP, ready_at=now,
                              iteration=iteration),
                TaskFailed(at=now, task_id=new_id, reason=f"task {spec.ref!r}: {exc}",
                           status="FAILED_WITH_TERMINAL_ERROR"),
            ]  # fmt: skip
    return [
        TaskScheduled(
            at=now,
            task_id=new_id,
            ref=ref,
            name=spec.name,
            type=task_type,
            input=task_input,
            attempt=attempt,
            group=env.group_for(spec.name, state.task_to_group)
            if spec.type == "SIMPLE"
            else WAIT_GROUP,
            ready_at=now + delay_s,
            retried_from=retried_from,
            iteration=iteration,
            wake_at=wake_at,
            sub_workflow_id=child_id(new_id) if spec.type == "SUB_WORKFLOW" else None,
            place_at=place_at,
        )
    ]


def child_id(parent_task_id: str) -> str:
    """The run id of the child a SUB_WORKFLOW task starts: derived, so a retried start finds it."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"cadenza:sub:{parent_task_id}"))


def workflow_output(definition: WorkflowDef, state: WorkflowState) -> dict[str, Any]:
    """The run's output: `outputParameters` resolved, else the last task's output."""
    if definition.output_parameters:
        return dict(resolve(definition.output_parameters, roots_for(state)))
    current = _current(state)
    return dict(current[-1].output) if current else {}
