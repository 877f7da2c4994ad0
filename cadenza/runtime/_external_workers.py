"""Conductor's poll model for workers outside the process: poll, complete, fail, heartbeat, update."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from cadenza._json import check_payload as _check_payload
from cadenza.actors import ActorRef, Clock, EntityPool
from cadenza.core._ids import run_id_of
from cadenza.core._status import TaskStatus
from cadenza.core._views import TaskRun
from cadenza.dispatch._messages import Poll, QueuedTask, TaskResult
from cadenza.engine._messages import Heartbeat, TaskProgress


class ExternalWorkers:
    """The external-worker half of the `Runtime`'s face."""

    clock: Clock
    default_group: str
    _runs: EntityPool[Any]

    if TYPE_CHECKING:  # provided by Runtime

        def _check_open(self) -> None: ...

        def group_ref(self, name: str) -> ActorRef[Any]: ...

    async def poll(
        self,
        task_type: str,
        *,
        group: str | None = None,
        worker_id: str | None = None,
        wait: float = 0.0,
    ) -> TaskRun | None:
        """Lease the next ready task of `task_type` in `group`, or None."""
        self._check_open()
        ref = self.group_ref(group or self.default_group)
        task: QueuedTask | None = await ref.ask(
            lambda reply: Poll(task_type, worker_id, max(0.0, wait), reply)
        )
        if task is None:
            return None
        return TaskRun(
            id=task.task_id,
            ref=task.ref,
            type=task.type,
            status=TaskStatus.IN_PROGRESS,
            attempt=task.attempt,
            input=json.loads(json.dumps(task.input)),
            output={},
            group=group or self.default_group,
            reason=None,
            scheduled_at=task.scheduled_at,
            started_at=self.clock.now(),
            ended_at=None,
            run_id=task.run_id,
            name=task.name,
            worker_id=worker_id,
        )

    async def complete(self, task_id: str, output: Mapping[str, Any] | None = None) -> None:
        """Complete a task; raises `StaleTask` if the attempt is no longer current."""
        self._check_open()
        result = _check_payload("task output", output)
        await self._runs.ref(run_id_of(task_id)).ask(
            lambda reply: TaskResult(task_id, result, reply=reply)
        )

    async def fail(
        self,
        task_id: str,
        reason: str = "",
        *,
        output: Mapping[str, Any] | None = None,
        terminal: bool = False,
    ) -> None:
        """Fail a task (retried per its policy unless `terminal`)."""
        self._check_open()
        result = _check_payload("task output", output) if output is not None else None
        await self._runs.ref(run_id_of(task_id)).ask(
            lambda reply: TaskResult(
                task_id, result, failed=True, reason=reason, terminal=terminal, reply=reply
            )
        )

    async def heartbeat(self, task_id: str) -> None:
        """Tell the runtime the worker holding `task_id` is alive."""
        self._check_open()
        await self._runs.ref(run_id_of(task_id)).ask(lambda reply: Heartbeat(task_id, reply))

    async def update(
        self,
        task_id: str,
        *,
        output: Mapping[str, Any] | None = None,
        callback_after_s: float | None = None,
    ) -> None:
        """Report progress; with `callback_after_s` the task is re-queued after that delay."""
        self._check_open()
        result = _check_payload("task output", output) if output is not None else None
        await self._runs.ref(run_id_of(task_id)).ask(
            lambda reply: TaskProgress(task_id, result, callback_after_s, reply)
        )
