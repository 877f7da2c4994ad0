"""A run whose recovery raised: the others carry on, it is retried, and reported if it persists.

Design note
-----------
Recovery (`_recovery`, at open or on taking over partitions) sends each
unfinished run `Recover`. A run whose records are damaged is quarantined
(`JournalCorrupted`: `Engine.damaged`). Any other failure — its state could
not be read (the journal briefly away, a read refused), its definition
could not be loaded, its actor crashed acting — concerns that run alone:
the other runs are recovered and served, the runtime opens and a takeover
keeps its partitions.

The failing run is recovered again in the background (`RecoveryRetries`)
after a back-off that doubles from `RETRY_S` to `RETRY_MAX_S`, jittered from
the runtime's seed, on the runtime's clock, for as long as it fails: a
transient cause still ends in its recovery. From its `REPORT_AFTER`-th failure
on it is reported: logged as `runtime.run_not_recovered` (an error) and named
with its last error in `Engine.unrecovered` (`Runtime.unrecovered`) until it
recovers (`runtime.run_recovered_late`). A run whose partition this process
no longer holds is given up (its new owner recovers it); closing the runtime
cancels the retries.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cadenza._errors import JournalCorrupted
from cadenza._log import get_logger
from cadenza.actors._clock import sleep_until
from cadenza.engine._messages import Recover

if TYPE_CHECKING:
    from cadenza.engine._host import Engine

log = get_logger("cadenza.engine")

RETRY_S = 0.5  # the first pause before a run whose recovery failed is recovered again
RETRY_MAX_S = 60.0  # the longest pause between two attempts
REPORT_AFTER = 3  # failed attempts before the run is reported (`Engine.unrecovered`)


class RecoveryRetries:
    """Recovers one run at a time; a failure is retried in the background (module note)."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.unrecovered: dict[str, str] = {}  # reported runs -> why their recovery fails
        self.retrying: set[str] = set()

    async def recover(self, run_id: str) -> None:
        """Recover run `run_id` once; if that fails, retry it in the background. Never raises
        for the run's sake (closing the runtime still cancels it)."""
        error = await self._attempt(run_id)
        if error is not None and run_id not in self.retrying:
            self.retrying.add(run_id)
            try:
                self.engine.system.start_soon(self._retry, run_id, error, name="recovery-retry")
            except Exception:  # the runtime is closing: recovery at the next open
                self.retrying.discard(run_id)

    async def _attempt(self, run_id: str) -> Exception | None:
        """One `Recover`: None if the run recovered (or was quarantined), else the error."""
        try:
            await self.engine.run(run_id).ask(lambda reply: Recover(reply))
        except JournalCorrupted as exc:
            self.engine.quarantine(run_id)
            log.error("runtime.run_not_recovered", run_id=run_id, error=str(exc))
        except Exception as exc:  # this run's alone: the others are recovered regardless
            return exc
        return None

    async def _retry(self, run_id: str, error: Exception) -> None:
        engine = self.engine
        attempt = 1
        try:
            while True:
                self._failed(run_id, attempt, error)
                await sleep_until(engine.clock, engine.clock.now() + self._backoff_s(attempt))
                ownership = engine.ownership
                if engine.system.stopping or (
                    ownership is not None and not ownership.owns(run_id)
                ):  # closing, or its partition moved on: its next owner recovers it
                    self.unrecovered.pop(run_id, None)
                    return
                again = await self._attempt(run_id)
                if again is None:
                    if self.unrecovered.pop(run_id, None) is not None:
                        log.info("runtime.run_recovered_late", run_id=run_id, attempts=attempt + 1)
                    return
                error = again
                attempt += 1
        finally:
            self.retrying.discard(run_id)

    def _failed(self, run_id: str, attempt: int, error: Exception) -> None:
        why = f"recovery of run {run_id!r} failed {attempt} time(s): {error!r}"
        if attempt < REPORT_AFTER:
            log.warning(
                "runtime.recovery_retried", run_id=run_id, attempt=attempt, error=repr(error)
            )
            return
        if run_id not in self.unrecovered:
            log.error(
                "runtime.run_not_recovered", run_id=run_id, attempt=attempt, error=repr(error)
            )
        self.unrecovered[run_id] = why

    def _backoff_s(self, attempt: int) -> float:
        base = min(RETRY_MAX_S, RETRY_S * 2.0 ** min(attempt - 1, 30))
        return base * (0.5 + self.engine.jitter.random())
