"""Operator controls, each a message in the run's own mailbox: pause, resume, terminate,
retry, restart, rerun, skip, signal."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from cadenza._json import check_payload as _check_payload
from cadenza.actors import EntityPool
from cadenza.core._operations import Operation
from cadenza.core._views import WorkflowRun
from cadenza.engine._messages import Operate, Signal
from cadenza.engine._registry import Registry


class OperatorControls:
    """The operator half of the `Runtime`'s face."""

    registry: Registry
    _runs: EntityPool[Any]

    if TYPE_CHECKING:  # provided by Runtime

        def _check_open(self) -> None: ...

        async def get(self, run_id: str) -> WorkflowRun: ...

    async def _operate(self, run_id: str, op: str, reason: str = "", **fields: Any) -> None:
        self._check_open()
        await self._runs.ref(run_id).ask(
            lambda reply: Operate(Operation(op, reason, **fields), reply)
        )

    async def retry(self, run_id: str) -> None:
        """Re-run the failed task(s) of a FAILED or TIMED_OUT run; it is RUNNING again."""
        await self._operate(run_id, "retry")

    async def restart(self, run_id: str, *, latest: bool = False) -> None:
        """Run a terminal run again from the beginning, same id; `latest`: the newest version."""
        if not latest:
            await self._operate(run_id, "restart")
            return
        run = await self.get(run_id)
        definition, digest = self.registry.get(run.name)
        await self._operate(run_id, "restart", definition=definition, digest=digest)

    async def rerun(
        self, run_id: str, from_ref: str, *, input: Mapping[str, Any] | None = None
    ) -> None:
        """Run a terminal run again from task `from_ref`; `input` replaces the workflow input."""
        new_input = _check_payload("workflow input", input) if input is not None else None
        await self._operate(run_id, "rerun", ref=from_ref, input=new_input)

    async def skip(self, run_id: str, ref: str) -> None:
        """Skip task `ref` of a running run (one not yet scheduled, as Conductor): SKIPPED."""
        await self._operate(run_id, "skip", ref=ref)

    async def pause(self, run_id: str) -> None:
        """Stop scheduling new tasks of a running run; results still land."""
        await self._operate(run_id, "pause")

    async def resume(self, run_id: str) -> None:
        """Resume a paused run."""
        await self._operate(run_id, "resume")

    async def signal(self, run_id: str, ref: str, output: Mapping[str, Any] | None = None) -> None:
        """Complete the WAIT or HUMAN task `ref` of a run from outside; `InvalidOperation` if none waits."""
        self._check_open()
        result = _check_payload("signal output", output)
        await self._runs.ref(run_id).ask(lambda reply: Signal(ref, result, reply))

    async def terminate(self, run_id: str, reason: str = "") -> None:
        """End a run now: in-flight tasks are cancelled, the run is TERMINATED."""
        await self._operate(run_id, "terminate", reason)
