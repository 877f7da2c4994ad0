"""Templates: one Jinja2 environment with autoescaping on, and the filters pages use.

Every value from a payload goes through autoescaping (a workflow input
holding `<script>` renders as text); nothing here marks a payload value
safe. Times go out as `<time data-ms=...>` in UTC and the page's script
rewrites them in the browser's zone.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from cadenza.http.ui._security import CSRF_COOKIE, Guard

JSON_FOLD_CHARS_MAX = 200_000  # a larger value is cut, with a note, so a page stays light


def _pretty(value: Any) -> str:
    text = json.dumps(value, indent=2, sort_keys=True, default=str, ensure_ascii=False)
    if len(text) > JSON_FOLD_CHARS_MAX:
        text = (
            text[:JSON_FOLD_CHARS_MAX]
            + f"\n... ({len(text) - JSON_FOLD_CHARS_MAX} more characters)"
        )
    return text


def _iso(epoch_s: float | None) -> str:
    if epoch_s is None:
        return ""
    return dt.datetime.fromtimestamp(epoch_s, tz=dt.UTC).isoformat(timespec="milliseconds")


def _time(epoch_s: float | None) -> Markup:
    """`<time>` in UTC, rewritten by the page's script in the browser's zone."""
    if epoch_s is None:
        return Markup("<span class='muted'>-</span>")
    iso = _iso(epoch_s)
    text = iso.replace("T", " ").replace("+00:00", " UTC")
    return Markup("<time class='ts' datetime='{0}' data-ms='{1}'>{2}</time>").format(
        iso, int(epoch_s * 1000), text
    )


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 1:
        return f"{value * 1000:.0f} ms"
    if value < 120:
        return f"{value:.1f} s"
    if value < 7200:
        return f"{value / 60:.1f} min"
    return f"{value / 3600:.1f} h"


def _status(value: Any) -> Markup:
    text = str(value)
    return Markup("<span class='status s-{0}'>{0}</span>").format(escape(text))


environment = Environment(
    loader=PackageLoader("cadenza.http.ui", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
environment.filters.update(pretty=_pretty, time=_time, seconds=_seconds, status=_status, iso=_iso)


def render(
    request: Request,
    guard: Guard,
    template: str,
    context: dict[str, Any],
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """The template rendered with `base` (the dashboard's URL prefix) and a CSRF token;
    sets the CSRF cookie when the browser has none yet."""
    seed, fresh = guard.csrf_seed(request)
    base = request.scope.get("root_path", "").rstrip("/")
    body = environment.get_template(template).render(
        request=request, base=base, csrf=guard.csrf_token(seed), **context
    )
    response = HTMLResponse(body, status_code=status, headers=headers)
    if fresh:
        response.set_cookie(CSRF_COOKIE, seed, httponly=True, samesite="strict", path=base or "/")
    return response
