"""The admin API's clients and rules: create, read, page, change, rotate, remove; roles; errors."""

from __future__ import annotations

import httpx2
import pytest
from starlette.testclient import TestClient

from quivive.composition import Services
from quivive.domain.clients import hash_secret
from quivive.services.mfa import Origin
from support.admin_console import add_user, service_token, sign_in_as
from support.quivive import RecordingAudit

API = "/api/admin/v1"
APP = {"name": "Dossier patient", "redirect_uris": ["https://dpi.hopital.example/cb"]}


@pytest.fixture
def bearer(sqlite_services: Services) -> dict[str, str]:
    return {"authorization": "Bearer " + service_token(sqlite_services)}


def _error(response: httpx2.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "message"}
    assert body["error"] == code
    return str(body["message"])


def _session_headers(client: TestClient) -> dict[str, str]:
    return {"x-csrf-token": client.get(f"{API}/csrf-token").json()["csrf_token"]}


def test_a_client_is_created_with_its_secret_once_then_changed_rotated_and_removed(
    client: TestClient, sqlite_services: Services, bearer: dict[str, str], audit: RecordingAudit
) -> None:
    created = client.post(f"{API}/clients", json=APP, headers=bearer)
    assert created.status_code == 201, created.text
    body = created.json()
    client_id, secret = body["client_id"], body["client_secret"]
    stored = sqlite_services.oidc.clients.existing(client_id)
    assert stored.secret_hash == hash_secret(secret)
    assert body["discovery_url"] == "http://localhost:8080/.well-known/openid-configuration"

    shown = client.get(f"{API}/clients/{client_id}", headers=bearer).json()
    assert "client_secret" not in shown
    assert secret not in client.get(f"{API}/clients", headers=bearer).text

    patched = client.patch(
        f"{API}/clients/{client_id}",
        json={"redirect_uris": ["https://dpi.hopital.example/oidc"], "first_party": True},
        headers=bearer,
    ).json()
    assert patched["redirect_uris"] == ["https://dpi.hopital.example/oidc"]
    assert patched["first_party"] is True
    assert patched["name"] == "Dossier patient"

    rotated = client.post(f"{API}/clients/{client_id}/rotate-secret", headers=bearer).json()
    assert rotated["client_secret"] != secret
    assert sqlite_services.oidc.clients.existing(client_id).secret_hash == hash_secret(
        rotated["client_secret"]
    )

    assert client.delete(f"{API}/clients/{client_id}", headers=bearer).status_code == 204
    _error(client.get(f"{API}/clients/{client_id}", headers=bearer), 404, "not_found")
    _error(client.delete(f"{API}/clients/{client_id}", headers=bearer), 404, "not_found")
    actions = [e.action for e in audit.events if e.subject == client_id]
    assert actions == [
        "client.added",
        "client.updated",
        "client.secret_rotated",
        "client.removed",
    ]
    assert all(str(e.actor).startswith("client:") for e in audit.events if e.subject == client_id)


@pytest.mark.parametrize(
    ("body", "status", "code", "words"),
    [
        ({"name": "A", "redirect_uris": ["http://dpi.example/cb"]}, 400, "invalid_input", "https"),
        (
            {"name": "A", "redirect_uris": ["https://x.example/#f"]},
            400,
            "invalid_input",
            "fragment",
        ),
        ({"name": "A", "redirect_uris": ["/cb"]}, 400, "invalid_input", "absolute"),
        ({"name": "A", "grant_types": ["password"]}, 400, "invalid_input", "grant"),
        ({"name": "A", "scopes": ["everything"]}, 400, "invalid_input", "scope"),
        ({"name": "A"}, 400, "invalid_input", "redirect"),
        (
            {"name": "automation", **{k: v for k, v in APP.items() if k != "name"}},
            409,
            "conflict",
            "exists",
        ),
        ({"name": "A", "nope": 1}, 422, "invalid_request", "nope"),
    ],
)
def test_bad_clients_are_refused_with_a_reason(
    client: TestClient,
    bearer: dict[str, str],
    body: dict[str, object],
    status: int,
    code: str,
    words: str,
) -> None:
    message = _error(client.post(f"{API}/clients", json=body, headers=bearer), status, code)

    assert words in message


def test_a_duplicate_name_is_refused_on_rename_too(
    client: TestClient, bearer: dict[str, str]
) -> None:
    client_id = client.post(f"{API}/clients", json=APP, headers=bearer).json()["client_id"]

    response = client.patch(
        f"{API}/clients/{client_id}", json={"name": "automation"}, headers=bearer
    )

    _error(response, 409, "conflict")


def test_public_clients_have_no_secret_to_rotate(
    client: TestClient, bearer: dict[str, str]
) -> None:
    created = client.post(f"{API}/clients", json={**APP, "public": True}, headers=bearer).json()

    assert created["client_secret"] is None
    response = client.post(f"{API}/clients/{created['client_id']}/rotate-secret", headers=bearer)
    _error(response, 400, "invalid_input")


