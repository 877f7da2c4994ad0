"""What Conductor's test harness gives its Spock specs, over a cadenza `Runtime`.

`WorkflowTestUtil.taskDefinitions()` registers the TaskDefs every spec relies
on (`integration_task_0..20` with one retry, `integration_task_0_RT_0..4`
with none, and the named ones); `registerWorkflows(...)` loads definitions
from `test-harness/src/test/resources/` (vendored in `tests/conductor_defs/`);
`pollAndCompleteTask` / `pollAndFailTask` act as an external worker.
Conductor's `sweep(workflowId)` / `decide(workflowId)` is `rt.settle()`.
The harness's own system task `USER_TASK` (a Spring bean, UserTask.java) is
registered with `rt.system_task` (`user_task`); Conductor's
`asyncSystemTaskExecutor.execute(userTask, taskId)` is the engine running it.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

import cadenza
from cadenza import TaskRun, WorkflowRun
from tests.conductor_defs import CONDUCTOR_DEFS

SPECS = "test-harness/src/test/groovy/com/netflix/conductor/test/integration"


def integration_taskdef(name: str, retry_count: int = 1, **extra: Any) -> dict[str, Any]:
    """`new TaskDef(name, name, email, retryCount, 120, 120)`: Conductor's defaults otherwise."""
    return {
        "name": name,
        "retryCount": retry_count,
        "timeoutSeconds": 120,
        "responseTimeoutSeconds": 120,
        **extra,
    }


def harness_taskdefs() -> list[dict[str, Any]]:
    """Every TaskDef `WorkflowTestUtil.taskDefinitions()` registers, as Conductor JSON."""
    defs = [integration_taskdef(f"integration_task_{i}") for i in range(21)]
    defs += [integration_taskdef(f"integration_task_0_RT_{i}", 0) for i in range(5)]
    defs += [
        {"name": "short_time_out", "retryCount": 1, "timeoutSeconds": 5,
         "responseTimeoutSeconds": 5},
        {"name": "task_rt", "timeoutSeconds": 120, "retryCount": 1, "retryDelaySeconds": 0,
         "responseTimeoutSeconds": 10},
        {"name": "task_optional", "timeoutSeconds": 5, "retryCount": 1, "timeoutPolicy": "RETRY",
         "retryDelaySeconds": 0, "responseTimeoutSeconds": 5},
        {"name": "simple_task_in_sub_wf", "retryCount": 0},
        {"name": "sub_workflow_task", "retryCount": 1, "responseTimeoutSeconds": 5,
         "retryDelaySeconds": 0},
        {"name": "waitTimeout", "timeoutSeconds": 2, "responseTimeoutSeconds": 2, "retryCount": 1,
         "timeoutPolicy": "RETRY", "retryDelaySeconds": 10},
        {"name": "user_task", "timeoutSeconds": 20, "responseTimeoutSeconds": 20, "retryCount": 1,
         "timeoutPolicy": "RETRY", "retryDelaySeconds": 10},
        {"name": "eventX", "timeoutSeconds": 10, "responseTimeoutSeconds": 10},
        {"name": "test_task_with_rateLimits", "rateLimitFrequencyInSeconds": 10,
         "rateLimitPerFrequency": 1},
        {"name": "test_simple_task_with_rateLimits", "rateLimitFrequencyInSeconds": 10,
         "rateLimitPerFrequency": 1},
        {"name": "test_task_with_concurrency_limit", "concurrentExecLimit": 1},
    ]  # fmt: skip
    return defs


def load_def(filename: str) -> dict[str, Any]:
    """One definition of `test-harness/src/test/resources/`, as vendored here."""
    path = CONDUCTOR_DEFS / filename
    if not path.exists():
        path = CONDUCTOR_DEFS / "harness" / filename  # vendored for these specs only
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def user_task(task_input: dict[str, Any]) -> dict[str, Any]:
    """test-harness/src/test/java/com/netflix/conductor/test/utils/UserTask.java, `start`: the
    size of `largeInput.TEST_SAMPLE` (default one item). Its 1 s sleep is left out; whether it
    completes or stays IN_PROGRESS (asyncComplete) is the engine's rule, as Conductor's is."""
    large = task_input.get("largeInput") or {"TEST_SAMPLE": ["testDefault"]}
    return {"size": len(large["TEST_SAMPLE"])}


