"""The admin REST API: authentication, CSRF, JSON errors, cursor pages, OpenAPI and docs."""

from __future__ import annotations

import httpx2
import pytest
from starlette.testclient import TestClient

from quivive.composition import Services
from quivive.domain.audit import AuditEvent, Outcome
from quivive.domain.sessions import AssuranceLevel
from quivive.web.app import create_app
from support.admin_console import (
    TOTP_AMR,
    add_user,
    service_token,
    sign_in_as,
    start_session,
)
from support.quivive import RecordingAudit

API = "/api/admin/v1"


@pytest.fixture
def bearer(sqlite_services: Services) -> dict[str, str]:
    return {"authorization": "Bearer " + service_token(sqlite_services)}


def _error(response: httpx2.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "message"}
    assert body["error"] == code


def test_without_credentials_it_is_401_json(client: TestClient) -> None:
    response = client.get(f"{API}/users")

    _error(response, 401, "session_invalid")
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_a_bad_bearer_token_is_401(client: TestClient) -> None:
    response = client.get(f"{API}/users", headers={"authorization": "Bearer nope"})

    _error(response, 401, "authentication_failed")


def test_a_token_without_the_admin_scope_is_403(
    client: TestClient, sqlite_services: Services
) -> None:
    token = service_token(sqlite_services, requested=())

    response = client.get(f"{API}/users", headers={"authorization": f"Bearer {token}"})

    _error(response, 403, "forbidden")


def test_service_account_creates_lists_and_patches(
    client: TestClient, bearer: dict[str, str], audit: RecordingAudit
) -> None:
    created = client.post(
        f"{API}/users",
        json={"username": "Nina", "roles": ["nurse"], "professional_id": "10001234567"},
        headers=bearer,
    )
    user_id = created.json()["id"]
    patched = client.patch(
        f"{API}/users/{user_id}", json={"display_name": "Nina N.", "email": ""}, headers=bearer
    )
    listed = client.get(f"{API}/users", params={"role": "nurse"}, headers=bearer)

    assert created.status_code == 201, created.text
    assert created.json()["username"] == "nina"
    assert patched.json()["display_name"] == "Nina N."
    assert [user["username"] for user in listed.json()["items"]] == ["nina"]
    actors = {event.actor for event in audit.events if event.action.startswith("user.")}
    assert len(actors) == 1
    assert str(actors.pop()).startswith("client:")


def test_cursor_pages(
    client: TestClient, sqlite_services: Services, bearer: dict[str, str]
) -> None:
    for index in range(7):
        add_user(sqlite_services, f"user{index}", password=False)
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params = {"limit": "3", **({"cursor": cursor} if cursor else {})}
        page = client.get(f"{API}/users", params=params, headers=bearer).json()
        seen += [user["username"] for user in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert seen == [f"user{index}" for index in range(7)]


def test_a_cursor_past_every_user_is_an_empty_page(services: Services) -> None:
    # users.id is a 32-bit INTEGER: PostgreSQL refused a larger cursor with a 500 (found by the
    # schema test's fuzzing); on both databases it now reads as "after every user".
    add_user(services, "alice", password=False)
    headers = {"authorization": "Bearer " + service_token(services)}
    with TestClient(create_app(services), base_url="http://localhost:8080") as client:
        response = client.get(f"{API}/users", params={"cursor": "999999999999"}, headers=headers)

    assert response.status_code == 200, response.text
    assert response.json() == {"items": [], "next_cursor": None}


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/users", {"limit": "0"}),
        ("/users", {"limit": "1000"}),
        ("/users", {"cursor": "abc"}),
        ("/users", {"status": "sleeping"}),
        ("/users/0", {}),
        ("/users/abc", {}),
        ("/audit", {"outcome": "maybe"}),
    ],
)
def test_bad_parameters_are_422_json(
    client: TestClient, bearer: dict[str, str], path: str, params: dict[str, str]
) -> None:
    _error(client.get(API + path, params=params, headers=bearer), 422, "invalid_request")


