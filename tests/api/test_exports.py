"""The public face is a contract (../shared/API.md): pin it."""

import cadenza
import cadenza.testing

API_NAMES = {
    "Runtime",
    "WorkflowRun",
    "TaskRun",
    "WorkflowStatus",
    "TaskStatus",
    "CadenzaError",
    "DefinitionError",
    "NotFound",
    "InvalidOperation",
    "StaleTask",
    "TerminalError",
    "JournalCorrupted",
    "workflow",  # the Python builder of Conductor definitions
    "tasks",
    "Workflow",
    "Tasks",
    "Schedule",  # API.md, Schedules
}


def test_every_name_of_the_api_contract_is_exported() -> None:
    """Each name API.md promises is importable from `cadenza`."""
    missing = {name for name in API_NAMES if not hasattr(cadenza, name)}
    assert not missing


def test_all_lists_exactly_the_exported_names() -> None:
    """`__all__` names what is exported, and everything it names exists."""
    assert set(cadenza.__all__) >= API_NAMES
    assert all(hasattr(cadenza, name) for name in cadenza.__all__)


def test_every_error_derives_from_the_one_root() -> None:
    """All of cadenza's errors can be caught as `CadenzaError`."""
    for name in (
        "DefinitionError",
        "NotFound",
        "InvalidOperation",
        "StaleTask",
        "TerminalError",
        "JournalCorrupted",
        "PayloadError",
    ):
        assert issubclass(getattr(cadenza, name), cadenza.CadenzaError)
    assert issubclass(cadenza.StaleTask, cadenza.InvalidOperation)


def test_statuses_are_str_enums() -> None:
    """`run.status == "COMPLETED"` holds, as API.md promises."""
    assert cadenza.WorkflowStatus.COMPLETED == "COMPLETED"
    assert cadenza.TaskStatus.FAILED_WITH_TERMINAL_ERROR == "FAILED_WITH_TERMINAL_ERROR"
    assert {s.value for s in cadenza.WorkflowStatus} == {
        "RUNNING",
        "COMPLETED",
        "FAILED",
        "TIMED_OUT",
        "TERMINATED",
        "PAUSED",
    }


def test_the_runtime_has_every_call_of_the_contract_this_release_covers() -> None:
    """The Runtime methods API.md names exist (operations of issue 6 excepted)."""
    for method in (
        "register",
        "register_task",
        "worker",
        "start",
        "get",
        "wait",
        "runs",
        "definition",
        "poll",
        "complete",
        "fail",
        "heartbeat",
        "update",
        "pause",
        "resume",
        "terminate",
        "settle",
    ):
        assert callable(getattr(cadenza.Runtime, method)), method


def test_testing_exports_a_virtual_clock() -> None:
    """`cadenza.testing.VirtualClock` reads epoch seconds and moves only when told."""
    clock = cadenza.testing.VirtualClock(start=1000.0)
    assert clock.now() == 1000.0
