"""The dashboard's buttons: the operations of API.md, each a POST with a CSRF token.

`POST {base}/runs/{id}/actions/{action}` with the form fields below calls
the `Runtime` operation of the same name, under the same rules as the API
and the REST endpoints: the page asks for a confirmation first (htmx's
`hx-confirm`), the CSRF check runs before anything is read, and an
operation the run's state refuses answers with the engine's own message
(409; 404 for an unknown id, 400 for a malformed field), shown on the page.
A success reloads the page (htmx's `HX-Refresh`), or redirects a browser
without script back to the run.

| action    | fields                                  | calls                          |
|-----------|-----------------------------------------|--------------------------------|
| pause     |                                         | `rt.pause(id)`                 |
| resume    |                                         | `rt.resume(id)`                |
| terminate | `reason`                                | `rt.terminate(id, reason)`     |
| retry     | `resume_subworkflow_tasks` (checkbox)   | `rt.retry(id, ...)`            |
| restart   | `latest` (checkbox)                     | `rt.restart(id, latest=...)`   |
| rerun     | `ref`, `input` (new workflow input, JSON)| `rt.rerun(id, ref, input=...)` |
| skip      | `ref`                                   | `rt.skip(id, ref)`             |
| signal    | `ref`, `output` (a JSON object)         | `rt.signal(id, ref, output)`   |
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from markupsafe import Markup
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from cadenza._errors import (
    CadenzaError,
    DefinitionError,
    InvalidArgument,
    InvalidOperation,
    NotFound,
)
from cadenza.http.ui._security import CSRF_FIELD, Guard, Refused
from cadenza.runtime import Runtime

log = logging.getLogger("cadenza.http.ui")

FIELD_CHARS_MAX = 1_000_000


class BadField(ValueError):
    """A form field an action cannot use; the message names it."""


def flash(message: str, *, ok: bool, status: int) -> HTMLResponse:
    """The message box htmx swaps into the page (the message escaped)."""
    kind = "ok" if ok else "error"
    body = Markup("<div class='flash {0}' role='alert'>{1}</div>").format(kind, message)
    return HTMLResponse(str(body), status_code=status)


def _text(form: FormData, name: str, *, required: bool = False) -> str:
    value = form.get(name)
    text = value.strip() if isinstance(value, str) else ""
    if len(text) > FIELD_CHARS_MAX:
        raise BadField(f"{name}: longer than {FIELD_CHARS_MAX} characters")
    if required and not text:
        raise BadField(f"{name}: required")
    return text


def _object(form: FormData, name: str, *, required: bool = False) -> dict[str, Any] | None:
    text = _text(form, name, required=required)
    if not text:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadField(
            f"{name}: not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from None
    if not isinstance(value, dict):
        raise BadField(f"{name}: expected a JSON object, got {type(value).__name__}")
    return value


def _checked(form: FormData, name: str) -> bool:
    return _text(form, name).lower() in ("on", "true", "1", "yes")


Operation = Callable[[Runtime, str, FormData], Awaitable[str]]


async def _pause(rt: Runtime, run_id: str, form: FormData) -> str:
    await rt.pause(run_id)
    return "paused"


async def _resume(rt: Runtime, run_id: str, form: FormData) -> str:
    await rt.resume(run_id)
    return "resumed"


async def _terminate(rt: Runtime, run_id: str, form: FormData) -> str:
    await rt.terminate(run_id, reason=_text(form, "reason"))
    return "terminated"


async def _retry(rt: Runtime, run_id: str, form: FormData) -> str:
    await rt.retry(run_id, resume_subworkflow_tasks=_checked(form, "resume_subworkflow_tasks"))
    return "retried"


async def _restart(rt: Runtime, run_id: str, form: FormData) -> str:
    await rt.restart(run_id, latest=_checked(form, "latest"))
    return "restarted"


async def _rerun(rt: Runtime, run_id: str, form: FormData) -> str:
    ref = _text(form, "ref", required=True)
    await rt.rerun(run_id, ref, input=_object(form, "input"))
    return f"rerun from {ref}"


async def _skip(rt: Runtime, run_id: str, form: FormData) -> str:
    ref = _text(form, "ref", required=True)
    await rt.skip(run_id, ref)
    return f"skipped {ref}"


async def _signal(rt: Runtime, run_id: str, form: FormData) -> str:
    ref = _text(form, "ref", required=True)
    await rt.signal(run_id, ref, _object(form, "output"))
    return f"signalled {ref}"


OPERATIONS: dict[str, Operation] = {
    "pause": _pause,
    "resume": _resume,
    "terminate": _terminate,
    "retry": _retry,
    "restart": _restart,
    "rerun": _rerun,
    "skip": _skip,
    "signal": _signal,
}


def _refusal(exc: Exception) -> int | None:
    if isinstance(exc, (BadField, InvalidArgument, DefinitionError)):
        return 400
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, InvalidOperation):
        return 409
    return None


class Actions:
    """The POST handler of every action."""

    def __init__(self, rt: Runtime, guard: Guard):
        self.rt = rt
        self.guard = guard

    async def act(self, request: Request) -> Response:
        run_id = request.path_params["run_id"]
        action = request.path_params["action"]
        form = await request.form()
        try:
            field = form.get(CSRF_FIELD)
            self.guard.check_csrf(request, field if isinstance(field, str) else None)
            operation = OPERATIONS.get(action)
            if operation is None:
                raise Refused(404, f"no action {action!r}: one of {', '.join(OPERATIONS)}")
            done = await operation(self.rt, run_id, form)
        except Refused as exc:
            return flash(exc.message, ok=False, status=exc.status)
        except Exception as exc:
            status = _refusal(exc)
            if status is None:
                log.error("ui.action.error %s %s", action, run_id, exc_info=exc)
                kind = type(exc).__name__ if isinstance(exc, CadenzaError) else "an internal error"
                return flash(f"{action} failed: {kind}; see the server log", ok=False, status=500)
            return flash(f"{action} refused: {exc}", ok=False, status=status)
        finally:
            await form.close()
        if request.headers.get("hx-request") == "true":
            response = flash(f"{run_id}: {done}", ok=True, status=200)
            response.headers["HX-Refresh"] = "true"
            return response
        base = request.scope.get("root_path", "").rstrip("/")
        return RedirectResponse(f"{base}/runs/{quote(run_id, safe='')}", status_code=303)
