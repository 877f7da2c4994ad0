"""Where a retry that resumes sub-workflows starts: the deepest failed run of a chain.

Conductor's `retry(workflowId, resumeSubworkflowTasks=true)` does not give a failed
SUB_WORKFLOW task a new child: it walks down to the deepest failed sub-workflow
(`findLastFailedSubWorkflowIfAny`, WorkflowExecutorOps.java:539) and retries that run;
its parents then reopen in place, one level at a time (`updateAndPushParents`, here the
child's news `ChildEnded(status=RUNNING)` and `core._operations.child_reopened_events`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cadenza.actors import ActorRef
from cadenza.core._views import TaskRun, WorkflowRun
from cadenza.engine._messages import GetRun

UNSUCCESSFUL = frozenset({"FAILED", "FAILED_WITH_TERMINAL_ERROR", "TIMED_OUT", "CANCELED"})


def _unsuccessful(task: TaskRun) -> bool:
    """Conductor's UNSUCCESSFUL_TERMINAL_TASK (the current attempt): ended, not a success."""
    return not task.retried and str(task.status) in UNSUCCESSFUL


async def failed_deepest(run: Callable[[str], ActorRef[Any]], run_id: str) -> str:
    """The run to retry for `retry(run_id, resume_subworkflow_tasks=True)`: while the run's
    first unsuccessful task is a SUB_WORKFLOW whose child has one too, its child."""
    while True:
        found: WorkflowRun | None = await run(run_id).ask(GetRun)
        if found is None:
            return run_id
        failed = next((t for t in found.tasks if _unsuccessful(t)), None)
        if failed is None or failed.type != "SUB_WORKFLOW" or not failed.sub_workflow_id:
            return run_id
        child: WorkflowRun | None = await run(failed.sub_workflow_id).ask(GetRun)
        if child is None or not any(_unsuccessful(t) for t in child.tasks):
            return run_id
        run_id = failed.sub_workflow_id
