"""A run's links to other runs: sub-workflows, failure workflows, news between parent and child.

Design note
-----------
`RunLinks` is a part the run's actor owns. It turns news from other runs
into this run's events, and this run's ends into effects on others.
Children are started with ids derived from their task, only once the
parent's record is durable, so a repeat finds them started. What a run owes
at its end survives a crash: a run that owes a failure workflow keeps its
stream row unfinished until that run's start is durable (then an event-less
record settles it), and a recovering parent reads the journal for children
that ended while their message to it was lost. Likewise a run whose batch
starts children writes its row unparked until every child's start is
durable, then parks it with an event-less record: a crash between the
parent's record and a child's start leaves the parent to recovery, which
starts the child again (Conductor's decider starts a SUB_WORKFLOW's
missing child the same way). A START_WORKFLOW run of an inline `workflowDef`
has its definition journaled first (`inline_definitions_journaled`), so the
run can always load it; one that cannot run fails the task instead.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from cadenza._errors import CadenzaError
from cadenza._log import get_logger
from cadenza.actors import Reply
from cadenza.core._dynamic import spec_for
from cadenza.core._events import (
    Event,
    TaskCanceled,
    TaskCompleted,
    TaskFailed,
    TaskScheduled,
    WorkflowReopened,
)
from cadenza.core._failure_run import (
    failure_run_id,
    failure_run_input,
    failure_workflow_name,
)
from cadenza.core._failure_run import owes_failure_run as _owes
from cadenza.core._operations import child_reopened_events
from cadenza.core._schedule import roots_for
from cadenza.core._start_workflow import START_WORKFLOW, StartRequest, start_request, started_id
from cadenza.core._state import WorkflowState, restore
from cadenza.core._status import TaskStatus, WorkflowStatus
from cadenza.engine._messages import ChildEnded
from cadenza.engine.run._effects import Effect, StartRun, TellParent, TellStarter, TerminateChild
from cadenza.engine.run._services import RunServices
from cadenza.engine.run._timing import RunDeadlines
from cadenza.language._definition import TaskSpec, WorkflowDef
from cadenza.language._expressions import resolve
from cadenza.language._inline import inline_key
from cadenza.language._validate import sub_workflow_name, sub_workflow_version
from cadenza.persistence import Append, StreamInfo

log = get_logger("cadenza.engine")


def child_ended_events(
    state: WorkflowState,
    message: ChildEnded,
    now: float,
    definition: WorkflowDef | None,
    services: RunServices,
) -> list[Event]:
    """A SUB_WORKFLOW's child ended: its task mirrors the outcome (terminated: CANCELED).

    A child RUNNING again (retried, restarted, rerun) reopens a finished parent.
    """
    if message.status == WorkflowStatus.RUNNING.value:
        if definition is None:
            return []
        env = services.environment()
        return child_reopened_events(definition, state, message.child_id, now, env)
    if state.status.terminal:
        return []
    for task in state.tasks:
        if task.output.get("subWorkflowId") != message.child_id or task.retried:
            continue
        if task.status.terminal:
            return []
        output = {**message.output, "subWorkflowId": message.child_id}
        reason = f"sub workflow {message.child_id} ended {message.status}"
        if message.reason:
            reason = f"{reason}: {message.reason}"
        if message.status == WorkflowStatus.COMPLETED:
            return [TaskCompleted(at=now, task_id=task.id, output=output)]
        if message.status == WorkflowStatus.TERMINATED:
            return [TaskCanceled(at=now, task_id=task.id, reason=reason)]
        status = "TIMED_OUT" if message.status == WorkflowStatus.TIMED_OUT else "FAILED"
        return [TaskFailed(at=now, task_id=task.id, reason=reason, status=status, output=output)]
    return []


def parent_to_tell(state: WorkflowState, events: list[Event]) -> list[Effect]:
    """A child run reopened in this batch tells its parent (which reopens in turn)."""
    if state.parent_id and any(isinstance(e, WorkflowReopened) for e in events):
        return [] if state.status.terminal else [TellParent(state)]
    return []


STARTS_RUNS = frozenset({"SUB_WORKFLOW", START_WORKFLOW})  # tasks whose run recovery starts again


def children_to_start(
    definition: WorkflowDef | None, state: WorkflowState, task_ids: set[str], events: list[Event]
) -> list[Effect]:
    """The child run of each SUB_WORKFLOW task named, the run of each START_WORKFLOW task
    named (idempotent: ids are derived); and the parent's news, if this run reopened
    (`parent_to_tell`)."""
    if definition is None:
        return []
    starts: list[Effect] = parent_to_tell(state, events)
    for task_id in sorted(task_ids, key=lambda tid: state.index[tid]):
        task = state.tasks[state.index[task_id]]
        if task.type == START_WORKFLOW and not task.status.terminal:  # see _start_workflow.py
            request = start_request(task.input, state)
            if isinstance(request, StartRequest):
                starts.append(StartRun(started_id(task.id), request.name, request.version,
                                       request.input, request=request, starter=(state.id, task.id)))  # fmt: skip
            else:  # a retried attempt whose request is still bad: it fails again
                starts.append(TellStarter(state.id, task.id, None, request))
            continue
        child = task.output.get("subWorkflowId")
        if task.type != "SUB_WORKFLOW" or task.status.terminal or not child:
            continue
        spec = spec_for(definition, state, task.ref)  # a forked task is not in the definition
        name, version, inline = _sub_workflow_target(spec, state)
        starts.append(
            StartRun(child, name, version, dict(task.input), parent=state, definition=inline)
        )
    return starts


def _sub_workflow_target(spec: TaskSpec, state: WorkflowState) -> tuple[str, int | None, Any]:
    """The child's name, version and definition from an expression (None: the registered
    one); `${...}` in them resolved against the run, as Conductor's
    SubWorkflowTaskMapper.java:63-75,140-147 does (a version may come as text). A
    definition is named after `name` unless it names itself."""
    param = spec.raw.get("subWorkflowParam")
    if spec.sub_workflow is not None or not isinstance(param, dict):
        return sub_workflow_name(spec) or "", sub_workflow_version(spec), None
    wanted = {key: param.get(key) for key in ("name", "version", "workflowDefinition")}
    found = resolve(wanted, roots_for(state))
    version = found.get("version")
    if isinstance(version, str) and version.strip().isdigit():
        version = int(version)
    if not isinstance(version, int) or isinstance(version, bool):
        version = None
    name = "" if found.get("name") is None else str(found["name"])
    inline = found.get("workflowDefinition")
    if isinstance(inline, dict):
        inline = {"name": name, **inline}
    return name, version, inline


def owed_after_crash(definition: WorkflowDef | None, state: WorkflowState) -> list[Effect]:
    """A recovering run that ended owing a failure run: its end's effects, again."""
    if state.status.terminal and owes_failure_run(definition, state):
        return end_effects(definition, state)
    return []


