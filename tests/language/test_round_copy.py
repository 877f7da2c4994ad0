"""`shallow_copy` (`cadenza.core._round`): a decide round's scratch copies share values, not state."""

from __future__ import annotations

import copy
import dataclasses

from cadenza.core._round import shallow_copy
from cadenza.core._state import TaskState, TaskStatus, WorkflowState


def _task() -> TaskState:
    return TaskState(
        id="r-0", ref="a", name="step_a", type="SIMPLE", status=TaskStatus.IN_PROGRESS,
        attempt=2, input={"n": 1}, group="g", scheduled_at=1.0, ready_at=2.0,
        output={"m": [1]}, reason="why", started_at=3.0, worker_id="w", iteration=4,
        poll_count=5, wake_at=6.0, place_at=7.0, lost=True, error="tb",
    )  # fmt: skip


def test_a_task_copy_has_every_field_and_shares_its_values() -> None:
    task = _task()
    copied = shallow_copy(task)
    assert copied is not task
    assert copied == task == copy.copy(task)
    for field in dataclasses.fields(TaskState):
        assert getattr(copied, field.name) is getattr(task, field.name), field.name


def test_a_state_copy_has_every_field_and_changing_it_leaves_the_original() -> None:
    state = WorkflowState("run-1", name="wf", version=3, input={"n": 1}, tasks=[_task()])
    copied = shallow_copy(state)
    assert copied == state == copy.copy(state)
    assert all(getattr(copied, f.name) is getattr(state, f.name) for f in dataclasses.fields(state))
    copied.version = 4
    copied.tasks = []
    assert state.version == 3
    assert len(state.tasks) == 1
