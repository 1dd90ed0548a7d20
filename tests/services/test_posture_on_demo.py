"""The posture report on the demo establishment (``quivive demo``'s seeder), end to end."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from quivive.clock import FrozenClock
from quivive.services.demo_seed import seed_demo
from quivive.services.posture_report import PostureReport
from quivive.web.pages import Pages
from quivive.web.posture_render import render_html, render_json
from support.posture import chained_services

NOW = datetime(2026, 11, 28, 14, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostureReport]:
    clock = FrozenClock(NOW)
    with chained_services(tmp_path_factory.mktemp("demo"), "sqlite", clock) as services:
        seed_demo(services, clock, app_url=None)
        yield services.posture.build()


def test_the_demo_gives_the_report_something_to_show(report: PostureReport) -> None:
    figures = report.figures
    statuses = {result.id: result.status.value for result in report.assessment.results}

    assert figures.overall.active >= 10
    assert 0 < figures.overall.with_mfa < figures.overall.active  # some with MFA, some without
    assert figures.emergency.uses >= 1
    assert figures.audit_intact
    kinds = {kind.kind: kind.accounts for kind in figures.inventory}
    assert kinds["totp"] > 0
    assert kinds["passkey_device_bound"] + kinds["passkey_synced"] > 0
    assert statuses["password_only"] == "fail"
    assert statuses["audit_chain"] == "pass"
    assert 0 < report.score < 100


@pytest.mark.parametrize("language", ["fr", "en"])
def test_the_demo_report_renders(report: PostureReport, language: str) -> None:
    pages = Pages("Centre hospitalier des Tilleuls")

    html = render_html(report, language, pages)
    data = json.loads(render_json(report, language, pages))

    assert html.count('class="badge fail"') == len(report.assessment.failed)
    assert data["score"] == report.score
