"""The posture report in Chromium: the console page and the standalone file, to PNG, clean.

Clean means no console error, no uncaught exception and no Content-Security-Policy violation
(the console page is served under Quivive's strict CSP: no inline style or script).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image, ImageStat
from playwright.sync_api import ConsoleMessage, Page, expect

from quivive.clock import FrozenClock
from quivive.composition import Services, build_services
from quivive.domain.sessions import AssuranceLevel
from quivive.storage.database import upgrade
from quivive.web.app import create_app
from quivive.web.pages import Pages
from quivive.web.posture_render import render_html
from support.live_server import LateApp, LiveServer
from support.posture import seed
from support.quivive import make_settings

# Collected before any page script runs: the browser's own report of each CSP violation.
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
    late, clock = LateApp(), FrozenClock()
    with LiveServer(late, lifespan="off") as server:
        services = build_services(make_settings(tmp_path, public_url=server.url), clock=clock)
        try:
            upgrade(services.engine)
            # seed() signs in with asyncio.run, which Playwright's loop forbids in this thread.
            with ThreadPoolExecutor(1) as pool:
                people = pool.submit(seed, services, clock).result().users
            services.posture.keep(services.posture.build(), kept_by="cli")
            token = services.sessions.start(
                people["root"],
                amr=("hwk", "user", "mfa"),
                aal=AssuranceLevel.AAL3,
                source_address="127.0.0.1",
                user_agent="chromium",
            )
            late.app = create_app(services)
            yield Site(server.url, services, token)
        finally:
            services.close()


def watch(page: Page) -> list[str]:
    problems: list[str] = []
    page.on("console", lambda message: _console(problems, message))
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.add_init_script(WATCH_CSP)
    return problems


def _console(problems: list[str], message: ConsoleMessage) -> None:
    # Chromium asks for /favicon.ico on its own; Quivive serves none, and that 404 is no fault
    # of the page.
    if message.type == "error" and not message.location["url"].endswith("/favicon.ico"):
        problems.append(f"{message.text} ({message.location['url']})")


def assert_clean(page: Page, problems: list[str]) -> None:
    assert problems == []
    assert page.evaluate("window.__csp") == []


def assert_not_blank(png: bytes) -> None:
    image = Image.open(io.BytesIO(png)).convert("L")
    assert image.width >= 800
    assert image.height > 2000  # the whole report, not an error page
    assert ImageStat.Stat(image).stddev[0] > 20


@pytest.mark.parametrize(
    ("browser_locale", "title"),
    [
        ("fr-FR", "Rapport de posture d'authentification"),
        ("en-GB", "Authentication posture report"),
    ],
)
def test_the_console_report_renders_cleanly(page: Page, site: Site, title: str) -> None:
    problems = watch(page)
    page.context.add_cookies(
        [{"name": "quivive_session", "value": site.admin_token, "url": site.url}]
    )
    page.set_viewport_size({"width": 1100, "height": 900})

    page.goto(site.url + "/admin/report")

    expect(page.locator("h1")).to_have_text(title)
    expect(page.locator("#check-admins_phishing_resistant .badge")).to_have_class("badge fail")
    expect(page.locator("#score-gauge")).to_be_visible()
    expect(page.locator("#trend-chart rect")).to_have_count(2)
    assert_not_blank(page.screenshot(full_page=True))
    assert_clean(page, problems)


@pytest.mark.parametrize("browser_locale", ["en-GB"])
def test_keeping_a_report_from_the_console(page: Page, site: Site) -> None:
    problems = watch(page)
    page.context.add_cookies(
        [{"name": "quivive_session", "value": site.admin_token, "url": site.url}]
    )
    page.goto(site.url + "/admin/report")

    page.locator("#keep").click()

    expect(page.locator("#notice")).to_contain_text("The report is kept")
    expect(page.locator("#trend-chart rect")).to_have_count(3)
    assert_clean(page, problems)


def test_the_standalone_file_renders_cleanly(page: Page, site: Site, tmp_path: Path) -> None:
    report = site.services.posture.build()
    document = tmp_path / "rapport.html"
    document.write_text(render_html(report, "fr", Pages("CH de Test")), encoding="utf-8")
    problems = watch(page)

    page.goto(document.as_uri())

    expect(page.locator("#check-audit_chain .badge")).to_have_text("Réussi")
    assert_not_blank(page.screenshot(full_page=True))
    assert_clean(page, problems)
