"""The operator's calls on a run (`pause` ... `signal`), a part of `Runtime`'s face.

`Runtime` takes them from `RunOperations`; each checks the runtime is open
and hands the operation to the `Operator`, which checks its arguments and
asks the run's actor (`InvalidOperation` for what the run's state refuses).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cadenza.runtime import _arguments as check
from cadenza.runtime._operator import Operator


class RunOperations:
    """`Runtime`'s operations on runs; see the module note."""

    _operator: Operator

    def _check_open(self) -> None:
        raise NotImplementedError

    async def pause(self, run_id: str) -> None:
        """Stop scheduling new tasks of a running run; results of tasks in flight still land.

        Raises:
            InvalidOperation: the run is not running (or already paused).
        """
        self._check_open()
        await self._operator.operate(run_id, "pause")

    async def resume(self, run_id: str) -> None:
        """Resume a paused run.

        Raises:
            InvalidOperation: the run is not paused.
        """
        self._check_open()
        await self._operator.operate(run_id, "resume")

    async def reset_callbacks(self, run_id: str) -> None:
        """Make the run's worker tasks queued for later (an update's `callback_after_s`, a
        retry delay) ready now: Conductor's resetCallbacks (WorkflowExecutorOps.java:139).

        Raises:
            InvalidOperation: the run has ended.
        """
        self._check_open()
        await self._operator.operate(run_id, "reset_callbacks")

    async def terminate(self, run_id: str, reason: str = "") -> None:
        """End a run now: tasks in flight are cancelled, the run is TERMINATED.

        Raises:
            InvalidOperation: the run already ended.
        """
        self._check_open()
        await self._operator.operate(run_id, "terminate", reason)

    async def retry(self, run_id: str, *, resume_subworkflow_tasks: bool = False) -> None:
        """Re-run the failed task(s) of a FAILED or TIMED_OUT run; it is RUNNING again.

        `resume_subworkflow_tasks=True` (Conductor's flag): the deepest failed
        child is retried instead of a new child, its parents resume in place.

        Raises:
            InvalidOperation: the run is not FAILED or TIMED_OUT.
        """
        self._check_open()
        await self._operator.retry(run_id, resume_subworkflow_tasks)

    async def restart(self, run_id: str, *, latest: bool = False) -> None:
        """Run a terminal run again from the beginning, same id.

        `latest=True` switches it to the newest registered version.

        Raises:
            InvalidOperation: the run has not ended (or is COMPLETED and its
                definition is not restartable).
        """
        self._check_open()
        await self._operator.restart(run_id, check.flag("latest", latest))

    async def rerun(
        self, run_id: str, from_ref: str, *, input: Mapping[str, Any] | None = None
    ) -> None:
        """Run a terminal run again from task `from_ref`; `input` replaces the workflow input.

        Raises:
            InvalidOperation: the run has not ended, or has no task `from_ref`.
        """
        self._check_open()
        await self._operator.rerun(run_id, from_ref, input)

    async def skip(self, run_id: str, ref: str) -> None:
        """Skip task `ref` of a running run before it is scheduled (as Conductor): SKIPPED.

        Raises:
            InvalidOperation: the run is not running, or `ref` was already scheduled.
        """
        self._check_open()
        await self._operator.skip(run_id, ref)

    async def signal(self, run_id: str, ref: str, output: Mapping[str, Any] | None = None) -> None:
        """Complete the WAIT or HUMAN task `ref` of a run from outside, with `output`.

        Raises:
            InvalidOperation: no WAIT or HUMAN task `ref` is waiting.
        """
        self._check_open()
        await self._operator.signal(run_id, ref, output)
