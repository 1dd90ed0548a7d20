"""Applications and gate rules in Chromium: register an application, keep its secret (shown
once), then protect a host with a rule; no script error, no CSP violation along the way."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import ConsoleMessage, Page, expect

from quivive.composition import Services
from quivive.domain.clients import hash_secret
from quivive.services.accounts import NewAccount
from support.admin_console import start_session
from support.quivive import live_quivive

WATCH_CSP = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(e.violatedDirective + " " + e.blockedURI);
});
"""


@dataclass
class Site:
    url: str
    services: Services
    admin_token: str


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    with live_quivive(tmp_path) as (url, services):
        root = services.accounts.create(NewAccount("root", None, roles=("admin",)), actor="t")
        yield Site(url, services, start_session(services, root))


def _watch(page: Page) -> list[str]:
    problems: list[str] = []

    def console(message: ConsoleMessage) -> None:
        if message.type == "error" and not message.location["url"].endswith("/favicon.ico"):
            problems.append(message.text)

    page.on("console", console)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.add_init_script(WATCH_CSP)
    return problems


@pytest.mark.parametrize("browser_locale", ["fr-FR"])
def test_register_an_application_then_protect_a_host(page: Page, site: Site) -> None:
    problems = _watch(page)
    page.context.add_cookies(
        [{"name": "quivive_session", "value": site.admin_token, "url": site.url}]
    )

    page.goto(site.url + "/admin/apps")
    page.locator("#new-app").click()
    page.locator("#name").fill("Dossier patient")
    page.locator("#redirect_uris").fill("https://dpi.hopital.example/oauth2/callback")
    page.locator("#create").click()

    expect(page.locator("#notice")).to_contain_text("application est enregistrée")
    secret = page.locator("#client-secret").inner_text()
    client_id = page.locator("#client-id").inner_text()
    assert site.services.oidc.clients.existing(client_id).secret_hash == hash_secret(secret)
    expect(page.locator("#snippet-generic")).to_contain_text(secret)
    assert problems == []
    assert page.evaluate("window.__csp") == []

    page.goto(f"{site.url}/admin/apps/{client_id}")  # later: the secret is gone for good
    expect(page.locator("#client-secret")).to_have_count(0)
    expect(page.locator("#snippet-generic")).to_contain_text(client_id)
    assert secret not in page.content()

    page.goto(site.url + "/admin/rules")
    page.locator("#new-rule").click()
    page.locator("#host").fill("dpi.hopital.example")
    page.locator("#min_aal").select_option("2")
    page.locator("#create").click()

    expect(page.locator("#notice")).to_contain_text("applique aussitôt")
    expect(page.locator("#snippet-nginx")).to_contain_text("server_name dpi.hopital.example;")
    assert [rule.host for rule in site.services.gate_rules.current().rules] == [
        "dpi.hopital.example"
    ]
    assert problems == []
    assert page.evaluate("window.__csp") == []
