"""The stand-in for a run another process owns: it reads the run, never writes it.

Design note
-----------
When several processes share one journal (`_ownership`), a message for a
run whose partition another process owns reaches this actor instead of a
`RunActor`. It never appends, so it can never act on the run:

- `GetRun` is answered from the journal (the run as its owner last wrote it);
- `WaitRun` is answered once the run's row says it ended, polled on the
  journal (`WAIT_POLL_S` doubling to `WAIT_POLL_MAX_S`);
- a message the owner must apply (an external worker's result, an
  operation, a signal, a child's news) is forwarded to the owner's inbox;
  its caller is answered once the owner applied it, with what the owner
  answered or the refusal it raised (a stale attempt, an operation the
  run's state refuses), as a direct call on the owner would be
  (`cadenza.runtime._forwarded`);
- what this process cannot forward (a wake-up of a timer it armed when it
  owned the run, a local worker's result, a recovery or timer audit, whose
  caller is answered None) is dropped: the owner redid it from the journal
  when it took the run over.

It passivates after each batch: a stand-in holds nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio

from cadenza._errors import NotFound
from cadenza._log import get_logger
from cadenza.actors import Actor, Reply
from cadenza.core._state import restore
from cadenza.core._views import WorkflowRun
from cadenza.engine._messages import GetRun, StartRun, WaitRun

if TYPE_CHECKING:
    from cadenza.engine._host import Engine

log = get_logger("cadenza.engine")

WAIT_POLL_S = 0.02
WAIT_POLL_MAX_S = 0.5


class ForeignRun(Actor[Any]):
    """Run `run_id`, owned by another process; see the module note."""

    def __init__(self, run_id: str, engine: Engine):
        self.run_id = run_id
        self.engine = engine

    async def receive_batch(self, messages: list[Any]) -> None:
        try:
            for message in messages:
                await self._receive(message)
        finally:
            self.context.passivate()

    async def _receive(self, message: Any) -> None:
        reply: Reply[Any] | None = getattr(message, "reply", None)
        try:
            if isinstance(message, GetRun):
                message.reply.set(await self._snapshot())
            elif isinstance(message, WaitRun):
                await self._snapshot()  # NotFound at once for an unknown run
                self.engine.system.start_soon(self._wait, message.reply, name="foreign-wait")
            elif await self._forward(message):  # its caller is answered by the forwarding
                if isinstance(message, StartRun):  # in flight at its owner, not here; and
                    self.engine.gate.finished(self.run_id)  # once this process owns it, the
                    self.engine.claim_fresh(self.run_id)  # run is loaded, not assumed new
            elif reply is not None:  # a recovery or an audit: its owner's job
                reply.set(None)
            else:
                log.debug("run.foreign_dropped", run_id=self.run_id, message=type(message).__name__)
        except Exception as exc:
            if reply is not None:
                reply.fail(exc)

    async def _forward(self, message: Any) -> bool:
        ownership = self.engine.ownership
        return ownership is not None and await ownership.forward(self.run_id, message)

    async def _snapshot(self) -> WorkflowRun:
        loaded = await self.engine.journal.load(self.run_id)
        if loaded is None:
            raise NotFound("run", self.run_id)
        state = restore(self.run_id, loaded.snapshot, loaded.events)
        if not state.started:
            raise NotFound("run", self.run_id)
        return WorkflowRun.of(state)

    async def _wait(self, reply: Reply[Any]) -> None:
        """Answer `reply` once the run's row says it ended (its owner may be any process)."""
        pause = WAIT_POLL_S
        try:
            while not reply.done():
                info = await self.engine.journal.info(self.run_id)
                if info is not None and info.terminal:
                    reply.set(await self._snapshot())
                    return
                await anyio.sleep(pause)
                pause = min(WAIT_POLL_MAX_S, pause * 2)
        except Exception as exc:  # the journal closed, or the read failed: the caller hears
            reply.fail(exc)
