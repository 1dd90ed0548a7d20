"""Attack: a helpdesk operator clears the throttle that holds an administrator's account.

Every other change to a console account needs ``admins.manage``; clearing its throttle would let
helpdesk lift the brake on a password-guessing attack against an administrator, so it is refused
(403, ``admin.forbidden`` audited) on the console and the API alike.
"""

from __future__ import annotations

from starlette.testclient import TestClient

from quivive.composition import Services
from quivive.domain.audit import Outcome
from support.admin_console import add_user, csrf_token, service_token, sign_in_as
from support.quivive import RecordingAudit


def _throttle(services: Services, username: str) -> None:
    attempt = services.throttle.admit(username, "192.0.2.1")
    services.throttle.failed(attempt, "guess")


def _held(services: Services, username: str) -> bool:
    return any(entry.key.account == username for entry in services.throttle.entries())


def _forbidden(audit: RecordingAudit) -> list[tuple[str | None, str | None]]:
    return [
        (event.subject, event.reason)
        for event in audit.events
        if event.action == "admin.forbidden" and event.outcome is Outcome.FAILURE
    ]


def test_helpdesk_cannot_clear_an_admins_throttle_on_the_console(
    client: TestClient, sqlite_services: Services, audit: RecordingAudit
) -> None:
    root = add_user(sqlite_services, "root", "admin")
    _throttle(sqlite_services, "root")
    sign_in_as(client, sqlite_services, add_user(sqlite_services, "desk", "helpdesk"))
    token = csrf_token(client.get(f"/admin/users/{root.id}").text)

    response = client.post(
        f"/admin/users/{root.id}/throttle/clear", data={"csrf_token": token, "confirm": "yes"}
    )

    assert response.status_code == 403
    assert _held(sqlite_services, "root")
    assert ("root", "admins.manage") in _forbidden(audit)
    assert "throttle.cleared" not in {event.action for event in audit.events}


def test_helpdesk_token_cannot_clear_an_admins_throttle_through_the_api(
    client: TestClient, sqlite_services: Services, audit: RecordingAudit
) -> None:
    add_user(sqlite_services, "root", "admin")
    _throttle(sqlite_services, "root")
    token = service_token(
        sqlite_services, requested=("admin:helpdesk",), granted=("admin:helpdesk",)
    )
    headers = {"authorization": f"Bearer {token}"}

    response = client.post(
        "/api/admin/v1/throttles/clear", json={"target": "ROOT"}, headers=headers
    )

    assert response.status_code == 403, response.text
    assert response.json()["error"] == "forbidden"
    assert _held(sqlite_services, "root")
    assert ("root", "admins.manage") in _forbidden(audit)


def test_helpdesk_still_clears_a_nurses_throttle(
    client: TestClient, sqlite_services: Services
) -> None:
    add_user(sqlite_services, "nina", "nurse")
    _throttle(sqlite_services, "nina")
    token = service_token(
        sqlite_services, requested=("admin:helpdesk",), granted=("admin:helpdesk",)
    )
    headers = {"authorization": f"Bearer {token}"}

    response = client.post(
        "/api/admin/v1/throttles/clear", json={"target": "nina"}, headers=headers
    )

    assert response.status_code == 200, response.text
    assert not _held(sqlite_services, "nina")


def test_helpdesk_cannot_clear_an_address_that_holds_an_admin(
    client: TestClient, sqlite_services: Services, audit: RecordingAudit
) -> None:
    """Clearing an address also forgets its address-and-account counters: the one guessing at
    root's password from 192.0.2.1 must not be released by helpdesk clearing the address."""
    add_user(sqlite_services, "root", "admin")
    _throttle(sqlite_services, "root")
    token = service_token(
        sqlite_services, requested=("admin:helpdesk",), granted=("admin:helpdesk",)
    )
    headers = {"authorization": f"Bearer {token}"}

    response = client.post(
        "/api/admin/v1/throttles/clear", json={"target": "192.0.2.1"}, headers=headers
    )

    assert response.status_code == 403, response.text
    assert _held(sqlite_services, "root")
    assert ("root", "admins.manage") in _forbidden(audit)
