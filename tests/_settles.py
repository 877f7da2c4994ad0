"""A check, around every test, of the decide shortcut `settles` (`cadenza.core._decide`).

The run's actor skips the confirming walk after a round that `settles`. Here,
every time it does, the skipped walk is made anyway on the state the next
round would start from, and a round it finds is recorded as a violation: the
shortcut would have lost those decisions. The fixture in `tests/conftest.py`
fails the test at teardown if any was recorded, so the whole suite (the
Conductor spec ports included) checks the shortcut's premise.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cadenza.core._decide import settles
from cadenza.engine.run import _actor as _run_actor


class SettlesChecker:
    """Patches `_actor`'s `decide` and `settles`; `violations` lists what was lost."""

    def __init__(self) -> None:
        self.violations: list[str] = []
        self.checked = 0
        self._last: tuple[Any, ...] | None = None
        self._decide: Callable[..., Any] = _run_actor.decide

    def decide(self, definition: Any, state: Any, env: Any) -> Any:
        self._last = (definition, state, env)
        return self._decide(definition, state, env)

    def settles(self, decisions: Any) -> bool:
        settled = settles(decisions)
        if settled and self._last is not None:
            definition, state, env = self._last  # `state` has the round applied by now
            self.checked += 1
            following = self._decide(definition, state, env)
            if following:
                self.violations.append(
                    f"run {state.id}: after {[type(d).__name__ for d in decisions]} the next "
                    f"round decides {[type(d).__name__ for d in following]}"
                )
        return settled
