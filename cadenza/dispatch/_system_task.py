"""System tasks a service registers: its own task types, run by the engine (`rt.system_task`).

Design note
-----------
A system task is Conductor's `WorkflowSystemTask` (core/.../execution/tasks/
WorkflowSystemTask.java): code of the service that the engine itself runs
when a task of that type is due, rather than a worker polling for it. The
engine runs it as the local worker of its task type in the system group
(`SystemTask` is that worker's function), so it has a local worker's slots
and verdicts (`_slots.py`): a return completes the task with the returned
dict as its output (None: `{}`), an exception fails the attempt (retried per
its TaskDef), `TerminalError` fails it for good, and an output that is not a
JSON object fails it FAILED_WITH_TERMINAL_ERROR. Two things differ:

- `fn` may be a plain function: it then runs in a worker thread
  (`anyio.to_thread`), so a slow one never stalls the event loop. An attempt
  that ends while it runs (timed out, its run terminated) is abandoned: the
  slot is freed at once, the thread runs to its end and its result is
  dropped.
- Async complete (Conductor's `isAsyncComplete`): when the task is
  async-complete — `async_complete=True` at registration, or, left None,
  the task's own `asyncComplete` (its input's, else its definition's) —
  the function's return does not complete the task: its output is recorded
  and the task stays IN_PROGRESS until completed from outside
  (`rt.signal(run_id, ref, output)` or `rt.complete(task_id, output)`). It
  keeps counting against its TaskDef's `concurrentExecLimit` until then,
  across a restart too (recovery counts it again: `Ledger.hold`).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anyio.to_thread

from cadenza.dispatch._context import TaskContext, takes_context
from cadenza.dispatch._messages import QueuedTask

SystemTaskFn = Callable[..., Any]  # fn(input) or fn(input, task), async or not: dict | None


def is_async(fn: Callable[..., Any]) -> bool:
    """Whether calling `fn` gives a coroutine (an async function, or an object whose
    `__call__` is one)."""
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
        getattr(fn, "__call__", None)  # noqa: B004 (an object whose __call__ is async)
    )


@dataclass(frozen=True, slots=True)
class SystemTask:
    """The local worker function of a registered system task; see the module note.

    `fn(input)` or `fn(input, task: TaskContext)`, async or not, returns a
    dict or None. `async_complete`: True or False for every task of the
    type; None follows each task's `asyncComplete`.
    """

    fn: Callable[..., Any]
    async_complete: bool | None = None
    with_context: bool = field(init=False)
    coroutine: bool = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "with_context", takes_context(self.fn))
        object.__setattr__(self, "coroutine", is_async(self.fn))

    async def __call__(self, input: dict[str, Any], task: TaskContext) -> dict[str, Any] | None:
        call = (
            functools.partial(self.fn, input, task)
            if self.with_context
            else (functools.partial(self.fn, input))
        )
        if self.coroutine:
            result = await call()
        else:
            result = await anyio.to_thread.run_sync(call, abandon_on_cancel=True)
            if inspect.isawaitable(result):  # a plain function that returned a coroutine
                result = await result
        return result  # type: ignore[no-any-return]  # checked by the slot (`_slots._copied`)

    def awaits(self, task: QueuedTask) -> bool:
        """Whether `task`, once the function returned, awaits its completion from outside."""
        return task.async_complete if self.async_complete is None else self.async_complete
