"""`cadenza serve` driven only by Conductor's own Python SDK (`conductor-python`).

The server runs as a subprocess on a free port; the SDK's `TaskHandler`
runs each worker in its own (spawned) process, polling by batch and
reporting through `update-v2`; the SDK's metadata and workflow clients
register definitions (built with its `ConductorWorkflow` builder), start
runs, read them, search them, and pause, resume, terminate, restart and
retry them. Every wait polls the API against a deadline.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conductor.client.automator.task_handler import TaskHandler
from conductor.client.configuration.configuration import Configuration
from conductor.client.http.models.start_workflow_request import StartWorkflowRequest
from conductor.client.http.models.task_def import TaskDef
from conductor.client.http.models.workflow import Workflow
from conductor.client.orkes_clients import OrkesClients
from conductor.client.worker.worker import Worker
from conductor.client.workflow.conductor_workflow import ConductorWorkflow
from conductor.client.workflow.executor.workflow_executor import WorkflowExecutor
from conductor.client.workflow.task.fork_task import ForkTask
from conductor.client.workflow.task.simple_task import SimpleTask
from conductor.client.workflow.task.switch_task import SwitchTask

from tests.http import _sdk_workers

ROOT = Path(__file__).resolve().parents[2]
DEADLINE_S = 60.0
pytestmark = [
    pytest.mark.timeout(240),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),  # the SDK's own, e.g. owner_app
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def until(what: str, check: Callable[[], Any], deadline_s: float = DEADLINE_S) -> Any:
    """Poll `check` until it returns something truthy; fail naming `what` at the deadline."""
    end = time.monotonic() + deadline_s
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > end:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`cadenza serve` on a free port; its API URL once /health answers 200."""
    where = tmp_path_factory.mktemp("serve")
    port = _free_port()
    log = (where / "serve.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "cadenza.cli", "serve", "--db", str(where / "journal.db"),
         "--port", str(port), "--setup", "tests.http._sdk_workers:setup"],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        if process.poll() is not None:
            output = (where / "serve.log").read_text()
            pytest.fail(f"cadenza serve exited {process.returncode}: {output}")
        try:
            return httpx.get(f"{base}/health", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    try:
        until("cadenza serve to answer /health", healthy)
        yield f"{base}/api"
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
    output = (where / "serve.log").read_text()
    assert process.returncode == 0, output  # SIGTERM: the runtime shut down cleanly
    assert "Traceback" not in output


@pytest.fixture(scope="module")
def config(server: str) -> Configuration:
    return Configuration(server_api_url=server, debug=False)


@pytest.fixture(scope="module")
def clients(config: Configuration) -> OrkesClients:
    return OrkesClients(configuration=config)


@pytest.fixture(scope="module")
def workers(config: Configuration, clients: OrkesClients) -> Iterator[TaskHandler]:
    """The SDK's TaskHandler: one spawned process per worker, polling cadenza."""
    metadata = clients.get_metadata_client()
    for name, retries in (("left", 0), ("right", 0), ("flaky", 2), ("flaky_once", 0)):
        metadata.register_task_def(
            TaskDef(name=name, retry_count=retries, retry_delay_seconds=0, timeout_seconds=120,
                    response_timeout_seconds=60, owner_email="test@example.com")
        )  # fmt: skip
    handler = TaskHandler(
        workers=[
            Worker("left", _sdk_workers.left, poll_interval=0.05),
            Worker("right", _sdk_workers.right, poll_interval=0.05),
            Worker("flaky", _sdk_workers.flaky, poll_interval=0.05),
            Worker("flaky_once", _sdk_workers.flaky, poll_interval=0.05),
        ],
        configuration=config,
        scan_for_annotated_workers=False,
        monitor_processes=False,
    )
    handler.start_processes()
    try:
        yield handler
    finally:
        handler.stop_processes()


def wait_for_status(clients: OrkesClients, run_id: str, *statuses: str) -> Workflow:
    client = clients.get_workflow_client()

    def reached() -> Workflow | None:
        run = client.get_workflow(run_id, include_tasks=True)
        return run if run.status in statuses else None

    found: Workflow = until(f"run {run_id} to be {'/'.join(statuses)}", reached)
    return found


def sdk_flow(config: Configuration) -> ConductorWorkflow:
    """A SWITCH on the input: a FORK/JOIN of left and right, or left alone; then a retrying task."""
    workflow = ConductorWorkflow(executor=WorkflowExecutor(config), name="sdk_flow", version=1)
    fork = ForkTask(
        task_ref_name="fork",
        forked_tasks=[[SimpleTask("left", "left")], [SimpleTask("right", "right")]],
        join_on=["left", "right"],
    )
    route = (
        SwitchTask(task_ref_name="route", case_expression="${workflow.input.kind}")
        .switch_case("fork", [fork])
        .default_case([SimpleTask("left", "solo")])
    )
    workflow >> route >> SimpleTask("flaky", "flaky")
    workflow.timeout_seconds(600)
    workflow.output_parameters(
        {"left": "${left.output.side}", "right": "${right.output.side}",
         "solo": "${solo.output.ref}", "attempt": "${flaky.output.attempt}"}
    )  # fmt: skip
    return workflow


def test_sdk_workers_run_a_switch_a_fork_join_and_a_retrying_task(
    config: Configuration, clients: OrkesClients, workers: TaskHandler
) -> None:
    clients.get_metadata_client().register_workflow_def(
        sdk_flow(config).to_workflow_def(), overwrite=True
    )
    registered = clients.get_metadata_client().get_workflow_def("sdk_flow", version=1)
    assert registered.name == "sdk_flow"
    client = clients.get_workflow_client()
    forked = client.start_workflow(
        StartWorkflowRequest(name="sdk_flow", version=1, input={"kind": "fork"},
                             correlation_id="sdk-1")
    )  # fmt: skip
    alone = client.start_workflow_by_name("sdk_flow", {"kind": "other"}, version=1)
    run = wait_for_status(clients, forked, "COMPLETED", "FAILED")
    assert run.status == "COMPLETED", run.reason_for_incompletion
    assert run.output == {"left": "left", "right": "right", "solo": None, "attempt": 1}
    assert run.correlation_id == "sdk-1"
    flaky = [t for t in run.tasks if t.reference_task_name == "flaky"]
    assert [(t.status, t.retry_count) for t in flaky] == [("FAILED", 0), ("COMPLETED", 1)]
    refs = {t.reference_task_name for t in run.tasks}
    assert {"route", "fork", "left", "right", "fork_join", "flaky"} <= refs
    other = wait_for_status(clients, alone, "COMPLETED", "FAILED")
    assert other.output["solo"] == "solo"
    assert other.output["left"] is None
    found = client.search(query="workflowType IN (sdk_flow) AND status IN (COMPLETED)")
    assert {forked, alone} <= {summary.workflow_id for summary in found.results}


def test_sdk_clients_pause_resume_terminate_restart_and_retry(
    config: Configuration, clients: OrkesClients, workers: TaskHandler
) -> None:
    metadata = clients.get_metadata_client()
    held = ConductorWorkflow(executor=WorkflowExecutor(config), name="held", version=1)
    held >> SimpleTask("nobody_polls", "held")
    metadata.register_workflow_def(held.to_workflow_def(), overwrite=True)
    once = ConductorWorkflow(executor=WorkflowExecutor(config), name="once", version=1)
    once >> SimpleTask("flaky_once", "once")
    once.output_parameters({"attempt": "${once.output.attempt}"})
    metadata.register_workflow_def(once.to_workflow_def(), overwrite=True)
    client = clients.get_workflow_client()

    run_id = client.start_workflow(StartWorkflowRequest(name="held", input={}))
    client.pause_workflow(run_id)
    assert client.get_workflow(run_id).status == "PAUSED"
    client.resume_workflow(run_id)
    assert client.get_workflow(run_id).status == "RUNNING"
    client.terminate_workflow(run_id, reason="done with it")
    ended = client.get_workflow(run_id)
    assert (ended.status, ended.reason_for_incompletion) == ("TERMINATED", "done with it")
    client.restart_workflow(run_id)
    assert client.get_workflow(run_id).status == "RUNNING"
    client.terminate_workflow(run_id)

    failing = client.start_workflow(StartWorkflowRequest(name="once", input={}))
    failed = wait_for_status(clients, failing, "FAILED", "COMPLETED")
    assert failed.status == "FAILED"
    assert "first attempt always fails" in (failed.tasks[0].reason_for_incompletion or "")
    client.retry_workflow(failing)
    retried = wait_for_status(clients, failing, "COMPLETED", "FAILED")
    assert retried.status == "COMPLETED"
    assert retried.output == {"attempt": 1}


def test_sdk_errors_are_conductor_errors(clients: OrkesClients) -> None:
    from conductor.client.http.rest import ApiException

    client = clients.get_workflow_client()
    with pytest.raises(ApiException) as raised:
        client.get_workflow("no-such-run")
    assert raised.value.status == 404
    with pytest.raises(ApiException) as raised:
        client.start_workflow(StartWorkflowRequest(name="no_such_workflow", input={}))
    assert raised.value.status == 404


def test_the_setup_function_ran_before_serving(clients: OrkesClients) -> None:
    assert clients.get_metadata_client().get_workflow_def("from_setup").name == "from_setup"
