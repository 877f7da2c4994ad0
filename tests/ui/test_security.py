"""The dashboard's guards over ASGI: payloads escaped, CSRF on every action, the token asked once."""

from __future__ import annotations

import httpx
import pytest

import cadenza
from cadenza.http import create_app
from tests.ui.conftest import csrf_of

XSS = "<script>window.__xss = 1</script><img src=x onerror=alert(1)>"


async def test_a_workflow_input_holding_script_renders_as_text(
    ui: httpx.AsyncClient, flows: cadenza.Runtime
) -> None:
    """Input, correlation id and reason: every payload value is escaped on every page."""
    run_id = await flows.start("two_steps", {"n": XSS}, correlation_id=XSS)
    await flows.terminate(run_id, reason=XSS)
    await flows.settle()
    for path in (f"/ui/runs/{run_id}", f"/ui/runs/{run_id}/live", "/ui/", "/ui/runs/table"):
        page = (await ui.get(path)).text
        assert "<script>window.__xss" not in page, path
        assert "<img src=x" not in page, path
        assert "&lt;script&gt;window.__xss = 1&lt;/script&gt;" in page, path


async def test_an_unknown_run_id_with_markup_is_escaped_on_the_404_page(
    ui: httpx.AsyncClient,
) -> None:
    answer = await ui.get("/ui/runs/%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E")
    assert answer.status_code == 404
    assert "<img src=x" not in answer.text
    assert "&lt;img src=x onerror=alert(1)&gt;" in answer.text


async def test_an_action_without_the_csrf_token_is_refused_and_changes_nothing(
    ui: httpx.AsyncClient, flows: cadenza.Runtime
) -> None:
    run_id = await flows.start("two_steps", {"n": 1})
    await flows.settle()
    page = await ui.get(f"/ui/runs/{run_id}")  # sets the CSRF cookie
    token = csrf_of(page.text)
    url = f"/ui/runs/{run_id}/actions/terminate"
    missing = await ui.post(url, data={"reason": "x"})
    wrong = await ui.post(url, data={"reason": "x", "csrf": "0" * 64})
    async with httpx.AsyncClient(transport=ui._transport, base_url="http://cadenza") as other:
        await other.get("/ui/")  # another browser: a CSRF cookie of its own
        other_cookie = await other.post(url, data={"reason": "x", "csrf": token})
    for answer in (missing, wrong, other_cookie):
        assert answer.status_code == 403
        assert "CSRF" in answer.text
    assert (await flows.get(run_id)).status == "RUNNING"
    ok = await ui.post(
        url, data={"reason": "by hand"}, headers={"X-CSRF-Token": token, "HX-Request": "true"}
    )
    assert ok.status_code == 200, ok.text
    assert ok.headers["HX-Refresh"] == "true"
    done = await flows.get(run_id)
    assert done.status == "TERMINATED"
    assert done.reason == "by hand"


async def test_the_csrf_cookie_is_httponly_and_samesite_strict(ui: httpx.AsyncClient) -> None:
    answer = await ui.get("/ui/")
    cookie = answer.headers["set-cookie"].lower()
    assert cookie.startswith("cadenza_csrf=")
    assert "httponly" in cookie
    assert "samesite=strict" in cookie


@pytest.fixture
async def guarded(flows: cadenza.Runtime) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=create_app(flows, token="s3cret"))
    return httpx.AsyncClient(transport=transport, base_url="http://cadenza")


async def test_with_a_token_the_ui_asks_for_it_once_then_keeps_a_session(
    guarded: httpx.AsyncClient, flows: cadenza.Runtime
) -> None:
    async with guarded as client:
        first = await client.get("/ui/runs/table?status=RUNNING")
        assert first.status_code == 303
        assert first.headers["location"] == "/ui/login?next=/ui/runs/table%3Fstatus%3DRUNNING"
        login = await client.get("/ui/login?next=/ui/groups")
        token = csrf_of(login.text)
        wrong = await client.post(
            "/ui/login", data={"token": "nope", "csrf": token, "next": "/ui/groups"}
        )
        assert wrong.status_code == 401
        assert "wrong token" in wrong.text
        assert "cadenza_session" not in client.cookies
        right = await client.post(
            "/ui/login", data={"token": "s3cret", "csrf": token, "next": "/ui/groups"}
        )
        assert right.status_code == 303
        assert right.headers["location"] == "/ui/groups"
        cookie = right.headers["set-cookie"].lower()
        assert "httponly" in cookie
        assert "samesite=strict" in cookie
        assert "s3cret" not in cookie  # an HMAC of the token, never the token
        assert (await client.get("/ui/groups")).status_code == 200
        # the session opens the dashboard, not the API
        assert (await client.get("/api/workflow/search")).status_code == 401


async def test_with_a_token_an_action_without_a_session_is_401(
    guarded: httpx.AsyncClient, flows: cadenza.Runtime
) -> None:
    run_id = await flows.start("two_steps", {"n": 1})
    async with guarded as client:
        answer = await client.post(f"/ui/runs/{run_id}/actions/pause", data={})
    assert answer.status_code == 401
    assert (await flows.get(run_id)).status == "RUNNING"


async def test_login_never_redirects_outside_the_dashboard(guarded: httpx.AsyncClient) -> None:
    async with guarded as client:
        page = await client.get("/ui/login")
        token = csrf_of(page.text)
        for target in ("https://evil.example/", "//evil.example/ui/", "/api/workflow"):
            answer = await client.post(
                "/ui/login", data={"token": "s3cret", "csrf": token, "next": target}
            )
            assert answer.status_code == 303
            assert answer.headers["location"] == "/ui/"


async def test_the_api_bearer_token_also_opens_the_dashboard(guarded: httpx.AsyncClient) -> None:
    async with guarded as client:
        answer = await client.get("/ui/", headers={"Authorization": "Bearer s3cret"})
        assert answer.status_code == 200
        assert "Runs" in answer.text


async def test_every_dashboard_response_carries_the_security_headers(ui: httpx.AsyncClient) -> None:
    """No inline script runs, no other origin frames the buttons, nothing is sniffed."""
    for path in ("/ui/", "/ui/runs/nope", "/ui/static/ui.js", "/ui/login"):
        headers = (await ui.get(path)).headers
        policy = headers["content-security-policy"]
        assert "script-src 'self' 'unsafe-eval';" in policy, path
        assert "frame-ancestors 'none'" in policy, path
        assert headers["x-frame-options"] == "DENY", path
        assert headers["x-content-type-options"] == "nosniff", path
