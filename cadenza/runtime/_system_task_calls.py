"""The `Runtime`'s `system_task` call: a service's own task types, run by the engine.

`Runtime` takes this method from `SystemTaskCalls`, which holds the one
thing it uses, the engine: the function is registered as the local worker
of its type in the system group (`cadenza.dispatch._system_task`), and the
type joins the registry's `system_types`, so definitions naming it are
accepted and its tasks are queued for it (`cadenza.core._user_defined`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast, overload

from cadenza.core._system_tasks import SYSTEM_GROUP
from cadenza.dispatch._autoscale import Pool
from cadenza.dispatch._groups import WorkerFn
from cadenza.dispatch._system_task import SystemTask, SystemTaskFn
from cadenza.engine._host import Engine
from cadenza.runtime import _arguments as check


class SystemTaskCalls:
    """System tasks of the service's own; see `system_task`."""

    _engine: Engine

    @overload
    def system_task(
        self,
        task_type: str,
        fn: SystemTaskFn,
        *,
        async_complete: bool | None = None,
        concurrency: Pool = 1,
    ) -> None: ...

    @overload
    def system_task(
        self,
        task_type: str,
        fn: None = None,
        *,
        async_complete: bool | None = None,
        concurrency: Pool = 1,
    ) -> Callable[[SystemTaskFn], SystemTaskFn]: ...

    def system_task(
        self,
        task_type: str,
        fn: SystemTaskFn | None = None,
        *,
        async_complete: bool | None = None,
        concurrency: Pool = 1,
    ) -> Callable[[SystemTaskFn], SystemTaskFn] | None:
        """Run every task of type `task_type` with `fn` in the engine; also a decorator.

        A system task of the service's own (Conductor's `WorkflowSystemTask`,
        a task type Conductor does not know: USER_DEFINED): definitions may
        then use `"type": task_type`. `fn(input)` or `fn(input, task:
        TaskContext)` returns the task's output (a dict, or None); async or
        not (a plain function runs in a worker thread, never on the event
        loop), at most `concurrency` at once. It runs as a local worker does:
        an exception fails the attempt (retried per the TaskDef of the task's
        *name*), `TerminalError` fails it for good, an output JSON cannot hold
        fails it FAILED_WITH_TERMINAL_ERROR; the TaskDef's timeouts, rate and
        concurrency limits apply. Async complete — `async_complete=True`, or,
        left None, the task's own `asyncComplete` (its input's, else its
        definition's, as Conductor's `isAsyncComplete`) — the task stays
        IN_PROGRESS once `fn` returned (its output recorded) until completed
        from outside with `signal(run_id, ref, output)` or `complete(task_id)`.

        Like workers, system tasks are code: register them again in a
        restarted process (before opening it, or before their tasks are due).
        A run reaching a task whose type has none registered fails that task
        FAILED_WITH_TERMINAL_ERROR, naming the type; a task already queued
        waits for its system task to be registered again.

        Raises:
            InvalidArgument: a task type that is not text or that Conductor
                knows, a bad `async_complete` or `concurrency`.
            DefinitionError: `fn` is not callable.
        """
        checked = check.system_task(task_type, fn, async_complete)
        check.concurrency(concurrency)

        def register(function: SystemTaskFn) -> SystemTaskFn:
            check.system_task(checked, function, async_complete)
            self._engine.registry.system_types.add(checked)
            worker = SystemTask(function, async_complete)
            self._engine.add_worker(checked, cast(WorkerFn, worker), SYSTEM_GROUP, concurrency)
            return function

        if fn is None:
            return register
        register(fn)
        return None
