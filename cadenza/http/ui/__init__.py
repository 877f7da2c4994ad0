"""The dashboard at `/ui/`: server-rendered pages (Jinja2) made live with htmx.

`ui_app(rt, token=None)` is the ASGI app `create_app` mounts at `/ui`:

- `/` runs, with filters, paging and counts per status (`_pages`);
- `/runs/{id}` one run: its graph, tasks, timeline and payloads, and the
  operator's buttons (`_actions`, POSTs guarded by a CSRF token);
- `/groups` worker groups and timers, `/schedules` schedules, `/definitions` every version as JSON
  and as a graph (`_admin`);
- `/login` asks for the token once when the app has one (`_security`);
- `/static/` the page's CSS and script, and the vendored htmx and
  cytoscape.js (+ cytoscape-dagre) with their licences: nothing is fetched
  from the internet at run time, and there is no Node build step.

Every page reads through the runtime (`_reads`); the dashboard keeps no
state of its own beyond the CSRF secret.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cadenza._errors import InvalidArgument, NotFound, RuntimeClosed
from cadenza.http.ui._actions import Actions, flash
from cadenza.http.ui._admin import AdminPages
from cadenza.http.ui._pages import BadFilter, RunPages
from cadenza.http.ui._render import render
from cadenza.http.ui._security import CSRF_FIELD, SESSION_COOKIE, Guard, Refused
from cadenza.runtime import Runtime

__all__ = ["STATIC_DIR", "ui_app"]

log = logging.getLogger("cadenza.http.ui")

STATIC_DIR = Path(__file__).parent / "static"
Endpoint = Callable[[Request], Awaitable[Response]]


def _error_page(request: Request, guard: Guard, status: int, message: str) -> Response:
    return render(
        request, guard, "error.html", {"status": status, "message": message}, status=status
    )


def _page(guard: Guard, endpoint: Endpoint) -> Endpoint:
    """A GET page behind the login (when there is a token), its errors as an error page."""

    async def page(request: Request) -> Response:
        if not guard.logged_in(request):
            base = request.scope.get("root_path", "").rstrip("/")
            target = quote(
                request.url.path + (f"?{request.url.query}" if request.url.query else "")
            )
            return RedirectResponse(f"{base}/login?next={target}", status_code=303)
        try:
            return await endpoint(request)
        except NotFound as exc:
            return _error_page(request, guard, 404, str(exc))
        except (BadFilter, InvalidArgument) as exc:
            return _error_page(request, guard, 400, str(exc))
        except RuntimeClosed as exc:
            return _error_page(request, guard, 503, str(exc))
        except Exception as exc:
            log.error("ui.error %s", request.url.path, exc_info=exc)
            return _error_page(request, guard, 500, "an internal error: see the server log")

    return page


def _post(guard: Guard, endpoint: Endpoint) -> Endpoint:
    async def post(request: Request) -> Response:
        if not guard.logged_in(request):
            return flash(
                "log in first: this dashboard needs the server's token", ok=False, status=401
            )
        return await endpoint(request)

    return post


class Login:
    """Asks for the token once; a right one opens a session cookie (HttpOnly, SameSite=Strict)."""

    def __init__(self, guard: Guard):
        self.guard = guard

    @staticmethod
    def _next(raw: str, base: str) -> str:
        # only a path inside the dashboard: never an open redirect
        if raw.startswith(base + "/") and not raw.startswith("//") and "\\" not in raw:
            return raw
        return base + "/"

    async def form(self, request: Request) -> Response:
        base = request.scope.get("root_path", "").rstrip("/")
        next_url = self._next(request.query_params.get("next", ""), base)
        context = {"next_url": next_url, "message": None, "needs_login": self.guard.needs_login}
        return render(request, self.guard, "login.html", context)

    async def submit(self, request: Request) -> Response:
        base = request.scope.get("root_path", "").rstrip("/")
        async with request.form() as form:
            field = form.get(CSRF_FIELD)
            token = form.get("token")
            next_raw = form.get("next")
        next_url = self._next(next_raw if isinstance(next_raw, str) else "", base)
        try:
            self.guard.check_csrf(request, field if isinstance(field, str) else None)
        except Refused as exc:
            context = {"next_url": next_url, "message": exc.message, "needs_login": True}
            return render(request, self.guard, "login.html", context, status=exc.status)
        if not self.guard.needs_login:
            return RedirectResponse(next_url, status_code=303)
        if not isinstance(token, str) or not self.guard.token_matches(token.strip()):
            context = {"next_url": next_url, "message": "wrong token", "needs_login": True}
            return render(request, self.guard, "login.html", context, status=401)
        response = RedirectResponse(next_url, status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            self.guard.session_value(),
            httponly=True,
            samesite="strict",
            path=base or "/",
        )
        return response


def routes(rt: Runtime, guard: Guard) -> list[BaseRoute]:
    """The dashboard's routes (relative to where it is mounted)."""
    runs, admin, actions, login = (
        RunPages(rt, guard),
        AdminPages(rt, guard),
        Actions(rt, guard),
        Login(guard),
    )

    def get(path: str, endpoint: Endpoint) -> Route:
        return Route(path, _page(guard, endpoint), methods=["GET"])

    return [
        get("/", runs.runs),
        get("/runs/table", runs.runs_table),
        get("/runs/{run_id}", runs.run),
        get("/runs/{run_id}/live", runs.run_live),
        get("/runs/{run_id}/graph.json", runs.run_graph),
        Route("/runs/{run_id}/actions/{action}", _post(guard, actions.act), methods=["POST"]),
        get("/groups", admin.groups),
        get("/groups/live", admin.groups_live),
        get("/schedules", admin.schedules),
        get("/definitions", admin.definitions),
        get("/definitions/{name}/{version}", admin.definition),
        get("/definitions/{name}/{version}/graph.json", admin.definition_graph),
        Route("/login", login.form, methods=["GET"]),
        Route("/login", login.submit, methods=["POST"]),
        Mount("/static", app=StaticFiles(directory=STATIC_DIR), name="static"),
    ]


# Defence in depth beside escaping: no inline script runs (an injected <script> or
# onerror= would not), no other origin frames the buttons, nothing is sniffed.
# htmx evaluates its trigger filters (`[!document.hidden]`) with Function(): 'unsafe-eval'.
SECURITY_HEADERS = (
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
        b"img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
        b"form-action 'self'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
)


class SecurityHeaders:
    """Adds `SECURITY_HEADERS` to every response of the dashboard."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), *SECURITY_HEADERS]}
            await send(message)

        await self.app(scope, receive, with_headers)


def ui_app(rt: Runtime, *, token: str | None = None) -> ASGIApp:
    """The dashboard on `rt`, to mount at `/ui` (as `create_app` does).

    With `token`, pages ask for it once (`/login`); the API's bearer header
    is accepted too.
    """
    return SecurityHeaders(Starlette(routes=routes(rt, Guard(token))))
