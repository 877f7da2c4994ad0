"""The operator's controls: `cadenza pause|resume|terminate|retry|restart|rerun|skip|signal`.

Two ways in, the same meaning:

- `--server URL`: through Conductor's REST API that `cadenza serve` answers
  (httpx), so the live owner applies the control in the run's own mailbox.
  Conductor's error body is turned into one line: 400 a bad argument, 404
  an unknown id, 409 what the run's state refuses (exit code 2).
- `--db FILE`: a `Runtime` opened on a journal no live process owns (a live
  owner refuses it with `JournalBusy`, exit code 2; nothing is written),
  which recovers the journal, applies the control durably and closes.

Each prints one line: the control, the run id and the run's status after it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from cadenza._cli._inspect import existing
from cadenza.runtime import Runtime

OPERATIONS = ("pause", "resume", "terminate", "retry", "restart", "rerun", "skip", "signal")
SERVER_TIMEOUT_S = 30.0


class Refused(Exception):
    """The server refused the control (or could not be reached); `exit_code` says how bad."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True, slots=True)
class Control:
    """One control as the command line gave it."""

    op: str
    run_id: str
    reason: str = ""
    latest: bool = False
    resume_subworkflow_tasks: bool = False
    ref: str | None = None  # rerun's `--from`, skip's and signal's REF
    input: dict[str, Any] | None = None  # rerun's new workflow input
    output: dict[str, Any] = field(default_factory=dict)  # signal's output


async def on_db(db: str, control: Control) -> str:
    """Apply `control` on the journal `db` (owning it meanwhile); the run's status after it."""
    async with Runtime(existing(db)) as rt:
        await _apply(rt, control)
        run = await rt.get(control.run_id)
    return run.status.value


async def _apply(rt: Runtime, c: Control) -> None:
    if c.op == "pause":
        await rt.pause(c.run_id)
    elif c.op == "resume":
        await rt.resume(c.run_id)
    elif c.op == "terminate":
        await rt.terminate(c.run_id, c.reason)
    elif c.op == "retry":
        await rt.retry(c.run_id, resume_subworkflow_tasks=c.resume_subworkflow_tasks)
    elif c.op == "restart":
        await rt.restart(c.run_id, latest=c.latest)
    elif c.op == "rerun":
        assert c.ref is not None
        await rt.rerun(c.run_id, c.ref, input=c.input)
    elif c.op == "skip":
        assert c.ref is not None
        await rt.skip(c.run_id, c.ref)
    elif c.op == "signal":
        assert c.ref is not None
        await rt.signal(c.run_id, c.ref, c.output)
    else:
        raise ValueError(f"unknown control {c.op!r}")


def api_base(server: str) -> str:
    """The API's base URL: `http://host:8080` and `http://host:8080/api` both name it."""
    base = server.rstrip("/")
    return base if base.endswith("/api") else base + "/api"


def _flag(value: bool) -> str:
    return "true" if value else "false"


async def on_server(client: httpx.AsyncClient, control: Control) -> str:
    """Apply `control` through the REST API `client` is based on; the run's status after it."""
    c = control
    run = f"/workflow/{quote(c.run_id, safe='')}"
    ref = quote(c.ref or "", safe="")
    if c.op in ("pause", "resume"):
        await _call(client, "PUT", f"{run}/{c.op}")
    elif c.op == "terminate":
        await _call(client, "DELETE", run, params={"reason": c.reason})
    elif c.op == "retry":
        params = {"resumeSubworkflowTasks": _flag(c.resume_subworkflow_tasks)}
        await _call(client, "POST", f"{run}/retry", params=params)
    elif c.op == "restart":
        params = {"useLatestDefinitions": _flag(c.latest)}
        await _call(client, "POST", f"{run}/restart", params=params)
    elif c.op == "rerun":
        tasks = (await _call(client, "GET", run, params={"includeTasks": "true"})).json()["tasks"]
        ids = [t["taskId"] for t in tasks if t.get("referenceTaskName") == c.ref]
        if not ids:
            raise Refused(f"rerun: run {c.run_id!r} has no task {c.ref!r}", 2)
        body: dict[str, Any] = {"reRunFromWorkflowId": c.run_id, "reRunFromTaskId": ids[0]}
        if c.input is not None:
            body["workflowInput"] = c.input
        await _call(client, "POST", f"{run}/rerun", json=body)
    elif c.op == "skip":
        await _call(client, "PUT", f"{run}/skiptask/{ref}")
    elif c.op == "signal":
        path = f"/tasks/{quote(c.run_id, safe='')}/{ref}/COMPLETED"
        await _call(client, "POST", path, json=c.output)
    else:
        raise ValueError(f"unknown control {c.op!r}")
    after = await _call(client, "GET", run, params={"includeTasks": "false"})
    return str(after.json()["status"])


async def _call(client: httpx.AsyncClient, method: str, path: str, **kwargs: Any) -> httpx.Response:
    try:
        answer = await client.request(method, path, **kwargs)
    except httpx.HTTPError as exc:
        raise Refused(f"cannot reach {client.base_url}: {type(exc).__name__}: {exc}", 1) from None
    if answer.status_code < 400:
        return answer
    try:
        message = str(answer.json()["message"])
    except (ValueError, KeyError, TypeError):
        message = answer.text.strip().splitlines()[0] if answer.text.strip() else ""
    if answer.status_code == 401:
        message = f"{message} (give --token TOKEN or set CADENZA_TOKEN)"
    code = 2 if answer.status_code < 500 else 1
    raise Refused(f"server answered {answer.status_code}: {message}", code)


def client(server: str, token: str | None) -> httpx.AsyncClient:
    """An httpx client on the API of `server`, sending `token` if given."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.AsyncClient(base_url=api_base(server), headers=headers, timeout=SERVER_TIMEOUT_S)
