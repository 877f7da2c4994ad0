"""The walker: the next step of a run through Conductor's nested control flow.

Design note
-----------
A definition is a tree of task lists. The walker re-derives, from the
state alone, where the run is: it walks the top-level list in order; a
task with no current attempt (a superseded attempt does not count) is a
step. A task in flight blocks the rest of its list, and so does one that
ended in this round (`fresh`, see `_round.py`: its next task is the next
round's); a successful one lets the walk go on to the next task of its
list, and when a nested list ends control returns to its parent. Every
branch is walked; of the steps found, `next_step` gives the one of least
*rank* — the place in the task list of the task it follows (a fork's or a
switch's mapped tasks: the rank of the fork or switch's own step) — the
first found of equal ranks: Conductor's `seq` order.

- SWITCH/DECISION completes at once (its case: the value as Java's
  `"" + value` prints it, a missing one "null"), and its branch's head is
  scheduled in the same round; the task after the switch follows when the
  branch is done (an empty branch: in the next round).
- FORK_JOIN_DYNAMIC plans its branches from its input and completes at
  once (bad input fails the run, naming it, with no fork task added, as
  Conductor's TerminateWorkflowException does; see `_dynamic.py`); each forked
  task is a branch, and the JOIN right after it also joins on them.
- FORK_JOIN completes at once; its branches' heads and the JOIN after it
  are scheduled in the same round; a blocked branch does not block the
  others. Both forks run as type FORK; a JOIN's input is its `joinOn` and
  it ends as `_join.py` says.
- An exhausted `permissive` task that failed lets the walk go on; when
  the walk is done the run fails, with each such task's failure named.
- DO_WHILE is in progress from the start; iteration n (from 1) runs the
  body with references `ref__n` (a task an operator skipped ahead of time
  is skipped in every iteration). The loop's output carries `iteration`
  (and, for the `items` form, `loopItem`/`loopIndex`), raised by a
  `TaskUpdated` before the iteration's first task, once the walk finds
  nothing else to do: Conductor's DoWhile runs after the round's tasks are
  added (DoWhile.java:115, WorkflowExecutorOps.java:2508). An iteration is
  done once every task of the body in it is terminal, none waits for the
  next round (DoWhile.isIterationComplete); then the loop goes on while
  there are items left or the `loopCondition` holds, else it completes
  with each iteration's outputs under `"1"`, `"2"`...
- SWITCH `javascript`, DECISION `caseExpression`, DO_WHILE `loopCondition`,
  INLINE and LAMBDA evaluate JavaScript (`_script.py`); an error or a limit
  reached fails the task (FAILED_WITH_TERMINAL_ERROR; INLINE and LAMBDA
  FAILED, as Conductor's tasks do). With an `Evaluations` book in the
  environment (a run's actor gives one) the walk reads results from it; one
  it lacks is recorded as wanted (`pending`) and the round decides nothing,
  so the actor can evaluate off the event loop and ask again.
- SET_VARIABLE completes at once (`apply` merges its input into the
  variables); TERMINATE completes at once and the next round ends the run
  (`_terminate.py`).
- SIMPLE, WAIT, HUMAN and SUB_WORKFLOW are scheduled and waited for.

When the top-level list is done and nothing is in flight, the run
completes. Everything here is a pure function of (definition, state, env).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from operator import itemgetter
from typing import Any

from cadenza.core._cases import (
    chosen_branch,
    failure_reason,
    iteration_ref,
    loop_output,
    switch_outcome,
)
from cadenza.core._dynamic import dynamic_fork_step, dynamic_specs, spec_for
from cadenza.core._events import (
    Event,
    TaskCompleted,
    TaskFailed,
    TaskScheduled,
    TaskUpdated,
    WorkflowCompleted,
    WorkflowFailed,
)
from cadenza.core._join import join_events, spec_join_on
from cadenza.core._schedule import Environment, _schedule, roots_for, workflow_output
from cadenza.core._start_workflow import START_WORKFLOW, start_workflow_step
from cadenza.core._state import TaskState, WorkflowState
from cadenza.core._status import TaskStatus
from cadenza.core._system_tasks import (
    AT_ONCE,
    exclusive_join,
    exclusive_join_input,
    run_at_once,
    schedule_dynamic,
    set_variable,
)
from cadenza.core._terminate import terminate_step, terminated_run
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
from cadenza.language._validate import switch_script

_SYSTEM = frozenset({"DYNAMIC", "EXCLUSIVE_JOIN", START_WORKFLOW})
_NO_STEP = 1 << 62  # a rank above any place in a task list
# the types `_task` walks into, or looks at before asking whether they ended
_WALKED_INTO = frozenset(
    {"SWITCH", "DECISION", "FORK_JOIN", "FORK_JOIN_DYNAMIC", "JOIN", "EXCLUSIVE_JOIN", "DO_WHILE"}
)


class Walker:
    """One walk of the definition against a state; see the module note."""

    def __init__(
        self,
        definition: WorkflowDef,
        state: WorkflowState,
        env: Environment,
        fresh: Mapping[str, int] | None = None,
    ):
        self.definition = definition
        self.state = state
        self.env = env
        self.fresh = fresh or {}  # tasks ended this round -> their step's rank (`_round.py`)
        self.current: dict[str, TaskState] = {}
        terminated: TaskState | None = None
        for task in state.tasks:
            if not task.retried:
                self.current[task.ref] = task
                if task.type == "TERMINATE" and task.status is TaskStatus.COMPLETED:
                    terminated = task
        self.terminated = terminated
        self.steps: list[tuple[int, list[Event]]] = []  # (rank, events), in walk order
        self.found = 0  # steps found, those not made (a lesser rank was found first) too
        self.best = _NO_STEP  # the least rank of the steps made
        self.rank = -1  # the rank of a step found where the walk is (module note)
        self.tail = -1  # the rank of what the walk last went past
        self.held = 0  # how often the walk stopped at a task that ended this round
        self.pending = False  # a JavaScript result the environment's book lacks
        self.dynamic_join_on: dict[str, tuple[str, ...]] = {}  # a JOIN after a dynamic fork
        self.deferred: list[Event] | None = None  # a loop's next iteration (module note)

    def next_step(self) -> list[Event]:
        """The first step of the walk in Conductor's order, [] if none; sets `rank` to its rank."""
        if self.terminated is not None and self.terminated.id not in self.fresh:
            return terminated_run(self.terminated, self.current, self.state.updated_at)
        done = self._list(self.definition.tasks, 0)
        if self.pending:  # the run's actor evaluates off the loop, then asks again
            return []
        if self.steps:
            self.rank, step = min(self.steps, key=itemgetter(0))  # the first of equal ranks
            return step
        if self.deferred is not None:  # a loop's next iteration, after what the walk scheduled
            return self.deferred
        if done and not self.held and all(t.status.terminal for t in self.current.values()):
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
        """Walk `specs` from its start (`rank`: the list's own rank); True once all are done."""
        previous: TaskSpec | None = None
        current, fresh, index = self.current, self.fresh, self.state.index
        for spec in specs:
            if previous is not None:
                self.rank = self.tail  # a step here follows what the walk just went past
            if not iteration and spec.type not in _WALKED_INTO:
                # what `_task` and `_ended` do for a task that succeeded before this round,
                # inline: a long run's walk goes past hundreds of them at every step
                task = current.get(spec.ref)
                if task is not None and task.status.successful and task.id not in fresh:
                    self.tail = index[task.id]
                    previous = spec
                    continue
            if (
                spec.type == "JOIN"
                and previous is not None
                and previous.type == "FORK_JOIN_DYNAMIC"
            ):
                fork = self.current.get(iteration_ref(previous.ref, iteration))
                forked = fork.output.get("forkedTasks") if fork is not None else None
                self.dynamic_join_on[iteration_ref(spec.ref, iteration)] = tuple(forked or ())
            try:
                if not self._task(spec, iteration):
                    return False
            except ScriptPending:  # recorded in the book; other branches are walked on
                self.pending = True
                return False
            previous = spec
        return True

    def _take(self, events: list[Event]) -> bool:
        """A step found here, at the walk's `rank`; the walk goes on elsewhere."""
        self.steps.append((self.rank, events))
        self.best = min(self.best, self.rank)
        self.found += 1
        return False

    def _outranked(self) -> bool:
        """A step here would come after one already found: it is counted, not made."""
        if self.rank >= self.best:
            self.found += 1
            return True
        return False

    def _found(self, ref: str, iteration: int) -> TaskState | None:
        """The current attempt of `ref` in `iteration`; in a loop, a task an operator skipped
        ahead of time (no iteration, as Conductor's skipTaskFromWorkflow makes it) is skipped in
        every iteration, as Conductor's isTaskSkipped finds it by its plain reference."""
        task = self.current.get(iteration_ref(ref, iteration))
        if task is None and iteration:
            plain = self.current.get(ref)
            if plain is not None and plain.status is TaskStatus.SKIPPED:
                return plain
        return task

    def _rank_of(self, task: TaskState) -> int:
        """A task's rank: its step's if it ended this round, else its place in the list."""
        return self.fresh.get(task.id, self.state.index[task.id])

    def _ended(self, task: TaskState, spec: TaskSpec) -> bool:
        """Whether the walk goes past the ended `task`: not in the round it ended in (its next
        task is the next round's, as Conductor's decide finds it), and only if it succeeded
        (or is an exhausted permissive task)."""
        if task.id in self.fresh:
            self.held += 1
            return False
        if task.status.successful or (spec.permissive and not spec.optional):
            self.tail = self._rank_of(task)
            return True
        return False

    def _schedule(self, spec: TaskSpec, iteration: int) -> list[Event]:
        ref = iteration_ref(spec.ref, iteration)
        return _schedule(
            self.definition, spec, self.state, self.env,
            delay_s=spec.start_delay_s, ref=ref, iteration=iteration,
            join_on=self.dynamic_join_on.get(ref) if spec.type == "JOIN" else None,
        )  # fmt: skip

    def _task(self, spec: TaskSpec, iteration: int) -> bool:
        task = self._found(spec.ref, iteration)
        if task is None and self._outranked():
            return False
        kind = spec.type
        if kind in ("SWITCH", "DECISION"):
            if task is None:
                return self._switch(spec, iteration)
            if not task.status.successful:
                return False
            branch = chosen_branch(spec, task)
            if not branch:  # DeciderService.getNextTask: the switch's own next task
                return self._ended(task, spec)
            self.rank = self._rank_of(task)  # SwitchTaskMapper schedules the branch's head
            return self._list(branch, iteration)
        if kind in ("FORK_JOIN", "FORK_JOIN_DYNAMIC"):
            if task is None:
                if kind == "FORK_JOIN_DYNAMIC":
                    return self._dynamic_fork(spec, iteration)
                return self._at_once_scheduled(self._schedule(spec, iteration), {})
            if not task.status.successful:
                return False
            branches = spec.fork_tasks
            if kind == "FORK_JOIN_DYNAMIC":
                branches = tuple((forked,) for forked in dynamic_specs(task, self.definition.name))
            rank = self._rank_of(task)  # the fork's mapper schedules its heads and its JOIN
            for branch in branches:
                self.rank = rank
                self._list(branch, iteration)
            self.tail = rank
            return True
        if task is None:
            if kind == "TERMINATE":  # the next round ends the run (`_terminate.py`)
                now = self.state.updated_at
                return self._take(terminate_step(spec, self._schedule(spec, iteration), now))
            if kind == "SET_VARIABLE":
                scheduled = self._schedule(spec, iteration)
                return self._take(set_variable(scheduled, self.state, self.env.max_variables_kb))
            if kind in ("INLINE", "LAMBDA"):
                return self._script_task(spec, iteration)
            if kind in AT_ONCE or by_system_worker(kind) or kind in _SYSTEM:
                return self._system_task(spec, iteration)
            return self._take(self._schedule(spec, iteration))
        if task.status.terminal:  # an exhausted permissive task lets the walk go on
            return self._ended(task, spec)
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
            return self._take(schedule_dynamic(
                self.definition, spec, self.state, self.env,
                ref=iteration_ref(spec.ref, iteration), iteration=iteration,
            ))  # fmt: skip
        scheduled = self._schedule(spec, iteration)
        if spec.type == START_WORKFLOW:  # in progress until its run started (_start_workflow.py)
            return self._take(start_workflow_step(scheduled, self.state))
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
        task_input, output = switch_outcome(spec, task_input, value)
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
        """Plan the branches from the fork's input, or fail the run (`_dynamic.py`)."""
        scheduled = self._schedule(spec, iteration)
        return self._take(dynamic_fork_step(self.definition, self.state, spec, scheduled))

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

    def _loop(self, spec: TaskSpec, task: TaskState) -> bool:
        now = self.state.updated_at
        items: list[Any] | None = None
        if spec.raw.get("items"):
            found = resolve(spec.raw["items"], roots_for(self.state))
            if not isinstance(found, list):
                reason = (
                    f"task {spec.ref!r}: items {spec.raw['items']!r} is not a list (got {found!r})"
                )
                return self._take([TaskFailed(at=now, task_id=task.id, reason=reason,
                                              status="FAILED_WITH_TERMINAL_ERROR")])  # fmt: skip
            items = found
        iteration = int(task.output.get("iteration") or 0)
        if iteration:
            if not self._iteration_done(spec, task, iteration):
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
        self.rank = self._rank_of(task)
        result = loop_output(spec, self.current, iteration)
        return self._take([TaskCompleted(at=now, task_id=task.id, output=result)])

    def _iteration_done(self, spec: TaskSpec, task: TaskState, iteration: int) -> bool:
        """DoWhile.isIterationComplete: the body is walked to its end, every task of it in this
        iteration (in a fork's branch no JOIN waits for too) is terminal, and none waits for
        the next round to schedule the task after it."""
        steps, held = self.found, self.held
        self.rank = self._rank_of(task)
        if not self._list(spec.loop_over, iteration):
            return False
        if self.found != steps or self.held != held or self.pending:
            return False
        for body in walk(spec.loop_over):
            found = self.current.get(iteration_ref(body.ref, iteration))
            if found is not None and not found.status.terminal:
                return False
        return True

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