def test_bad_bodies_are_422_or_400_json(client: TestClient, bearer: dict[str, str]) -> None:
    _error(client.post(f"{API}/users", json={"nope": 1}, headers=bearer), 422, "invalid_request")
    _error(client.post(f"{API}/users", content=b"{", headers=bearer), 422, "invalid_request")
    _error(
        client.post(f"{API}/users", json={"username": "a b"}, headers=bearer), 400, "invalid_input"
    )
    client.post(f"{API}/users", json={"username": "x"}, headers=bearer)
    _error(client.post(f"{API}/users", json={"username": "X"}, headers=bearer), 409, "conflict")


def test_unknown_objects_and_routes_are_404_json(
    client: TestClient, bearer: dict[str, str]
) -> None:
    _error(client.get(f"{API}/users/999", headers=bearer), 404, "not_found")
    _error(client.get(f"{API}/nothing", headers=bearer), 404, "not_found")
    _error(client.delete(f"{API}/users", headers=bearer), 405, "method_not_allowed")


def test_session_cookie_needs_the_csrf_header_for_changes(
    client: TestClient, sqlite_services: Services
) -> None:
    sign_in_as(client, sqlite_services, add_user(sqlite_services, "root", "admin"))

    listed = client.get(f"{API}/users")
    refused = client.post(f"{API}/users", json={"username": "nina"})
    token = client.get(f"{API}/csrf-token").json()["csrf_token"]
    accepted = client.post(
        f"{API}/users", json={"username": "nina"}, headers={"x-csrf-token": token}
    )

    assert listed.status_code == 200
    _error(refused, 403, "csrf_rejected")
    assert accepted.status_code == 201


def test_session_cookie_needs_a_passkey_session(
    client: TestClient, sqlite_services: Services, audit: RecordingAudit
) -> None:
    root = add_user(sqlite_services, "root", "admin")
    sign_in_as(client, sqlite_services, root, amr=TOTP_AMR, aal=AssuranceLevel.AAL2)

    _error(client.get(f"{API}/users"), 403, "forbidden")
    assert ("admin.console_refused", "failure") in audit.actions()


def test_auditor_is_refused_users_and_audited(
    client: TestClient, sqlite_services: Services, audit: RecordingAudit
) -> None:
    sign_in_as(client, sqlite_services, add_user(sqlite_services, "reader", "auditor"))

    _error(client.get(f"{API}/users"), 403, "forbidden")
    assert client.get(f"{API}/audit").status_code == 200
    assert ("admin.forbidden", "failure") in audit.actions()


def test_sessions_listed_and_revoked(
    client: TestClient, sqlite_services: Services, bearer: dict[str, str]
) -> None:
    nina = add_user(sqlite_services, "nina", "nurse")
    token = start_session(sqlite_services, nina)
    sessions = client.get(f"{API}/users/{nina.id}/sessions", headers=bearer).json()

    revoked = client.delete(f"{API}/users/{nina.id}/sessions/{sessions[0]['id']}", headers=bearer)
    again = client.delete(f"{API}/users/{nina.id}/sessions/{sessions[0]['id']}", headers=bearer)

    assert revoked.status_code == 204
    assert sqlite_services.sessions.resolve(token) is None
    _error(again, 404, "not_found")


def test_disable_enable_and_reset(
    client: TestClient, sqlite_services: Services, bearer: dict[str, str]
) -> None:
    nina = add_user(sqlite_services, "nina", "nurse")
    sqlite_services.recovery_codes.generate(nina.id)

    disabled = client.post(f"{API}/users/{nina.id}/disable", headers=bearer).json()
    enabled = client.post(f"{API}/users/{nina.id}/enable", headers=bearer).json()
    reset = client.post(
        f"{API}/users/{nina.id}/factors/reset", json={"reason": "lost"}, headers=bearer
    )

    assert (disabled["status"], enabled["status"]) == ("disabled", "active")
    assert reset.json()["cleared"] > 0


