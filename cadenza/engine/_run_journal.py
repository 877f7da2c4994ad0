"""How a run's actor makes a batch durable before it acts on it.

Design note
-----------
`RunJournal` is the part of `RunActor` between handling and acting.
Handling a batch changes only the actor's in-memory state: ledger effects
(leases granted, extended or expired, slots released) wait in `_after`
until the batch's one record is durable. So a commit that fails
transiently (`JournalWriteError.transient`) is simply redone: the state is
reloaded from the journal, which never saw the batch, and the same
messages are handled again after a backoff — nothing is lost and nothing
is told twice. A failure that is not transient (the journal's process is
gone), or that outlasts `COMMIT_ATTEMPTS`, crashes the actor: its callers
get the error, the kernel restarts it, and the fresh incarnation reloads
from the journal. Memory and disk cannot diverge.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

import structlog

from cadenza._errors import InternalError, InvalidOperation, NotFound, StaleTask
from cadenza.actors import Reply
from cadenza.actors._clock import sleep_until
from cadenza.core._events import Event
from cadenza.core._state import WorkflowState
from cadenza.engine._messages import Recover, WaitRun
from cadenza.engine._run_services import RunServices
from cadenza.language._definition import WorkflowDef
from cadenza.persistence import Append, JournalWriteError, StreamInfo

log = structlog.get_logger()

COMMIT_ATTEMPTS = 8  # a batch whose commit fails transiently is redone this often
COMMIT_BACKOFF_S = 0.01  # then 0.02, 0.04, ... (about 1.3 s in all)
SNAPSHOT_EVERY = 64  # events between snapshots of a long-running run


class RunJournal:
    """Durable batches mixed into `RunActor`; see the module note."""

    run_id: str
    services: RunServices
    state: WorkflowState | None
    definition: WorkflowDef | None
    waiters: list[Reply[Any]]
    since_snapshot: int
    _wake_memo: tuple[int, float | None] | None
    _held_timers: dict[str, int]
    _after: list[Callable[[], object]]

    if TYPE_CHECKING:  # provided by RunActor

        def _handle(self, message: Any, now: float, events: list[Event]) -> Any: ...

        async def _load(self) -> None: ...

        def _row(self, state: WorkflowState, *, terminal: bool) -> StreamInfo: ...

        def _owes_failure_run(self, state: WorkflowState) -> bool: ...

    async def _handle_durably(
        self, messages: list[Any]
    ) -> tuple[list[Event], list[tuple[Reply[Any], Any]], bool]:
        """Handle the batch and journal its events; on a transient commit failure, redo.

        Handling changes only the in-memory state (ledger effects wait in
        `_after`), so after a failed commit the state is reloaded from the
        journal, which never saw the batch, and the same messages are
        handled again after a backoff: nothing is lost, nothing is told
        twice. A failure that is not transient, or persists past
        `COMMIT_ATTEMPTS`, crashes the actor (its callers get the error).
        """
        for attempt in range(1, COMMIT_ATTEMPTS + 1):
            now = self.services.clock.now()
            self._wake_memo = None
            self._after = []
            waiters = len(self.waiters)
            events: list[Event] = []
            answers: list[tuple[Reply[Any], Any]] = []
            recovering = False
            for message in messages:
                try:
                    answer = self._handle(message, now, events)
                except (StaleTask, InvalidOperation, NotFound) as refusal:
                    answer = refusal
                if isinstance(message, Recover):
                    recovering = True
                reply = getattr(message, "reply", None)
                if reply is not None and not isinstance(message, WaitRun):
                    answers.append((reply, answer))
            if not events:
                break
            try:
                await self._journal(events)
                break
            except JournalWriteError as exc:
                if not exc.transient or attempt == COMMIT_ATTEMPTS:
                    raise
                log.warning(
                    "run.commit_retried", run_id=self.run_id, attempt=attempt, error=str(exc)
                )
                del self.waiters[waiters:]
                await sleep_until(self.services.clock, now + COMMIT_BACKOFF_S * 2 ** (attempt - 1))
                self.state = self.definition = None
                await self._load()
        after, self._after = self._after, []
        for effect in after:
            effect()
        return events, answers, recovering

    def _later(self, effect: Callable[..., object], *args: Any) -> None:
        """Do `effect(*args)` once this batch is durable (never, if its commit fails)."""
        self._after.append(partial(effect, *args))

    async def _journal(self, events: list[Event]) -> None:
        state = self.state
        if state is None:
            raise InternalError(f"run {self.run_id}: journaling without a state")
        self.since_snapshot += len(events)
        snapshot = None
        if state.status.terminal or self.since_snapshot >= SNAPSHOT_EVERY:
            snapshot = state.to_json()
            self.since_snapshot = 0
        info = self._row(
            state, terminal=state.status.terminal and not self._owes_failure_run(state)
        )
        await self.services.journal.append(
            Append(info=info, events=[event.to_json() for event in events], snapshot=snapshot)
        )
        held = dict(info.timers or {})
        if held != self._held_timers:  # the per-type timer counts follow what is durable
            self.services.count_timers(self._held_timers, held)
            self._held_timers = held
