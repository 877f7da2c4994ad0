"""The walker: the next step of a run through Conductor's nested control flow.

Design note
-----------
A definition is a tree of task lists. The walker re-derives, from the
state alone, where the run is: it walks the top-level list in order; a
task with no current attempt (a superseded attempt does not count) is the
next step, and the walk stops at the first step it finds (the actor asks
again until there is none, so a fork's branches start one decision at a
time, in branch order). A task in flight blocks the rest of its list; a
successful one lets the walk go on to the next task of its enclosing list,
and when a nested list ends control returns to its parent:

- SWITCH/DECISION completes at once with `evaluationResult` (its chosen
  case, the value as Java's `"" + value` prints it: a missing one is
  "null"); then its branch is walked, and the task after the switch follows
  when the branch is done. A value matching no case and no default takes
  an empty branch: the switch is done and the workflow continues.
- FORK_JOIN_DYNAMIC plans its branches from its input and completes at
  once (bad input fails the run, naming it, with no fork task added, as
  Conductor's TerminateWorkflowException does; see `_dynamic.py`); each forked
  task is a branch, and the JOIN right after it also joins on them.
- FORK_JOIN completes at once; every branch is walked (a blocked branch
  does not block the others) and the fork counts as done, so the JOIN
  after it is scheduled. Both forks run as type FORK, and a JOIN's input
  is its `joinOn` (see `_schedule`). The JOIN (in progress from the
  start) completes, with output `{ref: output}` (non-empty outputs only),
  once each `joinOn` task is terminal and successful (COMPLETED_WITH_ERRORS
  if an optional one ended so); once each is terminal and one (permissive)
  is not successful it fails with their reasons (CANCELED if each of those
  was CANCELED).
- An exhausted `permissive` task that failed lets the walk go on; when
  the walk is done the run fails, with each such task's failure named.
- DO_WHILE is in progress from the start; iteration n (from 1) runs the
  body with references `ref__n`. The loop's own output carries
  `iteration` (and, for the `items` form, `loopItem`/`loopIndex`), raised
  by a `TaskUpdated` before the iteration's first task, and only once the
  walk finds nothing else to do: Conductor's DoWhile runs as a system task
  after the tasks its decide scheduled are added (DoWhile.java:115,
  WorkflowExecutorOps.java:2508), so a loop in a fork starts its body after
  the fork's other branches and the JOIN; when a body is done
  the loop goes on while there are items left (the `items` form) or the
  `loopCondition` holds, else it completes with `iteration` and each
  iteration's outputs under `"1"`, `"2"`...
- SWITCH `javascript`, DECISION `caseExpression`, DO_WHILE `loopCondition`,
  INLINE and LAMBDA evaluate JavaScript (`_script.py`); an error or a limit
  reached fails the task (FAILED_WITH_TERMINAL_ERROR; INLINE and LAMBDA
  FAILED, as Conductor's tasks do) with a reason naming it. With an
  `Evaluations` book in the environment (a run's actor gives one) the walk
  reads results from it; one it lacks is recorded as wanted and the walk
  decides nothing, so the actor can evaluate off the event loop and ask again.
- SET_VARIABLE completes at once (`apply` merges its input into the
  variables); TERMINATE completes at once and ends the run as its
  `terminationStatus` says, cancelling what is in flight, with its
  `workflowOutput` and its `terminationReason` (blank: `Workflow is <S> by
  TERMINATE task: <id>`, a COMPLETED run included, as Conductor does).
- SIMPLE, WAIT, HUMAN and SUB_WORKFLOW are scheduled and waited for.

When the top-level list is done and nothing is in flight, the run
completes. Everything here is a pure function of (definition, state, env).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from cadenza.core._cases import case_text, chosen_branch, failure_reason, iteration_ref
from cadenza.core._dynamic import dynamic_specs, plan_dynamic_fork, spec_for
from cadenza.core._events import (
    Event,
    TaskCanceled,
    TaskCompleted,
    TaskFailed,
    TaskScheduled,
    TaskUpdated,
    WorkflowCompleted,
    WorkflowFailed,
)
from cadenza.core._join import join_events, spec_join_on
from cadenza.core._schedule import Environment, _schedule, roots_for, workflow_output
from cadenza.core._start_workflow import START_WORKFLOW, start_request
from cadenza.core._state import TaskState, WorkflowState
from cadenza.core._system_tasks import (
    AT_ONCE,
    exclusive_join,
    exclusive_join_input,
    run_at_once,
    schedule_dynamic,
    set_variable,
)
from cadenza.core._user_defined import by_system_worker, to_system_worker
from cadenza.language._definition import TaskSpec, WorkflowDef, walk
from cadenza.language._expressions import resolve
from cadenza.language._script import (
    ScriptError,
    ScriptPending,
    evaluate,
    lambda_script,
    truthy,
)
from cadenza.language._validate import TERMINATION_STATUSES, switch_script

_SYSTEM = frozenset({"DYNAMIC", "EXCLUSIVE_JOIN", START_WORKFLOW})


class Walker:
    """One walk of the definition against a state; see the module note."""

    def __init__(self, definition: WorkflowDef, state: WorkflowState, env: Environment):
        self.definition = definition
        self.state = state
        self.env = env
        self.current: dict[str, TaskState] = {}
        for task in state.tasks:
            if not task.retried:
                self.current[task.ref] = task
        self.step: list[Event] | None = None
        self.dynamic_join_on: dict[str, tuple[str, ...]] = {}  # a JOIN after a dynamic fork
        self.deferred: list[Event] | None = None  # a loop's next iteration (module note)

    def next_step(self) -> list[Event]:
        try:
            done = self._list(self.definition.tasks, 0)
        except ScriptPending:  # the run's actor evaluates off the loop, then asks again
            return []
        if self.step is not None:
            return self.step
        if self.deferred is not None:  # a loop's next iteration, after what the walk scheduled
            return self.deferred
        if done and all(task.status.terminal for task in self.current.values()):
            failed = [t for t in self.current.values() if self._permissive_failure(t)]
            if failed:  # DeciderService.decide: the permissive tasks' failures end the run
                reason = ". ".join(failure_reason(t.id, t.status.value, t.reason) for t in failed)
                return [WorkflowFailed(at=self.state.updated_at, reason=reason)]
            output = workflow_output(self.definition, self.state)
            return [WorkflowCompleted(at=self.state.updated_at, output=output)]
        return []

    def _permissive_failure(self, task: TaskState) -> bool:
        """An exhausted permissive (not optional) task that did not succeed."""
        if not task.status.terminal or task.status.successful:
            return False
        spec = spec_for(self.definition, self.state, task.ref)
        return spec.permissive and not spec.optional

    # -- the walk ---------------------------------------------------------------

    def _list(self, specs: tuple[TaskSpec, ...], iteration: int) -> bool:
        previous: TaskSpec | None = None
        for spec in specs:
            if (
                spec.type == "JOIN"
                and previous is not None
                and previous.type == "FORK_JOIN_DYNAMIC"
            ):
                fork = self.current.get(iteration_ref(previous.ref, iteration))
                forked = fork.output.get("forkedTasks") if fork is not None else None
                self.dynamic_join_on[iteration_ref(spec.ref, iteration)] = tuple(forked or ())
            done = self._task(spec, iteration)
            if self.step is not None or not done:
                return False
            previous = spec
        return True

    def _take(self, events: list[Event]) -> bool:
        self.step = events
        return False

    def _schedule(self, spec: TaskSpec, iteration: int) -> list[Event]:
        ref = iteration_ref(spec.ref, iteration)
        return _schedule(
            self.definition, spec, self.state, self.env,
            delay_s=spec.start_delay_s, ref=ref, iteration=iteration,
            join_on=self.dynamic_join_on.get(ref) if spec.type == "JOIN" else None,
        )  # fmt: skip

    def _at_once(self, spec: TaskSpec, iteration: int, output: dict[str, Any]) -> bool:
        """Schedule a system task and complete it in the same step."""
        return self._at_once_scheduled(self._schedule(spec, iteration), output)

    def _task(self, spec: TaskSpec, iteration: int) -> bool:
        task = self.current.get(iteration_ref(spec.ref, iteration))
        kind = spec.type
        if kind in ("SWITCH", "DECISION"):
            if task is None:
                return self._switch(spec, iteration)
            if not task.status.successful:
                return False
            return self._list(chosen_branch(spec, task), iteration)
        if kind in ("FORK_JOIN", "FORK_JOIN_DYNAMIC"):
            if task is None:
                if kind == "FORK_JOIN_DYNAMIC":
                    return self._dynamic_fork(spec, iteration)
                return self._at_once(spec, iteration, {})
            if not task.status.successful:
                return False
            branches = spec.fork_tasks
            if kind == "FORK_JOIN_DYNAMIC":
                branches = tuple((forked,) for forked in dynamic_specs(task, self.definition.name))
            for branch in branches:
                self._list(branch, iteration)
                if self.step is not None:
                    return False
            return True
        if task is None:
            if kind == "TERMINATE":
                return self._terminate(spec, iteration)
            if kind == "SET_VARIABLE":
                scheduled = self._schedule(spec, iteration)
                return self._take(set_variable(scheduled, self.state, self.env.max_variables_kb))
            if kind in ("INLINE", "LAMBDA"):
                return self._script_task(spec, iteration)
            if kind in AT_ONCE or by_system_worker(kind) or kind in _SYSTEM:
                return self._system_task(spec, iteration)
            return self._take(self._schedule(spec, iteration))
        if task.status.terminal:  # an exhausted permissive task lets the walk go on
            return task.status.successful or (spec.permissive and not spec.optional)
        if kind == "JOIN":
            return self._join(spec, task, iteration)
        if kind == "EXCLUSIVE_JOIN":
            ended = exclusive_join(
                task, spec, self.current, iteration, self._spec_of, self.state.updated_at
            )
            return self._take(ended) if ended else False
        if kind == "DO_WHILE":
            return self._loop(spec, task)
        return False

    # -- the control-flow tasks --------------------------------------------------

    def _system_task(self, spec: TaskSpec, iteration: int) -> bool:
        """NOOP, JSON_JQ_TRANSFORM, DYNAMIC, EXCLUSIVE_JOIN (`_system_tasks.py`), START_WORKFLOW."""
        if spec.type == "DYNAMIC":
            in_flight = [t for t in self.current.values() if not t.status.terminal]
            return self._take(
                schedule_dynamic(
                    self.definition,
                    spec,
                    self.state,
                    self.env,
                    ref=iteration_ref(spec.ref, iteration),
                    iteration=iteration,
                    in_flight=in_flight,
                )
            )
        scheduled = self._schedule(spec, iteration)
        if spec.type == START_WORKFLOW:  # in progress until its run started (_start_workflow.py)
            request = start_request(scheduled[0].input, self.state)  # type: ignore[attr-defined]
            if isinstance(request, str):
                failed = TaskFailed(at=self.state.updated_at, task_id=_id(scheduled),
                                    reason=request, status="FAILED")  # fmt: skip
                return self._take([*scheduled, failed])
            return self._take(scheduled)
        if spec.type == "EXCLUSIVE_JOIN":  # in progress from the start, as a JOIN
            return self._take(exclusive_join_input(scheduled, spec))
        if by_system_worker(spec.type):
            return self._take(to_system_worker(scheduled, spec, self.env))
        return self._take(run_at_once(spec.type, scheduled, self.state.updated_at))

    def _spec_of(self, ref: str) -> TaskSpec | None:
        try:
            return spec_for(self.definition, self.state, ref)
        except KeyError:
            return None

    def _switch(self, spec: TaskSpec, iteration: int) -> bool:
        scheduled = self._schedule(spec, iteration)
        task_input = scheduled[0].input  # type: ignore[attr-defined]
        script = switch_script(spec)
        if script is not None:
            try:
                value = self._evaluate(script, task_input)
            except ScriptError as exc:
                return self._fail_at_once(
                    spec, scheduled, f"evaluating its expression failed: {exc}"
                )
        else:
            key = (
                spec.raw.get("expression")
                if spec.type == "SWITCH"
                else spec.raw.get("caseValueParam")
            )
            value = task_input.get(key) if isinstance(key, str) else None
        case = case_text(value)
        output: dict[str, Any]
        if spec.type == "DECISION":  # DecisionTaskMapper.java:84-88, :107
            has_children = bool(spec.branch_for(case) or spec.default_case)
            task_input = {"case": case, **({"hasChildren": "true"} if has_children else {})}
            output = {"caseOutput": [case]}
        else:  # SwitchTaskMapper.java:104-107
            task_input = {**task_input, "case": case}
            output = {"evaluationResult": [case], "selectedCase": case}
        first = scheduled[0]
        if isinstance(first, TaskScheduled):
            scheduled[0] = dataclasses.replace(first, input=task_input)
        done = TaskCompleted(at=self.state.updated_at, task_id=_id(scheduled), output=output)
        return self._take([*scheduled, done])

    def _script_task(self, spec: TaskSpec, iteration: int) -> bool:
        """INLINE (`evaluatorType`, `expression`) and LAMBDA (`scriptExpression`): `{"result": ...}`."""
        scheduled = self._schedule(spec, iteration)
        task_input = scheduled[0].input  # type: ignore[attr-defined]
        if spec.type == "INLINE" and task_input.get("evaluatorType") == "value-param":
            key = task_input.get("expression")
            return self._at_once_scheduled(scheduled, {"result": task_input.get(str(key))})
        script = task_input.get("expression" if spec.type == "INLINE" else "scriptExpression")
        if not isinstance(script, str):
            return self._fail_at_once(
                spec, scheduled, f"its script is not a string (got {script!r})"
            )
        try:
            result = self._evaluate(
                script if spec.type == "INLINE" else lambda_script(script), task_input
            )
        except ScriptError as exc:
            return self._fail_at_once(spec, scheduled, f"its script failed: {exc}", status="FAILED")
        return self._at_once_scheduled(scheduled, {"result": result})

    def _at_once_scheduled(self, scheduled: list[Event], output: dict[str, Any]) -> bool:
        done = TaskCompleted(at=self.state.updated_at, task_id=_id(scheduled), output=output)
        return self._take([*scheduled, done])

    def _fail_at_once(
        self,
        spec: TaskSpec,
        scheduled: list[Event],
        problem: str,
        *,
        status: str = "FAILED_WITH_TERMINAL_ERROR",
    ) -> bool:
        reason = f"task {spec.ref!r}: {problem}"
        output = {"error": reason}
        failed = TaskFailed(
            at=self.state.updated_at, task_id=_id(scheduled), reason=reason, status=status,
            output=output,
        )  # fmt: skip
        return self._take([*scheduled, failed])

    def _dynamic_fork(self, spec: TaskSpec, iteration: int) -> bool:
        """Plan the branches from the fork's input (see `_dynamic.py`).

        Bad input fails the run and adds no task: ForkJoinDynamicTaskMapper throws
        TerminateWorkflowException (:208-213 and the checks before it), which
        WorkflowExecutorOps.decide (:1412) turns into terminate(): what is in flight
        is cancelled, the output evaluated, the run FAILED with the message as reason.
        """
        scheduled = self._schedule(spec, iteration)
        task_input = scheduled[0].input  # type: ignore[attr-defined]
        plan = plan_dynamic_fork(self.definition, self.state, spec, task_input)
        if isinstance(plan, str):
            now = self.state.updated_at
            reason = f"task {spec.ref!r}: {plan}"
            events: list[Event] = [
                TaskCanceled(at=now, task_id=t.id, reason=reason)
                for t in self.current.values()
                if not t.status.terminal
            ]
            output = workflow_output(self.definition, self.state)
            return self._take([*events, WorkflowFailed(at=now, reason=reason, output=output)])
        return self._at_once_scheduled(scheduled, plan)

    def _join(self, spec: TaskSpec, task: TaskState, iteration: int) -> bool:
        """See `_join.py`."""
        dynamic = self.dynamic_join_on.get(iteration_ref(spec.ref, iteration), ())
        ended = join_events(
            task, spec_join_on(spec, dynamic), self.current, iteration, self._optional,
            self.state.updated_at,
        )  # fmt: skip
        return self._take(ended) if ended else False

    def _optional(self, task: TaskState) -> bool:
        spec = self._spec_of(task.ref)
        return spec is not None and spec.optional

    def _terminate(self, spec: TaskSpec, iteration: int) -> bool:
        now = self.state.updated_at
        scheduled = self._schedule(spec, iteration)
        new_id = _id(scheduled)
        task_input = scheduled[0].input  # type: ignore[attr-defined]
        status = task_input.get("terminationStatus")
        if status not in TERMINATION_STATUSES:
            reason = f"task {spec.ref!r}: terminationStatus {status!r} is not COMPLETED, FAILED or TERMINATED"
            failed = TaskFailed(
                at=now, task_id=new_id, reason=reason, status="FAILED_WITH_TERMINAL_ERROR"
            )
            return self._take([*scheduled, failed])
        # WorkflowExecutorOps.decide: a blank reason names the status and the task
        reason = str(task_input.get("terminationReason") or "").strip() or (
            f"Workflow is {status} by TERMINATE task: {new_id}"
        )
        output = task_input.get("workflowOutput")
        output = (
            output if isinstance(output, dict) else ({} if output is None else {"output": output})
        )
        events: list[Event] = [
            *scheduled,
            TaskCompleted(at=now, task_id=new_id, output=dict(output)),  # Terminate.java
        ]
        events.extend(
            TaskCanceled(at=now, task_id=t.id, reason=reason)
            for t in self.current.values()
            if not t.status.terminal
        )
        if status == "COMPLETED":
            events.append(WorkflowCompleted(at=now, output=output, reason=reason))
        else:  # WorkflowExecutorOps.terminate: the TERMINATE task is the run's failed task
            events.append(
                WorkflowFailed(at=now, reason=reason, status=status, task_id=new_id, output=output)
            )
        return self._take(events)

    def _loop(self, spec: TaskSpec, task: TaskState) -> bool:
        now = self.state.updated_at
        items: list[Any] | None = None
        if spec.raw.get("items"):
            found = resolve(spec.raw["items"], roots_for(self.state))
            if not isinstance(found, list):
                reason = (
                    f"task {spec.ref!r}: items {spec.raw['items']!r} is not a list (got {found!r})"
                )
                return self._take(
                    [
                        TaskFailed(
                            at=now,
                            task_id=task.id,
                            reason=reason,
                            status="FAILED_WITH_TERMINAL_ERROR",
                        )
                    ]
                )
            items = found
        iteration = int(task.output.get("iteration") or 0)
        if iteration:
            if not self._list(spec.loop_over, iteration):
                return False
            if items is not None:
                again = iteration < len(items)
            else:
                try:
                    again = self._condition(spec, task, iteration)
                except ScriptError as exc:
                    reason = f"task {spec.ref!r}: evaluating loopCondition failed: {exc}"
                    return self._take([TaskFailed(at=now, task_id=task.id, reason=reason,
                                                  status="FAILED_WITH_TERMINAL_ERROR")])  # fmt: skip
        else:
            again = items is None or bool(items)
        if again:
            output: dict[str, Any] = {"iteration": iteration + 1}
            if items is not None:
                output.update(loopItem=items[iteration], loopIndex=iteration)
            if self.deferred is None:  # once every other step of this walk is taken
                self.deferred = [TaskUpdated(at=now, task_id=task.id, output=output)]
            return False
        result: dict[str, Any] = {"iteration": iteration}
        body = [t.ref for t in walk(spec.loop_over)]
        for n in range(1, iteration + 1):
            result[str(n)] = {
                ref: self.current[iteration_ref(ref, n)].output
                for ref in body
                if iteration_ref(ref, n) in self.current
            }
        return self._take([TaskCompleted(at=now, task_id=task.id, output=result)])

    def _condition(self, spec: TaskSpec, task: TaskState, iteration: int) -> bool:
        """A `loopCondition`, as Conductor's DoWhile evaluates it; raises `ScriptError`.

        `$` is the loop's input parameters (resolved now), the loop's own
        output under its reference, and each body task's output of this
        iteration under its plain reference.
        """
        bindings = dict(resolve(spec.input_parameters, roots_for(self.state)))
        bindings[spec.ref] = task.output
        for body in walk(spec.loop_over):
            found = self.current.get(iteration_ref(body.ref, iteration))
            if found is not None:
                bindings[body.ref] = found.output
        return truthy(self._evaluate(str(spec.raw.get("loopCondition")), bindings))

    def _evaluate(self, script: str, bindings: Any) -> Any:
        """From the environment's `Evaluations` book if it has one (module note), else here."""
        book = self.env.scripts
        return evaluate(script, bindings) if book is None else book.value(script, bindings)


def _id(scheduled: list[Event]) -> str:
    task_id: str = scheduled[0].task_id  # type: ignore[attr-defined]
    return task_id
