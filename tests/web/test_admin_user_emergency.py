"""A user's emergency uses on their console page and through the admin API's ``user_id`` filter."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from quivive.clock import FrozenClock
from quivive.composition import Services
from quivive.domain.users import User
from quivive.services.accounts import NewAccount
from quivive.web.app import create_app
from quivive.web.routes import admin_console
from support.admin_console import actor, service_token, sign_in_as

PASSWORD = "correct horse battery staple 42"
WHY = "Téléphone oublié, patient en détresse respiratoire au box 4."


@pytest.fixture
def console(sqlite_services: Services) -> Iterator[TestClient]:
    with TestClient(create_app(sqlite_services), base_url="http://localhost:8080") as client:
        client.headers["accept-language"] = "en"
        yield client


def add(services: Services, name: str, *roles: str) -> User:
    return services.accounts.create(NewAccount(name, PASSWORD, roles=roles), actor="test")


def test_the_user_page_lists_their_uses_with_a_link_to_each_review(
    sqlite_services: Services, console: TestClient, clock: FrozenClock
) -> None:
    services = sqlite_services
    alice, bruno = add(services, "alice", "infirmier"), add(services, "bruno", "infirmier")
    officer = add(services, "rssi", "admin")
    use = services.emergency.record_use(alice, "factor_lost", WHY)
    services.emergency.record_use(bruno, "factor_forgotten", WHY)
    services.emergency.review(actor(officer), use.id, "justified", "Vu avec le cadre.")
    sign_in_as(console, services, officer)

    page = console.get(f"/admin/users/{alice.id}").text

    assert 'id="emergency-uses"' in page
    assert f'href="/admin/emergency/{use.id}"' in page
    assert use.started_at.strftime("%Y-%m-%d %H:%M") in page
    assert "Phone or key lost or stolen" in page
    assert "justified" in page
    assert page.count("/admin/emergency/") == 1  # bruno's use is not on alice's page
    assert 'id="no-emergency"' in console.get(f"/admin/users/{officer.id}").text


def test_more_uses_than_the_page_shows_link_to_the_queue_filtered_by_user(
    sqlite_services: Services, console: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    services = sqlite_services
    alice, officer = add(services, "alice", "infirmier"), add(services, "rssi", "admin")
    service = services.emergency
    for _ in range(3):  # the default limit is 3 per 30 days: seed around it
        service.record_use(alice, "factor_lost", WHY)
    sign_in_as(console, services, officer)
    monkeypatch.setattr(admin_console, "USER_EMERGENCY_USES", 2)

    page = console.get(f"/admin/users/{alice.id}").text

    assert f'href="/admin/emergency?user_id={alice.id}"' in page
    queue = console.get(f"/admin/emergency?user_id={alice.id}").text
    assert queue.count('<tr><td><a href="/admin/emergency/') == 3
    assert f'name="user_id" value="{alice.id}"' in queue


def test_helpdesk_sees_the_user_page_without_emergency_uses(
    sqlite_services: Services, console: TestClient
) -> None:
    services = sqlite_services
    alice, helper = add(services, "alice", "infirmier"), add(services, "support", "helpdesk")
    services.emergency.record_use(alice, "factor_lost", WHY)
    sign_in_as(console, services, helper)

    page = console.get(f"/admin/users/{alice.id}")

    assert page.status_code == 200
    assert 'id="emergency-title"' not in page.text


def test_the_api_filters_uses_by_user(sqlite_services: Services, console: TestClient) -> None:
    services = sqlite_services
    alice, bruno = add(services, "alice", "infirmier"), add(services, "bruno", "infirmier")
    services.emergency.record_use(alice, "factor_lost", WHY)
    services.emergency.record_use(bruno, "factor_lost", WHY)
    headers = {"authorization": "Bearer " + service_token(services)}
    url = "/api/admin/v1/emergency-accesses"

    mine = console.get(f"{url}?user_id={alice.id}", headers=headers).json()
    everyone = console.get(url, headers=headers).json()

    assert [item["username"] for item in mine["items"]] == ["alice"]
    assert len(everyone["items"]) == 2
    assert console.get(f"{url}?user_id=0", headers=headers).status_code == 422
