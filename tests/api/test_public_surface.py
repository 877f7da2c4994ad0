"""The public surface of `cadenza`, `cadenza.testing` and `Runtime`, pinned against API.md.

`docs/contract.md` is the contract (a copy of the project's API.md). Each
name below is checked both ways: the contract names it, and the code has
it. Names of the contract's second section that later issues build are
listed as PENDING with their issue; when one lands, its test fails until it
moves to the implemented sets, so the pin never goes stale. Anything public
on `Runtime` that the contract does not name fails the test: internal
methods and attributes live on the engine the facade holds.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

import cadenza
import cadenza.testing

CONTRACT = (Path(__file__).resolve().parents[2] / "docs" / "contract.md").read_text()

RUNTIME_CALLS = {  # API.md, first section, and the second section's that landed
    "register", "register_task", "definition", "worker", "start", "get", "wait", "runs",
    "poll", "complete", "fail", "heartbeat", "update", "pause", "resume", "terminate",
    "retry", "restart", "rerun", "skip", "signal", "settle", "metrics", "start_many",
    "schedule", "unschedule", "pause_schedule", "resume_schedule", "trigger", "backfill",
    "schedules", "reset_callbacks", "system_task",
}  # fmt: skip
RUNTIME_EXTRAS = {  # public beyond API.md, each documented on the class
    "damaged": "runs quarantined at recovery (issue 13 makes it the contract's)",
    "unrecovered": "runs whose recovery keeps failing (not damage), retried, with the reason",
    "path": "the journal's path, as given",
    "get_schedule": "one schedule by name (what the HTTP API's GET of a schedule reads)",
}
RUNTIME_PENDING: dict[str, int] = {  # API.md, second section: not built yet, by issue
}

CADENZA_NAMES = {  # API.md: importable from `cadenza`
    "Runtime", "WorkflowRun", "TaskRun", "workflow",
    "CadenzaError", "DefinitionError", "NotFound", "InvalidOperation", "StaleTask",
    "TerminalError", "JournalCorrupted", "InvalidArgument", "JournalBusy", "inspect",
    "TaskContext", "Schedule",
}  # fmt: skip
CADENZA_EXTRAS = {  # exported beyond API.md's words, each a documented public class
    "WorkflowStatus": "the workflow statuses API.md lists, a str enum",
    "TaskStatus": "the task statuses API.md lists, a str enum",
    "Workflow": "the builder `workflow()` returns",
    "Tasks": "the builder of a task list",
    "tasks": "starts a task list (a SWITCH case, a FORK branch)",
    "PayloadError": "an InvalidArgument for payloads JSON cannot hold",
    "InternalError": "a broken invariant of cadenza itself",
    "RuntimeClosed": "a call on a runtime that is not open (or closed under it)",
}
CADENZA_PENDING: dict[str, int] = {}

TESTING_NAMES = {"VirtualClock", "Simulation"}
TESTING_EXTRAS = {"SimClock", "SimLoop", "SimDeadlock", "SimTimeout"}


def _public(obj: object) -> set[str]:
    return {name for name in dir(obj) if not name.startswith("_")}


def test_the_contract_names_every_pinned_call() -> None:
    """Each call pinned here appears in the contract's text (the test and the doc agree)."""
    for name in RUNTIME_CALLS | set(RUNTIME_PENDING):
        assert re.search(rf"\b{name}\(|rt\.{name}\b", CONTRACT), name
    for name in CADENZA_NAMES | set(CADENZA_PENDING):
        assert re.search(rf"\b{name}\b", CONTRACT), name
    for name in TESTING_NAMES:
        assert f"cadenza.testing.{name}" in CONTRACT or f"`{name}" in CONTRACT, name


def test_runtime_exposes_exactly_the_contract() -> None:
    """No internal method or attribute is a public name on `rt`."""
    rt = cadenza.Runtime(":memory:")
    assert _public(rt) == RUNTIME_CALLS | set(RUNTIME_EXTRAS)


@pytest.mark.parametrize("name", sorted(RUNTIME_PENDING))
def test_a_pending_call_is_not_half_there(name: str) -> None:
    """A call the contract pins for a later issue does not exist yet (move it once it lands)."""
    assert not hasattr(cadenza.Runtime, name), f"{name} landed: move it to RUNTIME_CALLS"


def test_every_public_call_is_documented() -> None:
    """Each public call of Runtime says what it promises (a docstring)."""
    for name in RUNTIME_CALLS:
        doc = inspect.getdoc(getattr(cadenza.Runtime, name))
        assert doc is not None, name
        assert len(doc) > 20, name


def test_cadenza_exports_exactly_the_contract() -> None:
    """`cadenza.__all__` is the contract's names plus the documented extras, and all exist."""
    assert set(cadenza.__all__) == CADENZA_NAMES | set(CADENZA_EXTRAS)
    for name in cadenza.__all__:
        assert getattr(cadenza, name).__doc__, name
    assert not set(CADENZA_PENDING) & set(cadenza.__all__), "a pending name landed: pin it"


def test_testing_exports_exactly_the_contract() -> None:
    """`cadenza.testing.__all__` holds the contract's names and the simulation's own."""
    assert set(cadenza.testing.__all__) == TESTING_NAMES | TESTING_EXTRAS
    for name in cadenza.testing.__all__:
        assert getattr(cadenza.testing, name).__doc__, name


def test_invalid_argument_is_a_value_and_a_type_error() -> None:
    """Callers catching ValueError or TypeError keep working (API.md, errors added)."""
    assert issubclass(cadenza.InvalidArgument, ValueError)
    assert issubclass(cadenza.InvalidArgument, TypeError)
    assert issubclass(cadenza.InvalidArgument, cadenza.CadenzaError)
    assert not issubclass(cadenza.InvalidArgument, cadenza.InvalidOperation)
