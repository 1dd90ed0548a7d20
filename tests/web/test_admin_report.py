"""The posture report in the console: who may see it, downloads, and "keep" (CSRF, history)."""

from __future__ import annotations

import json

import pytest
from starlette.testclient import TestClient

from quivive.composition import Services
from quivive.domain.audit import Outcome
from support.admin_console import add_user, csrf_token, sign_in_as
from support.quivive import RecordingAudit


@pytest.fixture(autouse=True)
def english(client: TestClient) -> None:
    client.headers["accept-language"] = "en"


@pytest.mark.parametrize("role", ["admin", "auditor"])
def test_admins_and_auditors_see_the_report(
    client: TestClient, sqlite_services: Services, role: str
) -> None:
    sign_in_as(client, sqlite_services, add_user(sqlite_services, "reader", role))

    page = client.get("/admin/report")

    assert page.status_code == 200
    assert "Authentication posture report" in page.text
    assert 'id="check-audit_chain"' in page.text
    assert 'href="/admin/report" aria-current="page"' in page.text
    assert page.headers["cache-control"] == "no-store"


def test_helpdesk_is_refused_and_the_attempt_audited(
    client: TestClient, sqlite_services: Services, audit: RecordingAudit
) -> None:
    sign_in_as(client, sqlite_services, add_user(sqlite_services, "desk", "helpdesk"))

    responses = [client.get(path) for path in ("/admin/report", "/admin/report.pdf")]

    assert [response.status_code for response in responses] == [403, 403]
    refused = [
        (event.actor, event.reason)
        for event in audit.events
        if event.action == "admin.forbidden" and event.outcome is Outcome.FAILURE
    ]
    assert refused == [("desk", "report.view")] * 2
    assert 'href="/admin/report"' not in client.get("/admin").text  # no nav entry either


def test_the_report_is_in_french_by_default(client: TestClient, sqlite_services: Services) -> None:
    sign_in_as(client, sqlite_services, add_user(sqlite_services, "root", "admin"))

    page = client.get("/admin/report", headers={"accept-language": "fr"})

    assert "Rapport de posture d'authentification" in page.text
    assert "Les sessions se terminent dans la journée" in page.text


def test_json_and_pdf_downloads(client: TestClient, sqlite_services: Services) -> None:
    sign_in_as(client, sqlite_services, add_user(sqlite_services, "root", "admin"))

    as_json = client.get("/admin/report.json")
    as_pdf = client.get("/admin/report.pdf")

    assert as_json.headers["content-type"] == "application/json"
    assert json.loads(as_json.text)["schema"] == "quivive.posture-report/1"
    assert as_pdf.headers["content-type"] == "application/pdf"
    assert as_pdf.content.startswith(b"%PDF-")
    assert "attachment" in as_pdf.headers["content-disposition"]


def test_viewing_keeps_nothing_but_keep_does(
    client: TestClient, sqlite_services: Services, audit: RecordingAudit
) -> None:
    sign_in_as(client, sqlite_services, add_user(sqlite_services, "root", "admin"))
    page = client.get("/admin/report")
    client.get("/admin/report.json")
    assert sqlite_services.posture.build().history == []

    kept = client.post(
        "/admin/report/keep", data={"csrf_token": csrf_token(page.text)}, follow_redirects=False
    )

    assert kept.status_code == 303
    assert kept.headers["location"] == "/admin/report?notice=kept"
    assert len(sqlite_services.posture.build().history) == 1
    assert ("report.kept", "success") in audit.actions()
    assert "The report is kept" in client.get(kept.headers["location"]).text


def test_keep_needs_the_csrf_token(client: TestClient, sqlite_services: Services) -> None:
    sign_in_as(client, sqlite_services, add_user(sqlite_services, "root", "admin"))
    client.get("/admin/report")

    refused = client.post(
        "/admin/report/keep", data={"csrf_token": "forged"}, follow_redirects=False
    )

    assert refused.status_code == 403
    assert sqlite_services.posture.build().history == []


def test_the_auditor_may_not_keep_a_report(
    client: TestClient, sqlite_services: Services, audit: RecordingAudit
) -> None:
    """Keeping writes history and moves the trend's baseline: a change, not a reading."""
    sign_in_as(client, sqlite_services, add_user(sqlite_services, "reader", "auditor"))
    page = client.get("/admin/report")
    token = csrf_token(client.get("/admin/audit").text)  # the report page offers no form

    refused = client.post("/admin/report/keep", data={"csrf_token": token}, follow_redirects=False)

    assert refused.status_code == 403
    assert 'id="keep"' not in page.text
    assert sqlite_services.posture.build().history == []
    assert [
        (event.actor, event.reason)
        for event in audit.events
        if event.action == "admin.forbidden" and event.outcome is Outcome.FAILURE
    ] == [("reader", "report.keep")]
    assert ("report.kept", "success") not in audit.actions()
