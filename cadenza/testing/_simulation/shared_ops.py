"""The shared world's operators: runs paused, resumed and terminated through random processes.

Design note
-----------
A call forwarded to a run's owner returns once the owner applied it, with
its answer or refusal (`cadenza.runtime._forwarded`), so an operator may
pause a run through one process and resume it through another, in that
order. `Operators` drives such calls for the world's clients and checks
what an answer promises, on the store (the database) right when the call
returned (flagged `ack`):

- a `pause` answered OK: the run's row says PAUSED (or the run ended);
- a `resume` answered OK: the row no longer says PAUSED;
- a `terminate` answered OK: the row says TERMINATED.

A call refused by the owner (`InvalidOperation`, not `RuntimeClosed`) is
an answer: the run had ended, or a retried call had already done it. A
call that failed otherwise (the process closed, cut off, killed) or took
longer than `OP_TIMEOUT_S` is ambiguous: it may still be in the owner's
inbox and be applied later, so the operator first waits until the store's
inbox holds nothing for the run (the earlier call resolved), then tries
again elsewhere. Without that wait, a stale pause applied after the resume
would leave the run PAUSED, as it would for any client that retries blind.

Each terminated key's expected end (`expected`): TERMINATED if a terminate
was answered OK, else the ended status its refusal named (COMPLETED when
the run finished first); the world's end check holds each key to exactly
one run with that status (COMPLETED for keys nobody terminated). The world
is not done while an operation waits for its answer (`pending`): a call
on a process paused past its lease is answered only once it resumes,
possibly after its run's row already says it ended.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import anyio

from cadenza._errors import InvalidOperation, RuntimeClosed
from cadenza.runtime import Runtime

if TYPE_CHECKING:
    from cadenza.testing._simulation.shared_world import SharedWorld

OP_TIMEOUT_S = 30.0  # past every fault's outage: a call this late is given up as ambiguous
ENDED = ("COMPLETED", "FAILED", "TERMINATED", "TIMED_OUT")

Call = Callable[[Runtime], Awaitable[object]]


class Operators:
    """Pause/resume and terminate clients of one world; see the module note."""

    def __init__(self, world: SharedWorld):
        self.world = world
        self.expected: dict[str, str] = {}  # key → the status its one run must end with
        self.pending = 0  # operations not answered yet: the world is not done while any is

    async def _status(self, run_id: str) -> str | None:
        row = await self.world.store.streams.info(run_id)
        return None if row is None else row.status

    async def _resolved(self, run_id: str) -> None:
        """Until no message for `run_id` waits in the store's inbox (an earlier call's)."""
        while any(row[2] == run_id for row in self.world.store.inbox):  # noqa: ASYNC110
            await anyio.sleep(0.1)

    async def _op(self, run_id: str, call: Call) -> InvalidOperation | None:
        """`call(rt)` on a random live process until answered: None, or the refusal."""
        self.pending += 1
        try:
            return await self._answered(run_id, call)
        finally:
            self.pending -= 1

    async def _answered(self, run_id: str, call: Call) -> InvalidOperation | None:
        world = self.world
        while True:
            rt = world._any_runtime()
            if rt is not None:
                with anyio.move_on_after(OP_TIMEOUT_S):
                    try:
                        await call(rt)
                        return None
                    except InvalidOperation as refused:
                        if not isinstance(refused, RuntimeClosed):
                            return refused
                    except Exception:  # closed, cut off: maybe still in the inbox
                        pass
                await self._resolved(run_id)
            world.counts["retries"] += 1
            await anyio.sleep(world.rng.uniform(0.05, 0.5))

    async def _check(self, run_id: str, what: str, allowed: Callable[[str | None], bool]) -> None:
        status = await self._status(run_id)
        if not allowed(status):
            self.world.checker.flag(
                "ack", f"{what} of {run_id} answered OK, but its row says {status}"
            )

    async def pause_and_resume(self, run_id: str) -> None:
        """Pause the run through one process (soon: it lasts about 0.1 s unpaused), then
        resume it through another."""
        world = self.world
        await anyio.sleep(world.rng.uniform(0.0, 0.05))
        refused = await self._op(run_id, lambda rt: rt.pause(run_id))
        world.counts["paused"] += 1
        if refused is None:
            await self._check(run_id, "pause", lambda s: s == "PAUSED" or s in ENDED)
        elif refused.state in ENDED:
            return  # it ended first: nothing to resume
        await anyio.sleep(world.rng.uniform(0.0, 1.5))
        refused = await self._op(run_id, lambda rt: rt.resume(run_id))
        world.counts["resumed"] += 1
        if refused is None:
            await self._check(run_id, "resume", lambda s: s != "PAUSED")

    async def terminate(self, run_id: str, key: str) -> None:
        """Terminate the run at a random moment (it may have ended first)."""
        world = self.world
        await anyio.sleep(world.rng.uniform(0.0, 0.15))
        refused = await self._op(run_id, lambda rt: rt.terminate(run_id, "by an operator"))
        world.counts["terminated"] += 1
        if refused is None:
            self.expected[key] = "TERMINATED"
            await self._check(run_id, "terminate", lambda s: s == "TERMINATED")
        else:
            self.expected[key] = refused.state or "?"
