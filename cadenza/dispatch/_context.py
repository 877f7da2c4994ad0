"""`TaskContext`: what a local worker taking a second parameter is told of its task.

`async def fn(input: dict, task: cadenza.TaskContext) -> dict | None`. The
slot builds one per attempt from the queued task; `heartbeat()` is a
message to the task's run, as `rt.heartbeat(task_id)` is.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from cadenza._errors import RuntimeClosed
from cadenza.actors import ActorRef, ActorStopped, ActorSystemStopped
from cadenza.dispatch._messages import Heartbeat


@dataclass(frozen=True, slots=True)
class TaskContext:
    """The attempt a local worker is running, and a way to say it is alive.

    Attributes:
        run_id: the run the task belongs to.
        task_id: the attempt's id (`<run id>-<n>`).
        ref: the task's reference name in the definition.
        task_type: the task type the worker serves.
        attempt: 0 for the first attempt, 1 for its first retry, ...
        workflow: the run's workflow name.
        group: the worker group the task was queued in.
        correlation_id: the run's correlation id, if any.
    """

    run_id: str
    task_id: str
    ref: str
    task_type: str
    attempt: int
    workflow: str
    group: str
    correlation_id: str | None
    _run: ActorRef[Any] = field(repr=False, compare=False)

    async def heartbeat(self) -> None:
        """Tell the run this attempt is alive: its lease, if it holds one, is extended.

        Raises:
            StaleTask: the attempt is no longer current (it timed out, or its
                run was terminated): the worker may stop.
            RuntimeClosed: the runtime is shutting down.
        """
        try:
            await self._run.ask(lambda reply: Heartbeat(self.task_id, reply))
        except (ActorStopped, ActorSystemStopped):
            raise RuntimeClosed() from None


def takes_context(fn: Callable[..., Awaitable[Any]]) -> bool:
    """Whether worker `fn` takes a second positional parameter (the `TaskContext`)."""
    try:
        parameters = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):  # no signature to read: call it with the input alone
        return False
    positional = [
        p for p in parameters
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
    ]  # fmt: skip
    return len(positional) >= 2 or any(p.kind is p.VAR_POSITIONAL for p in positional)
