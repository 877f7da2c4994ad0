"""Conductor's poll model for workers outside the process: poll, complete, fail, heartbeat, update.

`ExternalWorkers` is the part of the face that external workers call; the
`Runtime` holds one and delegates to it. Every call is a message to the
actor owning the state it touches (the group for a poll, the run for a
result), so a result never interleaves with the run's other work.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cadenza._errors import InvalidArgument
from cadenza._json import check_payload, copy_plain
from cadenza.core._ids import run_id_of
from cadenza.core._status import TaskStatus
from cadenza.core._views import TaskRun, shown_group
from cadenza.dispatch._messages import Poll, QueuedTask, TaskResult
from cadenza.engine._host import Engine
from cadenza.engine._messages import Heartbeat, TaskProgress
from cadenza.runtime import _arguments as check
from cadenza.runtime._calls import ask_run, calls_translated
from cadenza.runtime._shared_tasks import SharedTasks


class ExternalWorkers:
    """Poll, complete, fail, heartbeat and update, on one engine."""

    def __init__(self, engine: Engine):
        self._engine = engine
        shared = engine.shared  # several processes: the shared queues (`_shared_tasks`)
        self._shared = shared if isinstance(shared, SharedTasks) else None

    async def poll(self, task_type: Any, group: Any, worker_id: Any, wait: Any) -> TaskRun | None:
        engine = self._engine
        task_type = check.text("task_type", task_type)
        group_name = check.optional_text("group", group) or engine.default_group
        worker = check.optional_text("worker_id", worker_id)
        wait_s = check.seconds("wait", wait, optional=False) or 0.0
        shared = self._shared
        with calls_translated(f"poll for {task_type!r}"):
            if shared is not None and engine.share_of(task_type, group_name):
                task = await shared.poll(group_name, task_type, worker, wait_s)
            elif shared is not None:  # a local worker serves it here: the shared queue too
                task = await self._poll_local_then_shared(group_name, task_type, worker, wait_s)
            else:
                task = await engine.group_ref(group_name).ask(
                    lambda reply: Poll(task_type, worker, wait_s, reply)
                )
        if task is None:
            return None
        return TaskRun(
            id=task.task_id,
            ref=task.ref,
            type=task.type,
            status=TaskStatus.IN_PROGRESS,
            attempt=task.attempt,
            input=copy_plain(task.input),
            output={},
            group=shown_group(group_name),
            reason=None,
            scheduled_at=task.scheduled_at,
            started_at=engine.clock.now(),
            ended_at=None,
            run_id=task.run_id,
            name=task.name,
            worker_id=worker,
            iteration=task.iteration,
        )

    async def _poll_local_then_shared(
        self, group: str, task_type: str, worker: str | None, wait_s: float
    ) -> QueuedTask | None:
        """A poll for a type a local worker of `group` serves in this process: the group's
        own tasks first (this process's runs'), then the shared queue's (other processes'
        runs', which this process's pulls would take too), looked at again as posts are
        heard, else after a pause (`SharedTasks.until_found`), until `wait_s` ran out."""
        shared = self._shared
        assert shared is not None
        group_ref = self._engine.group_ref(group)

        async def look() -> QueuedTask | None:
            task: QueuedTask | None = await group_ref.ask(
                lambda reply: Poll(task_type, worker, 0, reply)
            )
            if task is not None:
                return task
            for claimed in await shared.take(group, task_type, worker):
                if await shared.started(claimed, worker):
                    return claimed
            return None

        return await shared.until_found(look, wait_s)

    async def report(self, task_id: Any, make: Any, what: str, *, ends: bool = True) -> None:
        """Send the message `make(task_id, reply)` to the run owning `task_id` (`ends`: it
        ends the worker's hold on the task; on a shared journal its row goes)."""
        task_id = check.text("task_id", task_id)
        run_id = run_id_of(task_id)
        with calls_translated(f"{what} of task {task_id!r}"):
            if self._shared is not None and await self._shared.report(
                task_id, run_id, make, ends=ends
            ):
                return  # in the owner's inbox with the row's removal, or a heartbeat held
            await ask_run(self._engine, run_id, lambda reply: make(task_id, reply))

    async def complete(self, task_id: Any, output: Mapping[str, Any] | None) -> None:
        result = check_payload("task output", output)
        await self.report(
            task_id, lambda tid, reply: TaskResult(tid, result, reply=reply), "complete"
        )

    async def fail(
        self, task_id: Any, reason: Any, output: Mapping[str, Any] | None, terminal: Any
    ) -> None:
        if not isinstance(reason, str):
            raise InvalidArgument("reason", f"expected a string, got {type(reason).__name__}")
        if not isinstance(terminal, bool):
            raise InvalidArgument("terminal", f"expected a bool, got {type(terminal).__name__}")
        result = check_payload("task output", output) if output is not None else None
        await self.report(
            task_id,
            lambda tid, reply: TaskResult(
                tid, result, failed=True, reason=reason, terminal=terminal, reply=reply
            ),
            "fail",
        )

    async def heartbeat(self, task_id: Any) -> None:
        await self.report(task_id, Heartbeat, "heartbeat", ends=False)

    async def update(
        self, task_id: Any, output: Mapping[str, Any] | None, callback_after_s: Any
    ) -> None:
        result = check_payload("task output", output) if output is not None else None
        delay = check.seconds("callback_after_s", callback_after_s)
        await self.report(
            task_id,
            lambda tid, reply: TaskProgress(tid, result, delay, reply),
            "update",
            ends=delay is not None,  # back to its queue: its row goes, its owner posts it again
        )
