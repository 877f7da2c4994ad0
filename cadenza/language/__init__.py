"""Conductor's workflow language: definitions, TaskDefs, validation, expressions, JavaScript.

Pure: nothing here knows of actors, the journal or anyio, and nothing here
does I/O (JavaScript runs in an embedded engine with its own time and
memory limits). A definition is data; `parse_workflow_def` turns Conductor's
JSON into it (raising `DefinitionError` naming the workflow, the task
reference and the problem); `to_conductor_json` turns it back.
"""

from cadenza.language._builder import Tasks, Workflow, tasks, workflow
from cadenza.language._definition import TaskSpec, WorkflowDef, to_conductor_json
from cadenza.language._parse import parse_workflow_def
from cadenza.language._taskdef import RetryLogic, TaskDef, TimeoutPolicy, parse_task_def

__all__ = [
    "RetryLogic",
    "TaskDef",
    "TaskSpec",
    "Tasks",
    "TimeoutPolicy",
    "Workflow",
    "WorkflowDef",
    "parse_task_def",
    "parse_workflow_def",
    "tasks",
    "to_conductor_json",
    "workflow",
]
