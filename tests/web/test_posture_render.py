"""The posture report's renderings: the JSON contract, both languages, and the PDF as an image."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pypdfium2
import pytest
from PIL import Image, ImageStat

from quivive.clock import FrozenClock
from quivive.domain.posture import CHECK_IDS
from quivive.services.posture_report import PostureReport
from quivive.web.pages import Pages
from quivive.web.posture_render import render_html, render_json, render_pdf
from quivive.web.posture_texts import AUTHENTICATOR_KINDS, CHECK_TEXTS
from support.posture import chained_services, seed

SHAPE_FILE = Path(__file__).parents[1] / "data" / "posture_report_shape.json"


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostureReport]:
    clock = FrozenClock()
    with chained_services(tmp_path_factory.mktemp("posture"), "sqlite", clock) as services:
        seed(services, clock)
        services.posture.keep(services.posture.build(), kept_by="cli")
        yield services.posture.build()


@pytest.fixture(scope="module")
def pages() -> Pages:
    return Pages("CH de Test")


def shape(value: Any) -> Any:
    """The structure of a JSON value: keys and types, lists by their first item."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in sorted(value.items())}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__


def test_every_check_and_authenticator_kind_has_its_texts() -> None:
    assert set(CHECK_TEXTS) == set(CHECK_IDS)
    assert set(AUTHENTICATOR_KINDS) == {
        "passkey_device_bound",
        "passkey_synced",
        "totp",
        "recovery_codes",
        "password_only",
    }


def test_the_json_keeps_its_shape(report: PostureReport, pages: Pages) -> None:
    """Scripts and SIEMs read this file: a change of shape is a new schema version."""
    data = json.loads(render_json(report, "en", pages))

    assert data["schema"] == "quivive.posture-report/1"
    assert shape(data) == json.loads(SHAPE_FILE.read_text(encoding="utf-8"))
    assert [check["id"] for check in data["checks"]] == list(CHECK_IDS)


def test_the_json_speaks_the_chosen_language(report: PostureReport, pages: Pages) -> None:
    french = json.loads(render_json(report, "fr", pages))
    english = json.loads(render_json(report, "en", pages))

    titles = {check["id"]: check["title"] for check in french["checks"]}
    assert titles["audit_chain"] == "Le journal d'audit est intact"
    assert english["checks"][0]["source"].startswith("ANS RIE FAQ")
    assert french["score"] == english["score"]


def test_the_html_has_its_charts_inline(report: PostureReport, pages: Pages) -> None:
    html = render_html(report, "en", pages)

    for chart in ("score-gauge", "trend-chart", "attacks-chart"):
        assert f'<svg id="{chart}"' in html
    assert "<script" not in html
    assert "http" not in html.split("<body", 1)[1]  # nothing fetched from anywhere


def test_the_pdf_renders_to_a_non_blank_page(report: PostureReport, pages: Pages) -> None:
    document = pypdfium2.PdfDocument(render_pdf(render_html(report, "fr", pages)))
    try:
        assert len(document) >= 2
        image = document[0].render(scale=1).to_pil().convert("L")
    finally:
        document.close()

    png = io.BytesIO()
    image.save(png, format="PNG")
    reread = Image.open(io.BytesIO(png.getvalue()))
    dark = sum(reread.histogram()[:128])  # pixels of text, bars and badges
    assert dark > 2000
    assert ImageStat.Stat(reread).stddev[0] > 20


def test_the_pdf_fetches_no_url_named_in_the_html() -> None:
    """Attack: a value from the database that reaches the HTML as a URL (an image, a stylesheet)
    must not make the server request it (server-side request forgery)."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from threading import Thread

    hits: list[str] = []

    class Recorder(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    html = (
        f'<html><head><link rel="stylesheet" href="{base}/style.css">'
        f"<style>body {{ background: url({base}/background.png) }}</style></head>"
        f'<body><p>report</p><img src="{base}/image.png"></body></html>'
    )
    try:
        document = render_pdf(html)
    finally:
        server.shutdown()
        server.server_close()

    assert document.startswith(b"%PDF")
    assert hits == []