def test_clients_and_rules_are_paged_with_a_cursor(
    client: TestClient, sqlite_services: Services, bearer: dict[str, str]
) -> None:
    for index in range(5):
        client.post(f"{API}/clients", json={**APP, "name": f"app {index}"}, headers=bearer)
        sqlite_services.gate_rules.add({"host": f"h{index}.example"}, actor="test", origin=Origin())
    for resource, field in (("clients", "name"), ("rules", "host")):
        seen: list[str] = []
        cursor: str | None = None
        while True:
            params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
            page = client.get(f"{API}/{resource}", params=params, headers=bearer).json()
            seen += [item[field] for item in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        expected = sorted(seen)
        assert seen == expected
        assert len(seen) == (6 if resource == "clients" else 5)  # with "automation"
    _error(
        client.get(f"{API}/rules", params={"cursor": "nope"}, headers=bearer), 400, "invalid_input"
    )


def test_a_rule_is_created_changed_and_removed_and_the_gate_follows(
    client: TestClient, sqlite_services: Services, bearer: dict[str, str], audit: RecordingAudit
) -> None:
    created = client.post(
        f"{API}/rules",
        json={"host": "dpi.hopital.example", "roles": ["medecin"], "min_aal": 2},
        headers=bearer,
    )
    assert created.status_code == 201, created.text
    rule = created.json()
    assert (rule["source"], rule["min_aal"], rule["roles"]) == ("database", 2, ["medecin"])
    assert sqlite_services.gate_rules.current().rules[0].host == "dpi.hopital.example"

    patched = client.patch(
        f"{API}/rules/{rule['id']}",
        json={"networks": ["10.0.0.0/8"], "networks_min_aal": 1},
        headers=bearer,
    ).json()
    assert (patched["networks"], patched["networks_min_aal"], patched["min_aal"]) == (
        ["10.0.0.0/8"],
        1,
        2,
    )
    assert client.get(f"{API}/rules/{rule['id']}", headers=bearer).json() == patched

    assert client.delete(f"{API}/rules/{rule['id']}", headers=bearer).status_code == 204
    assert sqlite_services.gate_rules.current().rules == ()
    _error(client.get(f"{API}/rules/{rule['id']}", headers=bearer), 404, "not_found")
    assert [e.action for e in audit.events if e.action.startswith("gate_rule.")] == [
        "gate_rule.added",
        "gate_rule.updated",
        "gate_rule.removed",
    ]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"host": "not a host"}, "host"),
        ({"host": "a.example", "min_aal": 5}, "min_aal"),
        ({"host": "a.example", "networks": ["10.0.0.0/33"]}, "networks"),
        ({"host": "a.example", "path_prefix": "admin"}, "path_prefix"),
        ({"host": "a.example", "deny_outside_networks": True}, "deny_outside_networks"),
    ],
)
def test_bad_rules_are_400_naming_the_key(
    client: TestClient, bearer: dict[str, str], body: dict[str, object], field: str
) -> None:
    message = _error(client.post(f"{API}/rules", json=body, headers=bearer), 400, "invalid_input")

    assert field in message


def test_a_duplicate_rule_is_409(client: TestClient, bearer: dict[str, str]) -> None:
    client.post(f"{API}/rules", json={"host": "a.example", "path_prefix": "/x"}, headers=bearer)

    response = client.post(
        f"{API}/rules", json={"host": "a.example", "path_prefix": "/x/"}, headers=bearer
    )

    _error(response, 409, "conflict")


def test_the_auditor_reads_but_changes_nothing(
    client: TestClient, sqlite_services: Services, audit: RecordingAudit
) -> None:
    sign_in_as(client, sqlite_services, add_user(sqlite_services, "reader", "auditor"))
    headers = _session_headers(client)

    assert client.get(f"{API}/clients").status_code == 200
    assert client.get(f"{API}/rules").status_code == 200
    _error(client.post(f"{API}/clients", json=APP, headers=headers), 403, "forbidden")
    _error(
        client.post(f"{API}/rules", json={"host": "a.example"}, headers=headers), 403, "forbidden"
    )

    refused = [(e.action, e.reason) for e in audit.events if e.action == "admin.forbidden"]
    assert refused == [("admin.forbidden", "apps.manage")] * 2
    assert sqlite_services.oidc.clients.list() == []


def test_the_helpdesk_may_not_even_read_them(
    client: TestClient, sqlite_services: Services, audit: RecordingAudit
) -> None:
    sign_in_as(client, sqlite_services, add_user(sqlite_services, "desk", "helpdesk"))
    headers = _session_headers(client)

    for method, path, body in (
        ("GET", "/clients", None),
        ("GET", "/rules", None),
        ("POST", "/rules", {"host": "a.example"}),
        ("PATCH", "/rules/1", {}),  # reads the rule first: refused at apps.view
        ("DELETE", "/rules/1", None),
        ("POST", "/clients", APP),
        ("POST", "/clients/abc/rotate-secret", None),
        ("DELETE", "/clients/abc", None),
    ):
        response = client.request(method, API + path, headers=headers, json=body)
        _error(response, 403, "forbidden")

    reasons = [e.reason for e in audit.events if e.action == "admin.forbidden"]
    view, manage = "apps.view", "apps.manage"
    assert reasons == [view, view, manage, view, manage, manage, manage, manage]
    assert sqlite_services.gate_rules.in_force() == []
