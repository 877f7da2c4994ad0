"""Workflows as actors: definitions, the pure core, worker groups, timers, the Runtime."""

from cadenza.runtime._builder import Tasks, Workflow, tasks, workflow
from cadenza.runtime._decide import Environment, decide
from cadenza.runtime._definition import (
    RetryLogic,
    TaskDef,
    TaskSpec,
    TimeoutPolicy,
    WorkflowDef,
    parse_task_def,
    parse_workflow_def,
    to_conductor_json,
)
from cadenza.runtime._runtime import Runtime
from cadenza.runtime._state import TaskState, WorkflowState, apply, fold
from cadenza.runtime._status import TaskStatus, WorkflowStatus
from cadenza.runtime._views import TaskRun, WorkflowRun

__all__ = [
    "Environment",
    "RetryLogic",
    "Runtime",
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
