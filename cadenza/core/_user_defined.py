"""Task types Conductor does not know: USER_DEFINED, run by a system task a runtime registered.

Design note
-----------
Conductor accepts a task type it does not know as USER_DEFINED (TaskType.java)
and runs it by the `WorkflowSystemTask` registered under that name
(UserDefinedTaskMapper.java, SystemTaskRegistry.java, AsyncSystemTaskExecutor.java).
cadenza's equivalent is `rt.system_task(task_type, fn)`; the rules, as pure
functions of the definition, the state and the `Environment`:

- Such a task is scheduled into `SYSTEM_GROUP`, where the engine runs the
  registered function as a local worker of that type, so the task's TaskDef
  (found by the task's *name*, as Conductor's `getTaskDefName`) applies as to
  any worker's task: retries (its `retryCount`; a default TaskDef when none
  is registered, as for a SIMPLE task), `timeoutSeconds`, and the dispatch
  limits `rateLimitPerFrequency`/`rateLimitFrequencyInSeconds` and
  `concurrentExecLimit` (checked before the function starts, as
  AsyncSystemTaskExecutor.execute checks them before `start`). Its input is
  the mapper's: no `asyncComplete` key is added (HTTP's mapper adds one).
- `task_to_group` does not route it (nor HTTP): Conductor's
  `WorkflowExecutorOps.setTaskDomains` skips every task whose type is a
  system task, for `*` and for its own type, so its queue carries no
  domain and the system task worker runs it. DESIGN.md agrees: the engine
  runs these itself, and a worker group serves workers, so there is no
  group to choose. The task reports no group (`None`).
- A type no system task is registered for on this runtime when the task is
  scheduled (its definition was journaled by a process that had one) fails
  at once FAILED_WITH_TERMINAL_ERROR, the reason naming the type and the
  remedy; the run ends per the usual rules and can be retried once the
  system task is registered. A task already queued when the process stopped
  waits in its queue until the system task is registered again, as a local
  worker's task does.
- `async_complete` is `WorkflowSystemTask.isAsyncComplete`: the task input's
  `asyncComplete` if it has that key, else the definition's `asyncComplete`.
  Such a task, once its function returned, stays IN_PROGRESS outside any
  worker group (`AWAITING`, journaled as `TaskUpdated(group=AWAITING)`)
  until completed from outside (`signal`, `complete`, `fail`) or timed out
  by its TaskDef; recovery does not run it again, but loads its run (its
  row is not parked) and counts it again against its TaskDef's
  `concurrentExecLimit`, as Conductor counts IN_PROGRESS tasks in its store
  (ExecutionDAOFacade.exceedsInProgressLimit).
"""

from __future__ import annotations

import dataclasses

from cadenza.core._dynamic import spec_for
from cadenza.core._events import Event, TaskFailed, TaskScheduled
from cadenza.core._schedule import WAIT_GROUP, Environment
from cadenza.core._state import IN_PROGRESS_AT_ONCE, TaskState, WorkflowState
from cadenza.core._status import TaskStatus
from cadenza.core._system_tasks import BY_SYSTEM_WORKER, SYSTEM_GROUP, for_system_worker
from cadenza.language._definition import TaskSpec, WorkflowDef, user_defined

AWAITING = WAIT_GROUP  # the group of a system task awaiting its completion from outside: none


def by_system_worker(kind: str) -> bool:
    """Whether a task of type `kind` is queued for a system worker the engine runs."""
    return kind in BY_SYSTEM_WORKER or user_defined(kind)


def to_system_worker(scheduled: list[Event], spec: TaskSpec, env: Environment) -> list[Event]:
    """An HTTP or user-defined task just scheduled, queued for its system worker (or failed at
    once if no system task of its type is registered: see the module note)."""
    if not user_defined(spec.type):
        return for_system_worker(scheduled, spec)
    first = scheduled[0]
    assert isinstance(first, TaskScheduled)
    routed = dataclasses.replace(first, group=SYSTEM_GROUP)
    if spec.type in env.system_tasks:
        return [routed, *scheduled[1:]]
    reason = (
        f"task {spec.ref!r}: no system task of type {spec.type!r} is registered on this "
        f"runtime (register it with rt.system_task({spec.type!r}, fn), then retry the run)"
    )
    failed = TaskFailed(
        at=first.at, task_id=first.task_id, reason=reason, status="FAILED_WITH_TERMINAL_ERROR"
    )
    return [routed, failed, *scheduled[1:]]


def async_complete(definition: WorkflowDef | None, state: WorkflowState, task: TaskState) -> bool:
    """WorkflowSystemTask.isAsyncComplete for a user-defined task: its input's `asyncComplete`
    if given (only a JSON true counts), else its definition's `asyncComplete`. For HTTP, the
    input's, which HTTPTaskMapper always sets to the definition's (`for_system_worker`)."""
    if task.group != SYSTEM_GROUP:
        return False
    if task.type in BY_SYSTEM_WORKER:  # HTTP: the definition's, which its mapper put in the input
        return task.input.get("asyncComplete") is True
    if not user_defined(task.type) or definition is None:
        return False
    try:
        spec = spec_for(definition, state, task.ref)
    except KeyError:
        return False
    if not user_defined(spec.type):  # (a SIMPLE task's type is its name)
        return False
    if "asyncComplete" in task.input:
        return task.input["asyncComplete"] is True
    return spec.raw.get("asyncComplete") is True


def awaiting(task: TaskState) -> bool:
    """Whether `task` is a system task whose function returned and that awaits its completion
    from outside (`signal`, `complete`)."""
    return (
        task.group == AWAITING
        and task.status is TaskStatus.IN_PROGRESS
        and not task.retried
        and (user_defined(task.type) or task.type in BY_SYSTEM_WORKER)
        and task.type not in IN_PROGRESS_AT_ONCE
    )
