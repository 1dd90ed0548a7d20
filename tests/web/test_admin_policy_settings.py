"""Policy settings in the console and the API: shown with their source, changed, refused in plain
words (French and English), audited, and out of reach of helpdesk and auditor."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from quivive.composition import Services
from quivive.domain.audit import Outcome
from quivive.domain.sessions import AssuranceLevel
from support.admin_console import add_user, csrf_token, service_token, sign_in_as
from support.quivive import RecordingAudit

API = "/api/admin/v1/policies/settings"


@pytest.fixture
def admin(client: TestClient, sqlite_services: Services) -> TestClient:
    sign_in_as(client, sqlite_services, add_user(sqlite_services, "root", "admin"))
    client.headers["accept-language"] = "en"
    return client


def _post(client: TestClient, path: str, **fields: str) -> str:
    token = csrf_token(client.get("/admin/policies").text)
    response = client.post(path, data={**fields, "csrf_token": token}, follow_redirects=False)
    assert response.status_code == 303, response.text
    return str(response.headers["location"])


def test_the_page_shows_each_setting_with_its_source(admin: TestClient) -> None:
    page = admin.get("/admin/policies").text

    assert 'id="setting-session-aal2-idle"' in page
    assert "Idle timeout of two-factor sessions (AAL2)" in page
    assert "15 minutes" in page
    assert "from the configuration" in page
    assert 'action="/admin/policies/settings"' in page


def test_an_admin_changes_a_timeout_and_it_applies(
    admin: TestClient, sqlite_services: Services, audit: RecordingAudit
) -> None:
    location = _post(admin, "/admin/policies/settings", key="session.aal2.idle", value="10")
    page = admin.get(location).text

    assert "The setting is saved" in page
    assert "changed here by root" in page
    nina = add_user(sqlite_services, "nina", "nurse")
    token = sqlite_services.sessions.start(
        nina, amr=("pwd", "otp"), aal=AssuranceLevel.AAL2, source_address=None, user_agent=None
    )
    active = sqlite_services.sessions.resolve(token)
    assert active is not None
    assert active.session.idle_timeout.total_seconds() == 600
    event = next(e for e in audit.events if e.action == "policy.setting_changed")
    assert (event.actor, event.outcome, event.source_address) == (
        "root",
        Outcome.SUCCESS,
        "testclient",
    )

    path = "/admin/policies/settings/reset"
    unconfirmed = _post(admin, path, key="session.aal2.idle")
    assert "notice=confirm_required" in unconfirmed
    assert sqlite_services.policies.value("session.aal2.idle") == 10
    reset = _post(admin, path, key="session.aal2.idle", confirm="yes")
    assert "follows the configuration again" in admin.get(reset).text
    assert sqlite_services.policies.value("session.aal2.idle") == 15


@pytest.mark.parametrize(
    ("language", "value", "expected"),
    [
        ("en", "90", "cannot exceed 60 minutes: NIST SP 800-63B-4"),
        ("fr", "90", "ne peut pas dépasser 60 minutes : la NIST SP 800-63B-4"),
    ],
)
def test_a_value_beyond_the_nist_cap_is_refused_in_plain_words(
    admin: TestClient, sqlite_services: Services, language: str, value: str, expected: str
) -> None:
    admin.headers["accept-language"] = language
    location = _post(admin, "/admin/policies/settings", key="session.aal2.idle", value=value)

    page = admin.get(location).text

    assert 'id="setting-refused"' in page
    assert expected in page
    assert sqlite_services.policies.value("session.aal2.idle") == 15


def test_password_length_below_the_floor_is_explained(admin: TestClient) -> None:
    location = _post(admin, "/admin/policies/settings", key="password.min_length", value="6")

    assert "cannot be below 8 characters" in admin.get(location).text


@pytest.mark.parametrize("role", ["helpdesk", "auditor"])
def test_helpdesk_and_auditor_read_but_cannot_change(
    client: TestClient, sqlite_services: Services, audit: RecordingAudit, role: str
) -> None:
    client.headers["accept-language"] = "en"
    sign_in_as(client, sqlite_services, add_user(sqlite_services, "someone", role))
    page = client.get("/admin/policies")
    token = client.get("/api/admin/v1/csrf-token").json()["csrf_token"]

    data = {"key": "password.min_length", "value": "8", "csrf_token": token}
    response = client.post("/admin/policies/settings", data=data, follow_redirects=False)

    assert page.status_code == 200
    assert 'id="policy-settings"' in page.text
    assert 'action="/admin/policies/settings"' not in page.text
    assert response.status_code == 403
    assert sqlite_services.policies.value("password.min_length") == 12
    forbidden = [e for e in audit.events if e.action == "admin.forbidden"]
    assert [e.reason for e in forbidden] == ["policies.manage"]


def test_api_lists_changes_and_refuses(
    client: TestClient, sqlite_services: Services, audit: RecordingAudit
) -> None:
    bearer = {"authorization": "Bearer " + service_token(sqlite_services)}

    listed = client.get(API, headers=bearer).json()
    put = client.put(f"{API}/password.min_length", json={"value": 14}, headers=bearer)
    refused = client.put(f"{API}/session.aal3.idle", json={"value": 20}, headers=bearer)
    unknown = client.put(f"{API}/session.aal9.idle", json={"value": 20}, headers=bearer)
    deleted = client.delete(f"{API}/password.min_length", headers=bearer)

    first = next(item for item in listed if item["key"] == "session.aal3.idle")
    assert first == {
        "key": "session.aal3.idle",
        "value": 15,
        "unit": "minutes",
        "minimum": 1,
        "maximum": 15,
        "configured": 15,
        "source": "configuration",
        "changed_by": None,
        "changed_at": None,
    }
    assert put.status_code == 200, put.text
    assert (put.json()["value"], put.json()["source"]) == (14, "console")
    assert put.json()["changed_by"].startswith("client:")
    assert refused.status_code == 400
    assert refused.json()["error"] == "policy_refused"
    assert "NIST SP 800-63B-4" in refused.json()["message"]
    assert unknown.status_code == 404
    assert (deleted.json()["value"], deleted.json()["source"]) == (12, "configuration")
    outcomes = [e.outcome for e in audit.events if e.action == "policy.setting_changed"]
    assert outcomes == [Outcome.SUCCESS, Outcome.FAILURE, Outcome.SUCCESS]


def test_api_helpdesk_session_cannot_change(
    client: TestClient, sqlite_services: Services, audit: RecordingAudit
) -> None:
    sign_in_as(client, sqlite_services, add_user(sqlite_services, "desk", "helpdesk"))
    token = client.get("/api/admin/v1/csrf-token").json()["csrf_token"]

    response = client.put(
        f"{API}/password.min_length", json={"value": 8}, headers={"x-csrf-token": token}
    )

    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"
    assert ("admin.forbidden", "failure") in audit.actions()
