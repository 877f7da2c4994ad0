"""A run's links to other runs: sub-workflows, failure workflows, news between parent and child.

Design note
-----------
`RunLinks` is the part of `RunActor` that starts other runs and hears from
them. Children are started with ids derived from their task, only once the
parent's record is durable, so a repeat finds them started. What a run owes
at its end survives a crash: a run that owes a failure workflow keeps its
stream row unfinished until that run's start is durable (then an event-less
record settles it), and a recovering parent reads the journal for children
that ended while their message to it was lost.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import structlog

from cadenza.actors import Reply
from cadenza.core._dynamic import spec_for
from cadenza.core._events import Event, TaskCanceled, TaskCompleted, TaskFailed, event_from_json
from cadenza.core._schedule import roots_for
from cadenza.core._state import WorkflowState, apply
from cadenza.core._status import TaskStatus, WorkflowStatus
from cadenza.engine._messages import ChildEnded
from cadenza.engine._run_services import RunServices
from cadenza.language._definition import WorkflowDef
from cadenza.language._expressions import lookup
from cadenza.language._validate import sub_workflow_name, sub_workflow_version
from cadenza.persistence import Append, StreamInfo

log = structlog.get_logger()


class RunLinks:
    """Links to other runs mixed into `RunActor`; see the module note."""

    run_id: str
    services: RunServices
    definition: WorkflowDef | None

    if TYPE_CHECKING:  # provided by RunActor

        def _emit(self, events: list[Event], event: Event, *, decide: bool = True) -> None: ...

        def _decide(self, events: list[Event]) -> None: ...

        def _row(self, state: WorkflowState, *, terminal: bool) -> StreamInfo: ...

    _failure_start: Reply[str] | None
    _unsettled: bool

    def _child_ended(
        self, state: WorkflowState, message: ChildEnded, now: float, events: list[Event]
    ) -> None:
        """A SUB_WORKFLOW's child ended: its task mirrors the outcome (terminated: CANCELED)."""
        if state.status.terminal:
            return
        for task in state.tasks:
            if task.output.get("subWorkflowId") != message.child_id or task.retried:
                continue
            if task.status.terminal:
                return
            output = {**message.output, "subWorkflowId": message.child_id}
            reason = f"sub workflow {message.child_id} ended {message.status}"
            if message.reason:
                reason = f"{reason}: {message.reason}"
            if message.status == WorkflowStatus.COMPLETED:
                self._emit(events, TaskCompleted(at=now, task_id=task.id, output=output))
            elif message.status == WorkflowStatus.TERMINATED:
                self._emit(events, TaskCanceled(at=now, task_id=task.id, reason=reason))
            else:
                status = "TIMED_OUT" if message.status == WorkflowStatus.TIMED_OUT else "FAILED"
                failed = TaskFailed(
                    at=now, task_id=task.id, reason=reason, status=status, output=output
                )
                self._emit(events, failed)
            return

    def _start_children(self, state: WorkflowState, task_ids: set[str]) -> None:
        """Start the child run of each SUB_WORKFLOW task named (idempotent: ids are derived)."""
        definition = self.definition
        if definition is None:
            return

        for task_id in sorted(task_ids, key=lambda tid: state.index[tid]):
            task = state.tasks[state.index[task_id]]
            child = task.output.get("subWorkflowId")
            if task.type != "SUB_WORKFLOW" or task.status.terminal or not child:
                continue

            spec = spec_for(definition, state, task.ref)
            name = sub_workflow_name(spec) or ""
            self.services.start_run(
                child, name, sub_workflow_version(spec), dict(task.input), parent=state
            )

    def _after_end(self, state: WorkflowState) -> None:
        """A run just ended: tell its parent; start its failureWorkflow if it failed."""
        if state.parent_id:
            self.services.child_ended(state)
        for task in state.tasks:  # a parent's end ends its children (as Conductor does)
            child = task.output.get("subWorkflowId")
            if task.type == "SUB_WORKFLOW" and child and task.status is TaskStatus.CANCELED:
                self.services.terminate_child(child, task.reason or "the parent run ended")
        definition = self.definition
        failure = definition.failure_workflow if definition is not None else None
        if not failure or state.status not in (WorkflowStatus.FAILED, WorkflowStatus.TIMED_OUT):
            return
        if failure.startswith("$"):  # `$workflow.input.x` or `${workflow.input.x}`
            failure = str(lookup(failure.strip("${}"), roots_for(state)) or "")
        if not failure:
            return
        failed = state.task(state.failed_task_id or "")
        run_input = {
            **state.input,
            "workflowId": state.id,
            "reason": state.reason,
            "failureStatus": state.status.value,
            "failureTaskId": failed.id if failed is not None else None,
        }
        run_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"cadenza:failure:{state.id}:{state.events}"))
        self._failure_start = self.services.start_run(run_id, failure, None, run_input)
        if self._failure_start is None:
            self._unsettled = True  # nothing to wait for: settle the row now

    async def _children_that_ended(self, state: WorkflowState) -> list[ChildEnded]:
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
            child = (
                WorkflowState.from_json(dict(loaded.snapshot))
                if loaded.snapshot
                else WorkflowState(id=str(child_id))
            )
            for data in loaded.events:
                apply(child, event_from_json(dict(data), stream_id=child.id))
            ended.append(ChildEnded(child.id, child.status.value, dict(child.output), child.reason))
        return ended

    def _owes_failure_run(self, state: WorkflowState) -> bool:
        """A FAILED or TIMED_OUT run whose definition names a failureWorkflow."""
        return (
            state.status in (WorkflowStatus.FAILED, WorkflowStatus.TIMED_OUT)
            and self.definition is not None
            and bool(self.definition.failure_workflow)
        )

    async def _settle(self, state: WorkflowState) -> None:
        """Once the failure run's start is durable, mark the row terminal (an event-less record).

        Until then the row stays unfinished, so a crash in between makes
        recovery start the failure run again (same derived id: at most once).
        """
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
        info = self._row(state, terminal=True)
        await self.services.journal.append(Append(info=info, events=[]))
