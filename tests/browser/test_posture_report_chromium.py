"""The posture report in Chromium: the console page and the standalone file, to PNG, clean.

Clean means no console error, no uncaught exception and no Content-Security-Policy violation
(the console page is served under Quivive's strict CSP: no inline style or script).
"""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PIL import Image, ImageStat
from playwright.sync_api import ConsoleMessage, Page, expect

from quivive.clock import FrozenClock
from quivive.composition import Services, build_services
from quivive.domain.demo_establishment import ESTABLISHMENT_NAME
from quivive.domain.sessions import AssuranceLevel
from quivive.services.demo_seed import seed_demo
from quivive.services.posture_report import PostureReport
from quivive.web.app import create_app
from quivive.web.pages import Pages
from quivive.web.posture_render import render_html
from support.live_server import LateApp, LiveServer
from support.posture import chained_services, seed
from support.quivive import live_quivive, make_settings

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
    clock = FrozenClock()
    with live_quivive(tmp_path, clock=clock) as (url, services):
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
        yield Site(url, services, token)


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


# --- the demo establishment's report (``quivive demo``'s seeder) --------------------------------

DEMO_NOW = datetime(2026, 11, 28, 14, 30, tzinfo=UTC)


@dataclass(frozen=True)
class Demo:
    folder: Path  # seeded once; the console test serves a copy
    report: PostureReport


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    folder, clock = tmp_path_factory.mktemp("demo"), FrozenClock(DEMO_NOW)

    def seeded() -> PostureReport:
        with chained_services(folder, "sqlite", clock) as services:
            seed_demo(services, clock, app_url=None)
            return services.posture.build()

    # The seeder signs in with asyncio.run, which Playwright's loop forbids in this thread.
    with ThreadPoolExecutor(1) as pool:
        return Demo(folder, pool.submit(seeded).result())


@pytest.fixture
def demo_site(demo: Demo, tmp_path: Path) -> Iterator[Site]:
    folder = tmp_path / "demo"
    shutil.copytree(demo.folder, folder)
    late = LateApp()
    with LiveServer(late, lifespan="off") as server:
        settings = make_settings(folder, public_url=server.url)
        services = build_services(settings, clock=FrozenClock(DEMO_NOW))
        try:
            admin = next(
                user
                for user in services.accounts.list()
                if user.is_admin and user.username != "sophie.garnier"  # the one with a passkey
            )
            token = services.sessions.start(
                admin,
                amr=("hwk", "user", "mfa"),
                aal=AssuranceLevel.AAL3,
                source_address="127.0.0.1",
                user_agent="chromium",
            )
            late.app = create_app(services)
            yield Site(server.url, services, token)
        finally:
            services.close()


@pytest.mark.parametrize(
    ("language", "passed"), [("fr", "Réussi"), ("en", "Pass")], ids=["fr", "en"]
)
def test_the_demo_report_file_renders_cleanly(
    page: Page, demo: Demo, tmp_path: Path, language: str, passed: str
) -> None:
    document = tmp_path / f"posture-{language}.html"
    html = render_html(demo.report, language, Pages(ESTABLISHMENT_NAME))
    document.write_text(html, encoding="utf-8")
    problems = watch(page)
    page.set_viewport_size({"width": 1100, "height": 900})

    page.goto(document.as_uri())

    expect(page.locator("html")).to_have_attribute("lang", language)
    expect(page.locator("#check-audit_chain .badge")).to_have_text(passed)
    expect(page.locator(".badge.fail")).to_have_count(len(demo.report.assessment.failed))
    for check in ("password_only_overdue", "admins_phishing_resistant", "emergency_reviewed"):
        expect(page.locator(f"#check-{check} .badge")).to_have_class("badge fail")
    png = page.screenshot(full_page=True)
    (tmp_path / f"posture-{language}.png").write_bytes(png)
    assert_not_blank(png)
    assert_clean(page, problems)


@pytest.mark.parametrize(
    ("browser_locale", "title"),
    [
        ("fr-FR", "Rapport de posture d'authentification"),
        ("en-GB", "Authentication posture report"),
    ],
)
def test_the_demo_report_in_the_console_renders_cleanly(
    page: Page, demo: Demo, demo_site: Site, title: str
) -> None:
    problems = watch(page)
    page.context.add_cookies(
        [{"name": "quivive_session", "value": demo_site.admin_token, "url": demo_site.url}]
    )
    page.set_viewport_size({"width": 1100, "height": 900})

    page.goto(demo_site.url + "/admin/report")

    expect(page.locator("h1")).to_have_text(title)
    expect(page.locator(".badge.fail")).to_have_count(len(demo.report.assessment.failed))
    expect(page.locator("#check-dormant_accounts .badge")).to_have_class("badge fail")
    expect(page.locator("#score-gauge")).to_be_visible()
    assert_not_blank(page.screenshot(full_page=True))
    assert_clean(page, problems)
