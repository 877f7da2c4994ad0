"""Operator controls, each a message in the run's own mailbox: pause, resume, terminate,
retry, restart, rerun, skip, signal.

`Operator` is the part of the face that operators call; the `Runtime`
holds one and delegates to it. The rules (what each control means in each
state) live in the pure core, `cadenza.core._operations`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cadenza._errors import InvalidArgument
from cadenza._json import check_payload
from cadenza.core._operations import Operation
from cadenza.core._views import WorkflowRun
from cadenza.engine._host import Engine
from cadenza.engine._messages import GetRun, Operate, Signal
from cadenza.engine._resume import failed_deepest
from cadenza.runtime import _arguments as check
from cadenza.runtime._calls import ask_run, calls_translated


class Operator:
    """Operator controls on one engine."""

    def __init__(self, engine: Engine):
        self._engine = engine

    async def operate(self, run_id: Any, op: str, reason: str = "", **fields: Any) -> None:
        run_id = check.text("run_id", run_id)
        if not isinstance(reason, str):
            raise InvalidArgument("reason", f"expected a string, got {type(reason).__name__}")
        with calls_translated(f"{op} of run {run_id!r}"):
            await ask_run(
                self._engine, run_id, lambda reply: Operate(Operation(op, reason, **fields), reply)
            )

    async def retry(self, run_id: Any, resume_subworkflow_tasks: bool) -> None:
        """Retry the run; with `resume_subworkflow_tasks`, its deepest failed child instead."""
        if resume_subworkflow_tasks:
            with calls_translated(f"retry of run {run_id!r}"):
                run_id = await failed_deepest(self._engine.run, check.text("run_id", run_id))
        await self.operate(run_id, "retry")

    async def restart(self, run_id: Any, latest: bool) -> None:
        if not latest:
            await self.operate(run_id, "restart")
            return
        run_id = check.text("run_id", run_id)
        with calls_translated(f"restart of run {run_id!r}"):
            run: WorkflowRun = await self._engine.run(run_id).ask(GetRun)
        definition, digest = self._engine.registry.get(run.name)
        await self.operate(run_id, "restart", definition=definition, digest=digest)

    async def rerun(self, run_id: Any, from_ref: Any, input: Mapping[str, Any] | None) -> None:
        ref = check.text("from_ref", from_ref)
        new_input = check_payload("workflow input", input) if input is not None else None
        await self.operate(run_id, "rerun", ref=ref, input=new_input)

    async def skip(self, run_id: Any, ref: Any) -> None:
        await self.operate(run_id, "skip", ref=check.text("ref", ref))

    async def signal(self, run_id: Any, ref: Any, output: Mapping[str, Any] | None) -> None:
        run_id = check.text("run_id", run_id)
        ref = check.text("ref", ref)
        result = check_payload("signal output", output)
        with calls_translated(f"signal of run {run_id!r}"):
            await ask_run(self._engine, run_id, lambda reply: Signal(ref, result, reply))
