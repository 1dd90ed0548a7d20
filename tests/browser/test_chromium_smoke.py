from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from support.live_server import LiveServer

PAGE = """<!doctype html>
<html lang="fr">
<head><meta charset="utf-8"><title>Quivive smoke</title></head>
<body>
  <button id="go" onclick="document.getElementById('out').textContent = 'clicked ' +
    navigator.language + ' ' + window.isSecureContext">Go</button>
  <p id="out"></p>
</body>
</html>"""


async def smoke_page(request: Request) -> HTMLResponse:
    return HTMLResponse(PAGE)


@pytest.fixture(scope="module")
def smoke_server() -> Iterator[LiveServer]:
    with LiveServer(Starlette(routes=[Route("/", smoke_page)])) as server:
        yield server


def test_page_has_title_and_reacts_to_a_click(page: Page, smoke_server: LiveServer) -> None:
    page.goto(smoke_server.url + "/")

    expect(page).to_have_title("Quivive smoke")
    page.get_by_role("button", name="Go").click()
    # localhost is a secure context: WebAuthn is available there without TLS.
    expect(page.locator("#out")).to_have_text("clicked fr-FR true")


@pytest.mark.parametrize("browser_locale", ["en-GB"])
def test_locale_is_parameterisable(page: Page, smoke_server: LiveServer) -> None:
    page.goto(smoke_server.url + "/")

    assert page.evaluate("navigator.language") == "en-GB"
