"""Service accounts with a narrower admin scope: ``admin:helpdesk`` acts as helpdesk and
``admin:audit`` as an auditor; every action beyond the role is refused (403) and audited."""

from __future__ import annotations

from collections.abc import Callable

import httpx2
import pytest
from starlette.testclient import TestClient

from quivive.composition import Services
from quivive.domain.admin_roles import roles_for_scopes
from quivive.domain.users import User
from support.admin_console import add_user, service_token, start_session
from support.quivive import RecordingAudit

API = "/api/admin/v1"
Call = Callable[[TestClient, dict[str, str], dict[str, User]], httpx2.Response]

CALLS: dict[str, Call] = {
    "list users": lambda c, h, p: c.get(f"{API}/users", headers=h),
    "reset a nurse's factors": lambda c, h, p: c.post(
        f"{API}/users/{p['nurse'].id}/factors/reset", json={"reason": "lost"}, headers=h
    ),
    "list a nurse's sessions": lambda c, h, p: c.get(
        f"{API}/users/{p['nurse'].id}/sessions", headers=h
    ),
    "disable an administrator": lambda c, h, p: c.post(
        f"{API}/users/{p['admin'].id}/disable", headers=h
    ),
    "grant the admin role": lambda c, h, p: c.patch(
        f"{API}/users/{p['nurse'].id}", json={"roles": ["admin"]}, headers=h
    ),
    "change an MFA rule": lambda c, h, p: c.put(
        f"{API}/policies/mfa/nurse", json={"enforce_from": "2026-02-01"}, headers=h
    ),
    "change the password length": lambda c, h, p: c.put(
        f"{API}/policies/settings/password.min_length", json={"value": 14}, headers=h
    ),
    "read the audit": lambda c, h, p: c.get(f"{API}/audit", headers=h),
    "list throttles": lambda c, h, p: c.get(f"{API}/throttles", headers=h),
}
ALLOWED = {
    "admin:helpdesk": {
        "list users",
        "reset a nurse's factors",
        "list a nurse's sessions",
        "list throttles",
    },
    "admin:audit": {"read the audit"},
    "admin": set(CALLS),
}


@pytest.fixture
def people(sqlite_services: Services) -> dict[str, User]:
    nurse = add_user(sqlite_services, "nina", "nurse")
    start_session(sqlite_services, nurse)
    return {"nurse": nurse, "admin": add_user(sqlite_services, "root", "admin")}


def test_scopes_name_console_roles() -> None:
    assert roles_for_scopes(["admin:audit", "openid"]) == {"auditor"}
    assert roles_for_scopes(["admin:helpdesk", "admin:audit"]) == {"helpdesk", "auditor"}
    assert roles_for_scopes(["admin:everything"]) == frozenset()


@pytest.mark.parametrize("scope", sorted(ALLOWED))
@pytest.mark.parametrize("call", sorted(CALLS))
def test_each_scope_stays_within_its_role(
    client: TestClient,
    sqlite_services: Services,
    audit: RecordingAudit,
    people: dict[str, User],
    scope: str,
    call: str,
) -> None:
    token = service_token(sqlite_services, requested=(scope,), granted=(scope,))
    headers = {"authorization": f"Bearer {token}"}

    response = CALLS[call](client, headers, people)

    if call in ALLOWED[scope]:
        assert response.status_code < 300, response.text
    else:
        assert response.status_code == 403, response.text
        assert response.json()["error"] == "forbidden"
        refused = [e for e in audit.events if e.action == "admin.forbidden"]
        assert [e.actor for e in refused] == [f"client:{token_client(sqlite_services)}"]


def token_client(services: Services) -> str:
    [client] = [c for c in services.oidc.clients.list() if c.name == "automation"]
    return client.client_id


def test_a_client_may_not_ask_for_a_scope_it_was_not_given(
    client: TestClient, sqlite_services: Services
) -> None:
    from quivive.protocols.oidc.errors import OAuthError

    with pytest.raises(OAuthError):
        service_token(sqlite_services, requested=("admin",), granted=("admin:audit",))
