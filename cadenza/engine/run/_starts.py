"""How a run is started for another: the StartRun message, and who hears when it cannot be.

A SUB_WORKFLOW's child takes its parent's priority, correlation id and
taskToDomain; a failure workflow the failed run's correlation id and
taskToDomain (WorkflowExecutorOps.terminateWorkflow); a START_WORKFLOW's run
its request's, the starter's defaults already applied (StartWorkflow.start).
When the workflow to start is unknown, the parent hears its child FAILED
and a starter its START_WORKFLOW task failed, in Conductor's words.
"""

from __future__ import annotations

from typing import Any

from cadenza.actors import Reply
from cadenza.core._start_workflow import StartRequest
from cadenza.core._state import WorkflowState
from cadenza.engine._messages import ChildEnded, OtherStarted, StartRun
from cadenza.language._definition import WorkflowDef


def start_message(
    definition: WorkflowDef,
    digest: str,
    run_input: dict[str, Any],
    reply: Reply[str],
    *,
    parent: WorkflowState | None,
    failed: WorkflowState | None,
    request: StartRequest | None,
    starter: tuple[str, str] | None,
) -> StartRun:
    """The message that starts the run (see the module note)."""
    like = parent if parent is not None else failed
    if request is not None:
        priority, correlation, routes = (
            request.priority, request.correlation_id, request.task_to_group,
        )  # fmt: skip
    else:
        priority = parent.priority if parent is not None else 0
        correlation = like.correlation_id if like is not None else None
        routes = (dict(like.task_to_group) or None) if like is not None else None
    parent_id = parent.id if parent is not None else None
    return StartRun(
        definition, digest, run_input, priority, None, correlation, routes, parent_id, reply,
        starter,
    )  # fmt: skip


def not_started(
    run_id: str,
    name: str,
    version: int | None,
    error: str,
    *,
    parent: WorkflowState | None,
    starter: tuple[str, str] | None,
) -> list[tuple[str, Any]]:
    """(run id, message) pairs to send when workflow `name` is not registered."""
    told: list[tuple[str, Any]] = []
    if parent is not None:
        told.append(
            (parent.id, ChildEnded(run_id, "FAILED", {}, f"cannot start {name!r}: {error}"))
        )
    if starter is not None:  # MetadataMapperService.lookupForWorkflowDefinition's words
        shown = "null" if version is None else str(version)
        why = f"No such workflow defined. name={name}, version={shown}"
        told.append((starter[0], OtherStarted(starter[1], None, why)))
    return told
