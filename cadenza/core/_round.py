"""A decide round: the steps Conductor's decide loop takes in one pass, in its order.

Design note
-----------
Conductor's `WorkflowExecutorOps.decide` runs in rounds (:1298-1400): one
`DeciderService.decide` collects, in the order of the run's tasks (by
`seq`), the next tasks of each task that ended since the last round (a
FORK's or SWITCH's mapper adds its branch heads and JOIN at once,
`ForkJoinTaskMapper`, `SwitchTaskMapper`); `scheduleTask` gives them the
next `seq` numbers (:1978-1993), then the synchronous system tasks run
(LAMBDA, INLINE, SET_VARIABLE, TERMINATE, DO_WHILE...; a DO_WHILE schedules
its next iteration there, after the round's tasks). What those tasks' ends
lead to is the *next* round's work.

`decide` makes one round: it takes the walker's steps one by one on a
scratch copy of the state, each step's ended tasks marked *fresh* (with the
rank their step had), so the walk does not go past a task that ended in
this round; the round is over when the walk finds nothing more. The run's
actor applies the round and asks again, so the next call is the next round.
The task list's order is then Conductor's `seq` order, and it is journaled:
a run reloaded from its records lists its tasks the same way.

`scratch` copies the state's lists and copies a task only before a step
changes it (`apply` assigns nested values, never changes them in place), so
a round costs one list copy, not a deep copy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from cadenza.core._events import Event, TaskScheduled
from cadenza.core._state import TaskState, WorkflowState, apply

_Slotted = TypeVar("_Slotted", WorkflowState, TaskState)


def _copier(kind: type[_Slotted]) -> Callable[[_Slotted], _Slotted]:
    """A function copying a `kind` field by field, made as `dataclasses` makes `__init__`."""
    lines = [f"    new.{name} = value.{name}" for name in kind.__slots__]
    source = (
        "def copy(value):\n    new = new_object(kind)\n" + "\n".join(lines) + "\n    return new\n"
    )
    scope: dict[str, Any] = {"new_object": object.__new__, "kind": kind}
    exec(source, scope)  # the source is made of the class's own slot names
    copy: Callable[[_Slotted], _Slotted] = scope["copy"]
    return copy


_COPIERS: dict[type[Any], Callable[[Any], Any]] = {
    WorkflowState: _copier(WorkflowState),
    TaskState: _copier(TaskState),
}


def shallow_copy(value: _Slotted) -> _Slotted:
    """A copy of a slotted state sharing its fields' values (`copy.copy`, a fraction the cost)."""
    copied: _Slotted = _COPIERS[type(value)](value)
    return copied


class Scratch:
    """A state to try a round's steps on, sharing unchanged tasks with the real one."""

    def __init__(self, state: WorkflowState):
        self.origin = state
        self.state = shallow_copy(state)
        self.state.tasks = list(state.tasks)
        self.state.index = dict(state.index)
        self._own: set[str] = set()

    def apply(self, event: Event) -> None:
        """Apply `event` to the scratch state, the real one untouched."""
        for task_id in _touched(event):
            if task_id in self._own or task_id not in self.origin.index:
                continue
            position = self.state.index[task_id]
            self.state.tasks[position] = shallow_copy(self.state.tasks[position])
            self._own.add(task_id)
        apply(self.state, event)


def _touched(event: Event) -> list[str]:
    """The existing tasks `event` changes."""
    if isinstance(event, TaskScheduled):
        return [event.retried_from] if event.retried_from is not None else []
    task_id = getattr(event, "task_id", None)
    return [task_id] if isinstance(task_id, str) else []
