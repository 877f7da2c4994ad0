"""The dashboard in a real browser: Playwright driving Debian's chromium against a live server.

Each test starts runs through the runtime (another client of the same
server), then watches the page change without reloading it, or clicks
the page's buttons and sees the engine act. Waiting is Playwright's
`expect`, which re-checks a condition until it holds (no sleeps).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import Browser, Dialog, Page, expect, sync_playwright

from tests.ui._served import BROWSER_ARGS, CHROMIUM, Served, serve

WAIT_MS = 15_000


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with serve(str(tmp_path_factory.mktemp("ui") / "journal.db")) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)")
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A page in Tokyo's zone; a script error or a CSP refusal on it fails the test."""
    context = browser.new_context(timezone_id="Asia/Tokyo", locale="en-US")
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    broken: list[str] = []
    page.on("pageerror", lambda error: broken.append(f"script error: {error}"))
    page.on(
        "console",
        lambda message: (
            broken.append(message.text)
            if message.type == "error" and "Content Security Policy" in message.text
            else None
        ),
    )
    yield page
    context.close()
    assert not broken, broken


def accept(page: Page) -> list[str]:
    """Accept every confirmation the page asks, keeping what it asked."""
    asked: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        asked.append(dialog.message)
        dialog.accept()

    page.on("dialog", on_dialog)
    return asked


def node_status(page: Page, ref: str) -> str:
    status: str = page.evaluate(
        "ref => window.cadenzaGraph ? window.cadenzaGraph.getElementById(ref).data('status') : ''",
        ref,
    )
    return status


def test_the_runs_list_updates_without_a_reload(served: Served, page: Page) -> None:
    """A run started through the REST API appears, then completes, on an open page."""
    page.goto(served.url + "?correlation_id=live-list")
    page.evaluate("window.__same_page = true")
    api = served.url.removesuffix("/ui/") + "/api"
    started = httpx.post(
        f"{api}/workflow/two_steps",
        params={"correlationId": "live-list"},
        json={"n": 1},
        timeout=10,
    )
    assert started.status_code == 200, started.text
    run_id = started.text
    row = page.locator(f"tr[data-run-id='{run_id}']")
    expect(row.locator(".run-status")).to_have_text("RUNNING")
    expect(page.locator("b[data-count='RUNNING']")).to_have_text("1")
    served.finish("ui_a", {"n": 2}, run_id=run_id)
    served.finish("ui_b", {"n": 3}, run_id=run_id)
    expect(row.locator(".run-status")).to_have_text("COMPLETED")
    expect(page.locator("b[data-count='COMPLETED']")).to_have_text("1")
    assert page.evaluate("window.__same_page") is True  # polled, never reloaded


def test_the_graph_colours_each_task_as_it_moves(served: Served, page: Page) -> None:
    run_id = served.call(served.rt.start, "two_steps", {"n": 1})
    page.goto(served.url + f"runs/{run_id}")
    expect(page.locator("#graph[data-ready='true']")).to_be_visible()
    assert node_status(page, "a") == "SCHEDULED"
    assert node_status(page, "b") == "NOT_STARTED"
    served.finish("ui_a", {"n": 2}, run_id=run_id)
    page.wait_for_function(
        "() => window.cadenzaGraph.getElementById('a').data('status') === 'COMPLETED'"
    )
    assert node_status(page, "b") == "SCHEDULED"
    expect(page.locator("tr[data-ref='a'] .task-status")).to_have_text("COMPLETED")
    served.finish("ui_b", {"n": 3}, run_id=run_id)
    page.wait_for_function(
        "() => window.cadenzaGraph.getElementById('__final').data('status') === 'COMPLETED'"
    )
    expect(page.locator("#live .runline .status")).to_have_text("COMPLETED")


def test_a_failed_run_is_retried_from_the_page_and_completes(served: Served, page: Page) -> None:
    run_id = served.call(served.rt.start, "two_steps", {"n": 1})
    served.finish("ui_a", {"n": 2}, run_id=run_id)
    served.fail("ui_b", "the gateway said no", run_id=run_id)
    page.goto(served.url + f"runs/{run_id}")
    expect(page.locator("#live .runline .status")).to_have_text("FAILED")
    expect(page.locator("tr[data-ref='b'] .reason")).to_have_text("the gateway said no")
    asked = accept(page)
    page.click("button[data-action='retry']")
    expect(page.locator("#live .runline .status")).to_have_text("RUNNING")  # reloaded by the action
    assert asked == [f"Retry run {run_id}?"]
    served.finish("ui_b", {"n": 3}, run_id=run_id)
    expect(page.locator("#live .runline .status")).to_have_text("COMPLETED")