def test_throttles_listed_and_cleared(
    client: TestClient, sqlite_services: Services, bearer: dict[str, str]
) -> None:
    attempt = sqlite_services.throttle.admit("nina", "192.0.2.1")
    sqlite_services.throttle.failed(attempt, "guess")

    listed = client.get(f"{API}/throttles", headers=bearer).json()
    cleared = client.post(f"{API}/throttles/clear", json={"target": "nina"}, headers=bearer)
    missing = client.post(f"{API}/throttles/clear", json={"target": "nina"}, headers=bearer)

    assert {entry["account"] for entry in listed} == {"nina", ""}
    assert cleared.json()["cleared"] >= 1
    _error(missing, 404, "not_found")


def test_audit_pages_newest_first(
    client: TestClient, sqlite_services: Services, bearer: dict[str, str]
) -> None:
    for index in range(5):
        sqlite_services.audit_trail.append(
            AuditEvent("user.created", Outcome.SUCCESS, sqlite_services.clock.now(), f"a{index}")
        )

    first = client.get(f"{API}/audit", params={"limit": "3"}, headers=bearer).json()
    rest = client.get(
        f"{API}/audit", params={"limit": "3", "cursor": first["next_cursor"]}, headers=bearer
    ).json()
    only = client.get(f"{API}/audit", params={"actor": "a1"}, headers=bearer).json()

    assert [r["actor"] for r in first["items"] + rest["items"]] == [
        f"a{i}" for i in range(4, -1, -1)
    ]
    assert rest["next_cursor"] is None
    assert [r["sequence"] for r in only["items"]] == [2]


def test_openapi_schema(client: TestClient) -> None:
    # The docs page built from it: test_admin_api_docs.py and the Chromium test.
    schema = client.get(f"{API}/openapi.json").json()

    assert schema["info"]["title"] == "Quivive admin API"
    assert {"/users", "/users/{user_id}", "/audit", "/throttles"} <= set(schema["paths"])
    assert "ErrorBody" in schema["components"]["schemas"]


def test_mfa_rules_put_and_listed(
    client: TestClient, bearer: dict[str, str], audit: RecordingAudit
) -> None:
    body = {"enforce_from": "2026-02-01", "grace_days": 14, "phishing_resistant": True}

    put = client.put(f"{API}/policies/mfa/Nurse", json=body, headers=bearer)
    listed = client.get(f"{API}/policies/mfa", headers=bearer).json()

    assert put.status_code == 200, put.text
    assert listed == [{**body, "role": "nurse", "source": "database"}]
    assert ("policy.changed", "success") in audit.actions()
    bad = {**body, "grace_days": -1}
    _error(
        client.put(f"{API}/policies/mfa/nurse", json=bad, headers=bearer), 422, "invalid_request"
    )


def test_helpdesk_may_not_put_mfa_rules(
    client: TestClient, sqlite_services: Services, audit: RecordingAudit
) -> None:
    sign_in_as(client, sqlite_services, add_user(sqlite_services, "desk", "helpdesk"))
    token = client.get(f"{API}/csrf-token").json()["csrf_token"]
    body = {"enforce_from": "2026-02-01"}

    response = client.put(f"{API}/policies/mfa/nurse", json=body, headers={"x-csrf-token": token})

    _error(response, 403, "forbidden")
    assert client.get(f"{API}/policies/mfa").json() == []
    assert ("admin.forbidden", "failure") in audit.actions()


def test_factors_listed_without_secrets(
    client: TestClient, sqlite_services: Services, bearer: dict[str, str]
) -> None:
    nina = add_user(sqlite_services, "nina", "nurse")
    sqlite_services.recovery_codes.generate(nina.id)

    factors = client.get(f"{API}/users/{nina.id}/factors", headers=bearer).json()

    assert [factor["factor"] for factor in factors] == ["recovery_code"]
    assert set(factors[0]) == {"factor", "id", "name", "created_at", "last_used_at"}
