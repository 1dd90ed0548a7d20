"""Fixtures that drive Debian's Chromium (``/usr/bin/chromium``) through Playwright's sync API.

Browser tests are plain (sync) functions: Playwright's sync API refuses to run inside a running
asyncio loop. Serve the app under test with ``support.live_server.LiveServer`` and browse to its
``url`` (``localhost``, which Chromium accepts as a WebAuthn RP ID).

While Playwright's sync API is started, it marks its own asyncio loop as running in the main
thread, so ``asyncio.run()`` raises there ("cannot be called from a running event loop"). That is
why ``chromium`` is module-scoped, not session-scoped: a session-wide browser broke every later
test that calls ``asyncio.run()``. Inside a browser test, run async set-up code in a thread.
"""

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from support.services import require_service

CHROMIUM = Path("/usr/bin/chromium")
# Headless, no sandbox (we run as root in CI), and nothing that talks to the network on its own.
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """One Chromium per test module (about 0.7 s to start); each test gets its own context."""
    require_service(
        "chromium", CHROMIUM.exists(), f"{CHROMIUM} not found (apt-get install chromium)"
    )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=list(CHROMIUM_ARGS), headless=True
        )
        yield browser
        browser.close()


@pytest.fixture
def browser_locale() -> str:
    """Override in a module or with ``@pytest.mark.parametrize("browser_locale", [...])``."""
    return "fr-FR"


@pytest.fixture
def page(chromium: Browser, browser_locale: str) -> Iterator[Page]:
    """A page in a fresh browser context: no cookies, storage or authenticators from other tests."""
    context = chromium.new_context(locale=browser_locale)
    try:
        yield context.new_page()
    finally:
        context.close()
