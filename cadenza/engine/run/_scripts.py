"""A run's JavaScript, evaluated off the event loop between its batches.

Design note
-----------
`decide` is pure and runs on the run actor, on the event loop. A
JavaScript expression (SWITCH `javascript`, DECISION `caseExpression`,
DO_WHILE `loopCondition`, INLINE, LAMBDA) may take up to its time limit, so
the run's actor does not let decide run it: it gives decide an
`Evaluations` book (`_script.py`), and decide records what it needs and
decides nothing. Once the batch is journaled and its callers answered, the
actor makes the wanted evaluations in a worker thread (`made`), awaiting
them — the loop, every other run's timers, leases and workers go on — then
handles a `Decide` batch, which reads the results and journals the
decisions (the task's output). Recovery reads those decisions and never
evaluates again.

Under the simulation's loop (`SimLoop`: one thread, virtual time) the
evaluation is made in place, so a seed still replays exactly.
"""

from __future__ import annotations

import asyncio

import anyio.to_thread

from cadenza.actors._simloop import SimLoop
from cadenza.core._schedule import Environment
from cadenza.language._script import Evaluations


class Decide:
    """To a run's own batch loop: decide again, the evaluations decide wanted are made."""


DECIDE = Decide()


class RunScripts:
    """One run's evaluations; see the module note."""

    def __init__(self) -> None:
        self.book = Evaluations()
        self._base: Environment | None = None
        self._env: Environment | None = None

    def env(self, base: Environment) -> Environment:
        """`base` with this run's book (made again only when `base` changes)."""
        if self._env is None or self._base is not base:
            self._base, self._env = base, base.with_scripts(self.book)
        return self._env

    async def made(self) -> bool:
        """Make what decide wanted, off the event loop; False if it wanted nothing."""
        if not self.book.wanted:
            return False
        if isinstance(asyncio.get_running_loop(), SimLoop):
            self.book.make()
            return True
        await anyio.to_thread.run_sync(self.book.make)  # anyio's default thread pool
        return True
