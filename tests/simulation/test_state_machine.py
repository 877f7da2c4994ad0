"""The runtime as a hypothesis state machine, driven through the simulation's step API."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from cadenza._errors import InternalError, InvalidOperation, NotFound, StaleTask
from cadenza.testing import Simulation
from cadenza.testing._simulation.checker import Checker
from cadenza.testing._simulation.harness import SimRuntime
from cadenza.testing._simulation.sweep import quiet_logs
from cadenza.testing._simulation.workloads import TASK_TYPES, three_steps

REFUSALS = (StaleTask, InvalidOperation, NotFound)


class RuntimeMachine(RuleBasedStateMachine):
    """Rules: start, poll, complete, fail, stale completion, operate, advance, crash."""

    def __init__(self) -> None:
        super().__init__()
        self.sim: Simulation | None = None
        self.h: SimRuntime | None = None
        self.checker: Checker | None = None
        self.runs: list[str] = []
        self.leased: list[str] = []
        self.ever_leased: list[str] = []
        self.logs = quiet_logs()
        self.logs.__enter__()

    @initialize(seed=st.integers(0, 2**16))
    def open(self, seed: int) -> None:
        self.sim = Simulation(seed)
        self.h = SimRuntime(self.sim)
        self.checker = Checker(self.h)
        rt = self.h.open()

        async def register() -> None:
            await rt.register(three_steps())
            for task_type in TASK_TYPES:
                await rt.register_task({"name": task_type, "retryCount": 1, "retryDelaySeconds": 2})

        self.sim.run(register())

    def _call(self, coro: Any) -> Any:
        assert self.sim is not None
        try:
            return self.sim.run(coro, timeout_s=60)
        except REFUSALS:
            return None

    @rule(priority=st.sampled_from([0, 10, 50]))
    def start(self, priority: int) -> None:
        assert self.h is not None
        run_id = self._call(self.h.runtime.start("three_steps", {"n": 1}, priority=priority))
        if run_id is not None:
            self.runs.append(run_id)

    @rule(task_type=st.sampled_from(TASK_TYPES))
    def poll(self, task_type: str) -> None:
        assert self.h is not None
        task = self._call(self.h.runtime.poll(task_type, worker_id="w"))
        if task is not None:
            self.leased.append(task.id)
            self.ever_leased.append(task.id)

    @precondition(lambda self: self.leased)
    @rule(data=st.data(), fail=st.booleans(), terminal=st.booleans())
    def finish(self, data: st.DataObject, fail: bool, terminal: bool) -> None:
        assert self.h is not None
        task_id = self.leased.pop(data.draw(st.integers(0, len(self.leased) - 1)))
        rt = self.h.runtime
        if fail:
            self._call(rt.fail(task_id, "chosen by hypothesis", terminal=terminal))
        else:
            self._call(rt.complete(task_id, {"n": 2}))

    @precondition(lambda self: self.ever_leased)
    @rule(data=st.data())
    def stale_completion(self, data: st.DataObject) -> None:
        assert self.h is not None
        task_id = data.draw(st.sampled_from(self.ever_leased))
        self._call(self.h.runtime.complete(task_id, {"n": 3}))

    @precondition(lambda self: self.runs)
    @rule(data=st.data(), op=st.sampled_from(["pause", "resume", "terminate"]))
    def operate(self, data: st.DataObject, op: str) -> None:
        assert self.h is not None
        run_id = data.draw(st.sampled_from(self.runs))
        self._call(getattr(self.h.runtime, op)(run_id))

    @rule(seconds=st.floats(0, 5))
    def advance(self, seconds: float) -> None:
        assert self.sim is not None
        self.sim.advance(seconds)

    @rule()
    def crash(self) -> None:
        assert self.h is not None
        self.h.crash()

    @invariant()
    def journal_and_live_state_agree(self) -> None:
        if self.checker is None:
            return
        self.checker.check_live()
        assert self.checker.violations == [], [str(v) for v in self.checker.violations]

    def teardown(self) -> None:
        try:
            if self.h is not None:
                self.h.close()
            if self.sim is not None:
                self.sim.close()
        finally:
            self.logs.__exit__(None, None, None)


RuntimeMachine.TestCase.settings = settings(
    max_examples=25, stateful_step_count=25, deadline=None, derandomize=True
)
test_the_runtime_keeps_its_invariants_under_any_sequence_of_calls = RuntimeMachine.TestCase


def test_the_state_machine_finds_skipped_fencing(monkeypatch: pytest.MonkeyPatch) -> None:
    """With attempt fencing monkeypatched away, the machine reports a violation."""
    from hypothesis.stateful import run_state_machine_as_test

    from cadenza.testing._simulation.bugs import BUGS

    BUGS["skip_fencing"].inject(monkeypatch)
    # Found either by the machine's invariant check or by the engine's own (InternalError:
    # an attempt ending twice), whichever the interleaving of a loaded machine reaches first.
    with pytest.raises((AssertionError, InternalError)) as found:
        run_state_machine_as_test(
            RuntimeMachine,
            settings=settings(
                max_examples=200,  # the budget
                stateful_step_count=30,
                deadline=None,
                derandomize=True,
                database=None,
                phases=[Phase.generate],  # found is enough: no shrinking
                report_multiple_bugs=False,
            ),
        )
    assert isinstance(found.value, InternalError) or "[inv" in str(found.value)
