"""The ASGI application: Conductor's REST API under `/api`, `/health`, a token check.

Every endpoint is wrapped by `_answer`, which turns errors into Conductor's
error body (`{"status", "message", "retryable"}`): malformed input 400,
an unknown id 404, what the run's state refuses 409; a closed runtime 503.
A bug in cadenza is a 500 with a one-line message: the traceback goes to the
`cadenza.http` log, never into a response.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from cadenza._errors import (
    CadenzaError,
    DefinitionError,
    InvalidArgument,
    InvalidOperation,
    NotFound,
    RuntimeClosed,
)
from cadenza.http import _engine
from cadenza.http._metadata import Metadata
from cadenza.http._metrics import metrics_endpoint
from cadenza.http._scheduler import Scheduler
from cadenza.http._shapes import BadRequest, error_json
from cadenza.http._tasks import Tasks
from cadenza.http._workflows import Workflows
from cadenza.http.ui import ui_app
from cadenza.runtime import Runtime

log = logging.getLogger("cadenza.http")

Endpoint = Callable[[Request], Awaitable[Response]]


def error(status: int, message: str, *, retryable: bool = False) -> JSONResponse:
    return JSONResponse(error_json(status, message, retryable=retryable), status_code=status)


def _status_of(exc: BaseException) -> tuple[int, bool]:
    """The HTTP status (and retryable flag) of an error raised while answering."""
    if isinstance(exc, (BadRequest, InvalidArgument, DefinitionError)):
        return 400, False
    if isinstance(exc, NotFound):
        return 404, False
    if isinstance(exc, RuntimeClosed):
        return 503, True
    if isinstance(exc, InvalidOperation):
        return 409, False
    if isinstance(exc, TimeoutError):
        return 503, True
    return 500, False


def _answer(endpoint: Endpoint) -> Endpoint:
    async def answered(request: Request) -> Response:
        try:
            return await endpoint(request)
        except Exception as exc:
            status, retryable = _status_of(exc)
            if status == 500:
                log.error("http.error %s %s", request.method, request.url.path, exc_info=exc)
                kind = (
                    "an internal error" if not isinstance(exc, CadenzaError) else type(exc).__name__
                )
                return error(500, f"{kind} while answering {request.url.path}: see the server log")
            return error(status, str(exc) or type(exc).__name__, retryable=retryable)

    return answered


class TokenCheck:
    """Requests must carry `Authorization: Bearer TOKEN` or Conductor's `X-Authorization: TOKEN`."""

    def __init__(self, app: ASGIApp, token: str):
        self.app = app
        self.token = token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _is_ui(scope) or self._allowed(scope):
            await self.app(scope, receive, send)
            return
        response = error(401, "a valid token is required: Authorization: Bearer TOKEN")
        await response(scope, receive, send)

    def _allowed(self, scope: Scope) -> bool:
        given: list[bytes] = []
        for name, value in scope.get("headers", ()):
            if name == b"authorization" and value[:7].lower() == b"bearer ":
                given.append(value[7:].strip())
            elif name == b"x-authorization":
                given.append(value.strip())
        return any(hmac.compare_digest(candidate, self.token) for candidate in given)


def _is_ui(scope: Scope) -> bool:
    """The dashboard checks the token itself (a browser sends it as a session cookie)."""
    path, root = scope.get("path", ""), scope.get("root_path", "")
    path = path[len(root) :] if root and path.startswith(root) else path
    return bool(path == "/ui" or path.startswith("/ui/"))


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = exc.detail if exc.status_code != 404 else f"no endpoint {request.url.path}"
    return error(exc.status_code, message)


