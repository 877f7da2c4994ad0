"""The `Runtime` facade: one engine on one journal, exposing only the public API."""

from cadenza.core._decide import decide
from cadenza.core._schedule import Environment
from cadenza.core._schedules import Schedule
from cadenza.core._state import TaskState, WorkflowState, apply, fold
from cadenza.core._status import TaskStatus, WorkflowStatus
from cadenza.core._views import TaskRun, WorkflowRun
from cadenza.dispatch._context import TaskContext
from cadenza.language._builder import Tasks, Workflow, tasks, workflow
from cadenza.language._definition import TaskSpec, WorkflowDef, to_conductor_json
from cadenza.language._parse import parse_workflow_def
from cadenza.language._taskdef import RetryLogic, TaskDef, TimeoutPolicy, parse_task_def
from cadenza.runtime._runtime import Runtime

__all__ = [
    "Environment",
    "RetryLogic",
    "Runtime",
    "Schedule",
    "TaskContext",
    "TaskDef",
    "TaskRun",
    "TaskSpec",
    "TaskState",
    "TaskStatus",
    "Tasks",
    "TimeoutPolicy",
    "Workflow",
    "WorkflowDef",
    "WorkflowRun",
    "WorkflowState",
    "WorkflowStatus",
    "apply",
    "decide",
    "fold",
    "parse_task_def",
    "parse_workflow_def",
    "tasks",
    "to_conductor_json",
    "workflow",
]
