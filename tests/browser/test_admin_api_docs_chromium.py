"""The admin API's interactive docs in Chromium: Swagger UI renders the operations under the
strict CSP (no script error, no CSP violation); "Try it out" works with the administrator's
session (our script adds the X-CSRF-Token header to changes, without which the API refuses them)
and with a bearer token given through "Authorize"."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import ConsoleMessage, Page, expect

from quivive.composition import Services
from quivive.domain.users import User
from support.admin_console import add_user, service_token, start_session
from support.quivive import live_quivive

DOCS = "/api/admin/v1/docs"
LIST_USERS = "#operations-users-list_users_users_get"
DISABLE_USER = "#operations-users-disable_user_users__user_id__disable_post"
WATCH_CSP = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(e.violatedDirective + " " + e.blockedURI);
});
"""
# The API as a forged request would call it: the session cookie, no X-CSRF-Token header.
POST_WITHOUT_HEADER = """
async (url) => {
  const response = await fetch(url, {method: "POST", credentials: "same-origin"});
  return [response.status, (await response.json()).error];
}
"""


@dataclass
class Site:
    url: str
    services: Services
    admin_token: str
    nina: User


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    with live_quivive(tmp_path) as (url, services):
        root = add_user(services, "root", "admin", password=False)
        nina = add_user(services, "nina", "nurse")
        yield Site(url, services, start_session(services, root), nina)


def _watch(page: Page) -> list[str]:
    problems: list[str] = []

    def console(message: ConsoleMessage) -> None:
        if message.type == "error" and not message.location["url"].endswith("/favicon.ico"):
            problems.append(message.text)

    page.on("console", console)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.add_init_script(WATCH_CSP)
    return problems


def _open(page: Page, operation: str) -> None:
    block = page.locator(operation)
    block.locator(".opblock-summary-control").click()
    block.locator(".try-out__btn").click()


def _execute(page: Page, operation: str, path: str) -> int:
    block = page.locator(operation)
    with page.expect_response(lambda r: r.url.endswith(path)) as answer:
        block.locator(".execute").click()
    expect(block.locator(".live-responses-table tbody .response-col_status")).to_be_visible()
    return answer.value.status


def test_try_it_out_with_the_admin_session(page: Page, site: Site) -> None:
    problems = _watch(page)
    page.context.add_cookies(
        [{"name": "quivive_session", "value": site.admin_token, "url": site.url}]
    )

    page.goto(site.url + DOCS)
    expect(page.locator(DISABLE_USER)).to_be_visible()
    expect(page.locator(".opblock")).not_to_have_count(0)
    assert page.locator(".opblock").count() >= 12

    _open(page, LIST_USERS)
    assert _execute(page, LIST_USERS, "/api/admin/v1/users?limit=50") == 200
    live = page.locator(LIST_USERS + " .live-responses-table tbody .response-col_description")
    expect(live.first).to_contain_text("nina")

    disable = f"/api/admin/v1/users/{site.nina.id}/disable"
    assert page.evaluate(POST_WITHOUT_HEADER, disable) == [403, "csrf_rejected"]
    assert site.services.users.get(site.nina.id).is_active
    assert problems == [
        "Failed to load resource: the server responded with a status of 403 (Forbidden)"
    ]
    problems.clear()

    _open(page, DISABLE_USER)
    page.locator(DISABLE_USER + ' tr[data-param-name="user_id"] input').fill(str(site.nina.id))
    with page.expect_request(lambda r: r.url.endswith(disable)) as sent:
        status = _execute(page, DISABLE_USER, disable)
    assert status == 200
    assert sent.value.headers.get("x-csrf-token")
    assert not site.services.users.get(site.nina.id).is_active
    assert problems == []
    assert page.evaluate("window.__csp") == []


def test_try_it_out_with_a_bearer_token_from_authorize(page: Page, site: Site) -> None:
    problems = _watch(page)
    token = service_token(site.services)

    page.goto(site.url + DOCS)  # no session: the page and the schema are public
    page.locator(".auth-wrapper .authorize").click()
    bearer = page.locator(".modal-ux .auth-container").filter(has_text="http, Bearer")
    bearer.locator("input").fill(token)
    bearer.locator(".auth-btn-wrapper .authorize").click()
    bearer.locator(".btn-done").click()

    _open(page, LIST_USERS)
    with page.expect_request(lambda r: "/api/admin/v1/users?" in r.url) as sent:
        status = _execute(page, LIST_USERS, "/api/admin/v1/users?limit=50")
    assert status == 200
    assert sent.value.headers["authorization"] == "Bearer " + token
    assert problems == []
    assert page.evaluate("window.__csp") == []