def routes(rt: Runtime) -> list[BaseRoute]:
    """The API's routes on `rt`, for mounting in an application of one's own."""
    tasks, workflows, metadata = Tasks(rt), Workflows(rt), Metadata(rt)
    scheduler = Scheduler(rt)

    def route(path: str, endpoint: Endpoint, method: str) -> Route:
        return Route("/api" + path, _answer(endpoint), methods=[method])

    async def health(request: Request) -> Response:
        healthy = _engine.is_open(rt)
        body: dict[str, Any] = {
            "healthResults": [],
            "suppressedHealthResults": [],
            "healthy": healthy,
        }
        return JSONResponse(body, status_code=200 if healthy else 503)

    return [
        Route("/health", health, methods=["GET"]),
        Route("/metrics", _answer(metrics_endpoint(rt)), methods=["GET"]),
        # metadata
        route("/metadata/taskdefs", metadata.register_task_defs, "POST"),
        route("/metadata/taskdefs", metadata.update_task_def, "PUT"),
        route("/metadata/taskdefs", metadata.get_task_defs, "GET"),
        route("/metadata/taskdefs/{tasktype}", metadata.get_task_def, "GET"),
        route("/metadata/workflow", metadata.create_workflow, "POST"),
        route("/metadata/workflow", metadata.update_workflows, "PUT"),
        route("/metadata/workflow/{name}", metadata.get_workflow, "GET"),
        # workflows (the fixed paths before the ones with a variable)
        route("/workflow", workflows.start, "POST"),
        route("/workflow/search", workflows.search, "GET"),
        route("/workflow/{name}", workflows.start_by_name, "POST"),
        route("/workflow/{workflowId}", workflows.get, "GET"),
        route("/workflow/{workflowId}", workflows.terminate, "DELETE"),
        route("/workflow/{workflowId}/pause", workflows.pause, "PUT"),
        route("/workflow/{workflowId}/resume", workflows.resume, "PUT"),
        route("/workflow/{workflowId}/retry", workflows.retry, "POST"),
        route("/workflow/{workflowId}/restart", workflows.restart, "POST"),
        route("/workflow/{workflowId}/rerun", workflows.rerun, "POST"),
        route("/workflow/{workflowId}/resetcallbacks", workflows.reset_callbacks, "POST"),
        route("/workflow/{workflowId}/skiptask/{taskReferenceName}", workflows.skip, "PUT"),
        # tasks
        route("/tasks/poll/batch/{tasktype}", tasks.batch_poll, "GET"),
        route("/tasks/poll/{tasktype}", tasks.poll, "GET"),
        route("/tasks", tasks.update, "POST"),
        route("/tasks/update-v2", tasks.update_v2, "POST"),
        route("/tasks/queue/sizes", tasks.queue_sizes, "GET"),
        route("/tasks/queue/size", tasks.queue_size, "GET"),
        route("/tasks/{taskId}", tasks.get, "GET"),
        route("/tasks/{workflowId}/{taskRefName}/{status}", tasks.update_by_ref, "POST"),
        # the scheduler (Orkes' shapes; pause and resume by GET as Orkes, PUT as Conductor OSS)
        route("/scheduler/schedules", scheduler.save, "POST"),
        route("/scheduler/schedules", scheduler.list_all, "GET"),
        route("/scheduler/nextFewSchedules", scheduler.next_few, "GET"),
        route("/scheduler/schedules/{name}", scheduler.get, "GET"),
        route("/scheduler/schedules/{name}", scheduler.delete, "DELETE"),
        *(
            route(f"/scheduler/schedules/{{name}}/{what}", getattr(scheduler, what), method)
            for what in ("pause", "resume")
            for method in ("GET", "PUT")
        ),
    ]


def create_app(rt: Runtime, *, token: str | None = None) -> ASGIApp:
    """The ASGI app serving Conductor's REST API (under `/api`), `/health` and `/metrics` on `rt`,
    and the dashboard at `/ui/` (`cadenza.http.ui`).

    Mount it inside a Starlette or FastAPI application, or serve it with any
    ASGI server; the runtime must be open (entered) while it serves. With
    `token`, every API request must carry `Authorization: Bearer TOKEN` or
    `X-Authorization: TOKEN` (else 401); the dashboard asks a browser for the
    token once and keeps a session cookie.
    """
    if token is not None and (not isinstance(token, str) or not token):
        raise InvalidArgument("token", "expected a non-empty string or None")
    app = Starlette(
        routes=[*routes(rt), Mount("/ui", app=ui_app(rt, token=token))],
        exception_handlers={HTTPException: _http_error},
    )
    if token is None:
        return app
    return TokenCheck(app, token)