def test_terminate_with_a_reason(served: Served, page: Page) -> None:
    run_id = served.call(served.rt.start, "two_steps", {"n": 1})
    page.goto(served.url + f"runs/{run_id}")
    accept(page)
    page.fill("input[name='reason']", "customer cancelled")
    page.click("button[data-action='terminate']")
    expect(page.locator("#live .runline .status")).to_have_text("TERMINATED")
    expect(page.locator("#run-reason")).to_have_text("customer cancelled")
    assert served.call(served.rt.get, run_id).reason == "customer cancelled"


def test_rerun_from_a_task_with_new_input(served: Served, page: Page) -> None:
    run_id = served.call(served.rt.start, "two_steps", {"n": 1})
    served.finish("ui_a", {"n": 2}, run_id=run_id)
    served.finish("ui_b", {"n": 3}, run_id=run_id)
    page.goto(served.url + f"runs/{run_id}")
    expect(page.locator("#live .runline .status")).to_have_text("COMPLETED")
    accept(page)
    page.select_option("select[name='ref']", "b")
    page.fill("textarea[name='input']", '{"n": 40}')
    page.click("button[data-action='rerun']")
    expect(page.locator("#live .runline .status")).to_have_text("RUNNING")
    expect(page.locator("tr[data-ref='b'] .task-status").last).to_have_text("SCHEDULED")
    assert served.call(served.rt.get, run_id).input == {"n": 40}


def test_a_refused_action_shows_the_engines_message(served: Served, page: Page) -> None:
    run_id = served.call(served.rt.start, "two_steps", {"n": 1})
    page.goto(served.url + f"runs/{run_id}")
    accept(page)
    page.click("button[data-action='resume']")  # a running run cannot be resumed
    expect(page.locator("#flash .flash.error")).to_contain_text("resume refused")
    assert served.call(served.rt.get, run_id).status == "RUNNING"


def test_filter_by_status_and_correlation_id(served: Served, page: Page) -> None:
    kept = served.call(served.rt.start, "two_steps", {"n": 1}, correlation_id="filter-me")
    other = served.call(served.rt.start, "two_steps", {"n": 1}, correlation_id="filter-me")
    served.call(served.rt.terminate, other, "not this one")
    served.call(served.rt.start, "two_steps", {"n": 1}, correlation_id="someone-else")
    page.goto(served.url)
    page.fill("input[name='correlation_id']", "filter-me")
    page.select_option("select[name='status']", "RUNNING")
    page.click("form.filters button[type='submit']")
    expect(page.locator("tr[data-run-id]")).to_have_count(1)
    expect(page.locator(f"tr[data-run-id='{kept}']")).to_be_visible()
    assert "correlation_id=filter-me" in page.url
    assert "status=RUNNING" in page.url
    expect(page.locator("b[data-count='TERMINATED']")).to_have_text("1")


def test_times_are_shown_in_the_browsers_zone(served: Served, page: Page) -> None:
    run_id = served.call(served.rt.start, "two_steps", {"n": 1})
    created = served.call(served.rt.get, run_id).created_at
    page.goto(served.url + f"runs/{run_id}")
    tokyo = dt.datetime.fromtimestamp(created, ZoneInfo("Asia/Tokyo"))
    hour = tokyo.strftime("%I").lstrip("0")
    expected = f"{tokyo.month}/{tokyo.day}/{tokyo.year}, {hour}:{tokyo:%M:%S %p}"
    expect(page.locator("#live .runline time").first).to_have_text(expected)


def test_a_script_in_a_workflow_input_renders_as_text(served: Served, page: Page) -> None:
    payload = "<script>window.__xss = 1</script><img src=x onerror='window.__xss = 2'>"
    run_id = served.call(served.rt.start, "two_steps", {"n": payload}, correlation_id=payload)
    page.goto(served.url + f"runs/{run_id}")
    page.click("text=Input")
    expect(page.locator("#live pre.json").first).to_contain_text(payload)
    page.goto(served.url + "?correlation_id=" + payload.replace("#", "%23"))
    expect(page.locator("tr[data-run-id]")).to_have_count(1)
    assert page.evaluate("window.__xss === undefined")


