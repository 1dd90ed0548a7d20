"""The audit viewer's time and address filters: the console page (French and English), the
export that keeps them, and the API."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from starlette.testclient import TestClient

from quivive.composition import Services
from quivive.domain.audit import AuditEvent, Outcome
from support.admin_console import add_user, service_token, sign_in_as
from support.quivive import RecordingAudit

ADDRESSES = ("10.1.0.5", "10.1.0.6", "192.0.2.9")


@pytest.fixture
def auditor(client: TestClient, sqlite_services: Services) -> TestClient:
    now = sqlite_services.clock.now()
    for days, address in enumerate(ADDRESSES):  # today, yesterday, the day before
        at = now - timedelta(days=days)
        event = AuditEvent("login.password", Outcome.FAILURE, at, "x", source_address=address)
        sqlite_services.audit_trail.append(event)
    sign_in_as(client, sqlite_services, add_user(sqlite_services, "reader", "auditor"))
    return client


def _rows(page: str) -> list[str]:
    return [address for address in ADDRESSES if f"<td>{address}</td>" in page]


def test_console_filters_by_day_range_and_address(
    auditor: TestClient, sqlite_services: Services
) -> None:
    today = sqlite_services.clock.now().date()
    yesterday = (today - timedelta(days=1)).isoformat()
    auditor.headers["accept-language"] = "en"

    by_day = auditor.get("/admin/audit", params={"from": yesterday, "to": yesterday}).text
    by_network = auditor.get("/admin/audit", params={"source": "10.1."}).text
    by_address = auditor.get("/admin/audit", params={"source": "192.0.2.9"}).text

    assert _rows(by_day) == ["10.1.0.6"]
    assert f'value="{yesterday}"' in by_day  # the form shows the filter back
    assert _rows(by_network) == ["10.1.0.5", "10.1.0.6"]
    assert _rows(by_address) == ["192.0.2.9"]
    assert "From address" in by_address


def test_the_form_is_in_french(auditor: TestClient) -> None:
    auditor.headers["accept-language"] = "fr"

    page = auditor.get("/admin/audit").text

    assert "Depuis l\u2019adresse" in page
    assert "Jusqu\u2019au (date, UTC, incluse)" in page


def test_the_export_keeps_the_filters_and_is_audited_with_them(
    auditor: TestClient, audit: RecordingAudit
) -> None:
    page = auditor.get("/admin/audit", params={"source": "10.1."}).text
    exported = auditor.get("/admin/audit/export", params={"source": "10.1."})

    assert 'id="export-filtered"' in page
    assert '<input type="hidden" name="source" value="10.1.">' in page
    lines = [json.loads(line) for line in exported.text.splitlines()]
    assert [line["source_address"] for line in lines] == ["10.1.0.5", "10.1.0.6"]  # chain order
    event = next(e for e in audit.events if e.action == "audit.exported")
    assert event.details["filter_source"] == "10.1."


def test_api_filters_by_time_and_address(client: TestClient, sqlite_services: Services) -> None:
    now = sqlite_services.clock.now()
    for days, address in enumerate(ADDRESSES):
        at = now - timedelta(days=days)
        event = AuditEvent("login.password", Outcome.FAILURE, at, "x", source_address=address)
        sqlite_services.audit_trail.append(event)
    bearer = {"authorization": "Bearer " + service_token(sqlite_services)}
    since = (now - timedelta(days=1, hours=1)).isoformat()

    recent = client.get(
        "/api/admin/v1/audit", params={"since": since, "action": "login.password"}, headers=bearer
    )
    network = client.get("/api/admin/v1/audit", params={"source": "10.1."}, headers=bearer)
    bad = client.get("/api/admin/v1/audit", params={"since": "yesterday"}, headers=bearer)

    newest_first = ["10.1.0.6", "10.1.0.5"]  # by chain position
    assert [r["source_address"] for r in recent.json()["items"]] == newest_first
    assert [r["source_address"] for r in network.json()["items"]] == newest_first
    assert bad.status_code == 422