async def harness(rt: cadenza.Runtime, *filenames: str) -> None:
    """The harness's system task USER_TASK and TaskDefs, then
    `workflowTestUtil.registerWorkflows(*filenames)`."""
    rt.system_task("USER_TASK", user_task)
    for taskdef in harness_taskdefs():
        await rt.register_task(taskdef)
    for filename in filenames:
        await rt.register(load_def(filename))


async def modified_def(rt: cadenza.Runtime, name: str, **changes: Any) -> dict[str, Any]:
    """`metadataService.getWorkflowDef(name)` with `changes`, registered again (same version)."""
    definition = copy.deepcopy(await rt.definition(name))
    definition.update(changes)
    await rt.register(definition)
    return definition


async def poll(rt: cadenza.Runtime, task_type: str, worker_id: str) -> TaskRun | None:
    """`workflowExecutionService.poll(taskType, workerId)`, once the runtime is idle."""
    await rt.settle()
    return await rt.poll(task_type, worker_id=worker_id)


async def poll_and_complete(
    rt: cadenza.Runtime,
    task_type: str,
    worker_id: str,
    output: Mapping[str, Any] | None = None,
) -> TaskRun | None:
    """`workflowTestUtil.pollAndCompleteTask`: None when nothing was there to poll."""
    task = await poll(rt, task_type, worker_id)
    if task is not None:
        await rt.complete(task.id, dict(output or {}))
        await rt.settle()
    return task


async def poll_and_fail(
    rt: cadenza.Runtime,
    task_type: str,
    worker_id: str,
    reason: str,
    output: Mapping[str, Any] | None = None,
    *,
    terminal: bool = False,
) -> TaskRun | None:
    """`workflowTestUtil.pollAndFailTask` (`terminal`: FAILED_WITH_TERMINAL_ERROR)."""
    task = await poll(rt, task_type, worker_id)
    if task is not None:
        await rt.fail(task.id, reason, output=dict(output or {}), terminal=terminal)
        await rt.settle()
    return task


def verify_polled(task: TaskRun | None, expected_input: Mapping[str, Any] | None = None) -> TaskRun:
    """`verifyPolledAndAcknowledgedTask`: polled, and its input holds `expected_input`."""
    assert task is not None, "The task polled cannot be null"
    for key, value in (expected_input or {}).items():
        assert key in task.input
        assert task.input[key] == value
    return task


async def status(rt: cadenza.Runtime, run_id: str) -> WorkflowRun:
    """`workflowExecutionService.getExecutionStatus(id, true)` once the runtime is idle."""
    await rt.settle()
    return await rt.get(run_id)


def by_ref(run: WorkflowRun, ref: str) -> TaskRun:
    """`workflow.getTaskByRefName(ref)`: the latest attempt of that reference."""
    found = [t for t in run.tasks if t.ref == ref]
    assert found, f"no task {ref!r} in {[t.ref for t in run.tasks]}"
    return found[-1]


def types(run: WorkflowRun) -> list[str]:
    return [t.type for t in run.tasks]


def statuses(run: WorkflowRun) -> list[str]:
    return [str(t.status) for t in run.tasks]


def shape(run: WorkflowRun) -> list[tuple[str, str]]:
    """The task list as (taskType, status) pairs, in scheduling order."""
    return [(t.type, str(t.status)) for t in run.tasks]


FAILED = {"FAILED", "FAILED_WITH_TERMINAL_ERROR", "TIMED_OUT"}


def failed_refs(run: WorkflowRun) -> tuple[set[str], set[str]]:
    """Conductor's (failedReferenceTaskNames, failedTaskNames), read off the task list."""
    failed = [t for t in run.tasks if t.status in FAILED]
    return {t.ref for t in failed}, {t.type for t in failed}


def retry_count(task: TaskRun) -> int:
    """Conductor's `retryCount` of an attempt.

    docs/contract.md says `attempt` is 1 for the first attempt, but the engine
    (and the suite: tests/api/test_runs.py) numbers them from 0, as Conductor's
    retryCount does; this is the one place that mapping lives.
    """
    return task.attempt