def test_with_a_token_the_browser_is_asked_once(tmp_path: Path, browser: Browser) -> None:
    with serve(str(tmp_path / "journal.db"), token="open-sesame") as guarded:
        context = browser.new_context()
        page = context.new_page()
        page.set_default_timeout(WAIT_MS)
        page.goto(guarded.url + "groups")
        expect(page.locator("h1")).to_have_text("Log in")
        page.fill("input[name='token']", "wrong")
        page.click("form.login button")
        expect(page.locator(".flash.error")).to_have_text("wrong token")
        page.fill("input[name='token']", "open-sesame")
        page.click("form.login button")
        expect(page.locator("h1")).to_have_text("Worker groups & timers")  # back where it was going
        page.goto(guarded.url + "definitions")
        expect(page.locator("h1")).to_have_text("Definitions")  # not asked again
        (session,) = [c for c in context.cookies() if c["name"] == "cadenza_session"]
        assert session["httpOnly"] is True
        assert session["sameSite"] == "Strict"
        assert "cadenza_session" not in page.evaluate("document.cookie")  # no script can read it
        context.close()


def test_an_opened_payload_stays_open_across_live_updates(served: Served, page: Page) -> None:
    run_id = served.call(served.rt.start, "two_steps", {"n": 1})
    page.goto(served.url + f"runs/{run_id}")
    page.evaluate(
        "document.addEventListener('htmx:afterSwap', () => { window.__swaps = (window.__swaps || 0) + 1 })"
    )
    page.click("details[data-key='run-input'] summary")
    served.finish("ui_a", {"n": 2}, run_id=run_id)
    expect(page.locator("tr[data-ref='a'] .task-status")).to_have_text("COMPLETED")  # swapped in
    assert page.evaluate("window.__swaps") >= 1
    expect(page.locator("details[data-key='run-input']")).to_have_attribute("open", "")
    expect(page.locator("details[data-key='run-output']")).not_to_have_attribute("open", "")


def test_a_cross_site_form_cannot_act_on_a_run(served: Served, page: Page) -> None:
    """Another site's page posting to an action (the browser holds a dashboard session):
    the SameSite=Strict cookie stays home and no token comes along, so it is refused."""
    run_id = served.call(served.rt.start, "two_steps", {"n": 1})
    page.goto(served.url + f"runs/{run_id}")  # the browser now has the dashboard's cookie
    action = served.url + f"runs/{run_id}/actions/terminate"
    page.set_content(
        f"<form method='post' action='{action}'><input name='reason' value='pwned'></form>"
    )
    with page.expect_navigation():
        page.evaluate("document.forms[0].submit()")
    assert "CSRF check failed" in page.content()
    assert served.call(served.rt.get, run_id).status == "RUNNING"


def test_the_start_time_range_is_typed_in_the_browsers_zone(served: Served, page: Page) -> None:
    """The page turns a Tokyo wall-clock time into epoch milliseconds for the filter."""
    run_id = served.call(served.rt.start, "two_steps", {"n": 1}, correlation_id="range-me")
    created = served.call(served.rt.get, run_id).created_at
    tokyo = ZoneInfo("Asia/Tokyo")

    def local(epoch_s: float) -> str:
        return dt.datetime.fromtimestamp(int(epoch_s), tokyo).strftime("%Y-%m-%dT%H:%M:%S")

    page.goto(served.url + "?correlation_id=range-me")
    expect(page.locator("tr[data-run-id]")).to_have_count(1)
    page.fill("input[data-epoch-field='since']", local(created + 3600))
    page.click("form.filters button[type='submit']")
    expect(page.locator("tr[data-run-id]")).to_have_count(0)
    assert f"since={(int(created) + 3600) * 1000}" in page.url  # Tokyo's 9 hours undone
    page.fill("input[data-epoch-field='since']", local(created - 3600))
    page.click("form.filters button[type='submit']")
    expect(page.locator(f"tr[data-run-id='{run_id}']")).to_be_visible()
    shown = page.locator("input[data-epoch-field='since']")
    # The browser normalises the field (seconds dropped when zero): compare instants, not text.
    assert dt.datetime.fromisoformat(shown.input_value()) == dt.datetime.fromisoformat(
        local(created - 3600)
    )
    on_the_minute = local((created - 3600) // 60 * 60)  # the form the CI run met by chance
    page.fill("input[data-epoch-field='since']", on_the_minute)
    page.click("form.filters button[type='submit']")
    expect(page.locator(f"tr[data-run-id='{run_id}']")).to_be_visible()
    assert dt.datetime.fromisoformat(shown.input_value()) == dt.datetime.fromisoformat(
        on_the_minute
    )