def owes_failure_run(definition: WorkflowDef | None, state: WorkflowState) -> bool:
    """The run ended FAILED, TIMED_OUT or TERMINATED by a task, and names a failureWorkflow."""
    return _owes(definition, state)


def end_effects(definition: WorkflowDef | None, state: WorkflowState) -> list[Effect]:
    """A run just ended: tell its parent, end its children, start its failureWorkflow."""
    effects: list[Effect] = []
    if state.parent_id:
        effects.append(TellParent(state))
    # a parent's end ends its children, as Conductor's SubWorkflow.terminateSubWorkflow does
    ended = (
        f"Parent workflow has been terminated with reason: {state.reason}"
        if state.reason
        else f"Parent workflow has been terminated with status {state.status.value}"
    )
    for task in state.tasks:
        child = task.output.get("subWorkflowId")
        if task.type == "SUB_WORKFLOW" and child and task.status is TaskStatus.CANCELED:
            effects.append(TerminateChild(child, ended))
    if not owes_failure_run(definition, state):
        return effects
    failure = failure_workflow_name(definition, state)
    run_input = failure_run_input(state)
    start = StartRun(failure_run_id(state), failure, None, run_input, owed=True, failed=state)
    effects.append(start)
    return effects


class RunLinks:
    """What one run owes at its end, until it is durable; see the module note."""

    def __init__(self, services: RunServices):
        self.services = services
        self._failure_start: Reply[str] | None = None  # a failure run's start, owed by this run
        self._unsettled = False  # the row says "not terminal" until what the end owes is done
        self._owes_children = False  # the row says "not parked" until the children's starts land
        self._child_starts: list[Reply[str]] = []

    async def inline_definitions_journaled(self, effects: list[Effect]) -> list[Effect]:
        """`effects`, each start of a definition given inline — a START_WORKFLOW's
        `workflowDef`, a SUB_WORKFLOW's `workflowDefinition` from an expression, which
        Conductor starts unregistered (WorkflowExecutorOps.java:2746, SubWorkflow.start) —
        naming it by its inline key once it is journaled. One that cannot run at all is
        not started: the starter's task, or the parent's SUB_WORKFLOW, fails with why."""
        done: list[Effect] = []
        for start in effects:
            raw = None
            if isinstance(start, StartRun):
                raw = start.request.definition if start.request else start.definition
            if raw is None or not isinstance(start, StartRun):
                done.append(start)
                continue
            try:
                definition, _digest = await self.services.registry.unregistered(raw)
            except CadenzaError as exc:  # DefinitionError, or a journal that refused it
                log.warning("run.start_failed", run_id=start.run_id, error=str(exc))
                if start.starter is not None:
                    done.append(TellStarter(*start.starter, None, str(exc)))
                elif start.parent is not None:
                    why = f"cannot start {start.name!r}: {exc}"
                    ended = ChildEnded(start.run_id, "FAILED", {}, why)
                    self.services.tell_run(start.parent.id, ended)
                continue
            key = inline_key(definition)
            done.append(dataclasses.replace(start, name=key, version=None, definition=None))
        return done

    def row(self, row: StreamInfo, events: list[Event], *, recovering: bool) -> StreamInfo:
        """The row to commit: unparked while a child this batch starts is not durable yet."""
        self._owes_children = row.parked and (
            recovering
            or any(isinstance(e, TaskScheduled) and e.type == "SUB_WORKFLOW" for e in events)
        )
        if self._owes_children:
            return dataclasses.replace(row, parked=False, wake_at=None)
        return row

    def child_start_sent(self, reply: Reply[str] | None) -> None:
        """A child's start was sent (None: its workflow is unknown, the task fails)."""
        if reply is not None:
            self._child_starts.append(reply)

    def failure_run_started(self, reply: Reply[str] | None) -> None:
        """The owed failure run's start was sent (None: its workflow is unknown)."""
        self._failure_start = reply
        if reply is None:
            self._unsettled = True  # nothing to wait for: settle the row now

    async def children_that_ended(self, state: WorkflowState) -> list[ChildEnded]:
        """After a crash: children that ended while their news to this run was lost."""
        if state.status.terminal:
            return []
        ended: list[ChildEnded] = []
        for task in state.tasks:
            child_id = task.output.get("subWorkflowId") or getattr(task, "sub_workflow_id", None)
            if task.type != "SUB_WORKFLOW" or task.status.terminal or not child_id:
                continue
            loaded = await self.services.load_run(str(child_id))
            if loaded is None or not loaded.info.terminal:
                continue
            child = restore(str(child_id), loaded.snapshot, loaded.events)
            ended.append(ChildEnded(child.id, child.status.value, dict(child.output), child.reason))
        return ended

    @property
    def unsettled(self) -> bool:
        """The run's row waits to be marked terminal or parked (see `settle`)."""
        return (
            self._failure_start is not None
            or self._unsettled
            or self._owes_children
            or bool(self._child_starts)
        )

    async def settle(
        self, state: WorkflowState, deadlines: RunDeadlines, definition: WorkflowDef | None
    ) -> None:
        """Once what the row waits for is durable, write the row as it is (an event-less record).

        Until then the row stays unfinished (or unparked), so a crash in
        between makes recovery start the failure run or the children again
        (same derived ids: at most once).
        """
        if self._owes_children or self._child_starts:
            await self._settle_children(state, deadlines.row(definition, state, terminal=False))
        start, self._failure_start = self._failure_start, None
        if start is not None:
            try:
                await start
            except Exception as exc:  # left unsettled: the next recovery tries again
                log.error("run.failure_workflow_not_started", run_id=state.id, error=repr(exc))
                return
        elif not self._unsettled:
            return
        self._unsettled = False
        await self.services.journal.append(
            Append(info=deadlines.row(definition, state, terminal=True), events=[])
        )

    async def _settle_children(self, state: WorkflowState, row: StreamInfo) -> None:
        starts, self._child_starts = self._child_starts, []
        self._owes_children = False
        for start in starts:
            try:
                await start
            except Exception as exc:  # left unparked: the next recovery starts it again
                log.error("run.child_not_started", run_id=state.id, error=repr(exc))
                return
        if row.parked:
            await self.services.journal.append(Append(info=row, events=[]))
