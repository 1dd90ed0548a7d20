"""Set-up / re-enrolment links from the console and API: e-mailed or shown, single use, expiring,
audited, refused beyond the actor's role; the user's page in French and English."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from starlette.testclient import TestClient

from quivive.clock import FrozenClock
from quivive.composition import Services
from quivive.web.app import create_app
from support.admin_console import add_user, csrf_token, service_token, sign_in_as
from support.quivive import RecordingAudit

NEW_PASSWORD = "lantern-orchard-meadow-42"


class Outbox:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str]] = []

    def send(self, to: str, subject: str, body: str) -> bool:
        self.sent.append((to, subject, body))
        return True


@pytest.fixture
def outbox() -> Outbox:
    return Outbox()


@pytest.fixture
def mailing(sqlite_services: Services, outbox: Outbox) -> Iterator[TestClient]:
    services = dataclasses.replace(sqlite_services, mailer=outbox)
    with TestClient(create_app(services), base_url="http://localhost:8080") as client:
        client.headers["accept-language"] = "en"
        yield client


def _send(client: TestClient, user_id: int) -> str:
    token = csrf_token(client.get(f"/admin/users/{user_id}").text)
    response = client.post(f"/admin/users/{user_id}/enrolment-link", data={"csrf_token": token})
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    return response.text


def _link(page: str) -> str:
    match = re.search(r'id="link" value="http://localhost:8080(/enrol/[^"]+)"', page)
    assert match, "no link shown"
    return match.group(1)


def _choose(client: TestClient, path: str, password: str, confirm: str | None = None) -> str:
    token = csrf_token(client.get(path).text)
    data = {"password": password, "password_confirm": confirm or password, "csrf_token": token}
    return client.post(path, data=data).text


def test_a_user_without_e_mail_gets_a_link_shown_to_the_admin(
    client: TestClient, sqlite_services: Services, audit: RecordingAudit
) -> None:
    client.headers["accept-language"] = "en"
    sign_in_as(client, sqlite_services, add_user(sqlite_services, "desk", "helpdesk"))
    nina = add_user(sqlite_services, "nina", "nurse", password=False)

    path = _link(_send(client, nina.id))
    client.cookies.clear()
    too_short = _choose(client, path, "short")
    differ = _choose(client, path, NEW_PASSWORD, "something-else-entirely")
    done = _choose(client, path, NEW_PASSWORD)
    again = client.get(path)

    assert 'id="enrol-errors"' in too_short
    assert "The two passwords are different." in differ
    assert 'id="enrol-done"' in done
    assert again.status_code == 404
    stored = sqlite_services.users.get(nina.id).password_hash or ""
    assert sqlite_services.hasher.verify_sync(stored, NEW_PASSWORD)
    sent = next(e for e in audit.events if e.action == "admin.enrolment_link_sent")
    assert (sent.actor, sent.subject, sent.details["delivery"]) == ("desk", "nina", "shown")
    assert path.removeprefix("/enrol/") not in str(sent.details)
    assert ("user.enrolment_link_used", "success") in audit.actions()


def test_the_link_is_e_mailed_in_french_and_not_shown(
    mailing: TestClient, sqlite_services: Services, outbox: Outbox
) -> None:
    sign_in_as(mailing, sqlite_services, add_user(sqlite_services, "root", "admin"))
    nina = sqlite_services.accounts.create(
        dataclasses.replace(_nurse(), email="nina@chu.example"), actor="test"
    )

    page = _send(mailing, nina.id)

    assert 'id="link-emailed"' in page
    assert "/enrol/" not in page
    [(to, subject, body)] = outbox.sent
    assert to == "nina@chu.example"
    assert subject.startswith("Votre accès")  # the establishment's language, French by default
    assert "http://localhost:8080/enrol/" in body


def _nurse():  # type: ignore[no-untyped-def]
    from quivive.services.accounts import NewAccount

    return NewAccount("nina", None, roles=["nurse"])


def test_a_new_link_retires_the_old_and_links_expire(
    client: TestClient, sqlite_services: Services, clock: FrozenClock
) -> None:
    client.headers["accept-language"] = "fr"
    sign_in_as(client, sqlite_services, add_user(sqlite_services, "root", "admin"))
    nina = add_user(sqlite_services, "nina", "nurse")

    first = _link(_send(client, nina.id))
    second = _link(_send(client, nina.id))

    assert client.get(first).status_code == 404
    page = client.get(second)
    assert page.status_code == 200
    assert "Choisissez votre mot de passe" in page.text
    clock.advance(sqlite_services.settings.admin.enrolment_link_lifetime + timedelta(seconds=1))
    assert client.get(second).status_code == 404


@pytest.mark.parametrize(("role", "target_role"), [("helpdesk", "admin"), ("auditor", "nurse")])
def test_beyond_the_role_it_is_refused_and_audited(
    client: TestClient,
    sqlite_services: Services,
    audit: RecordingAudit,
    role: str,
    target_role: str,
) -> None:
    sign_in_as(client, sqlite_services, add_user(sqlite_services, "someone", role))
    target = add_user(sqlite_services, "target", target_role)
    token = client.get("/api/admin/v1/csrf-token").json()["csrf_token"]

    response = client.post(f"/admin/users/{target.id}/enrolment-link", data={"csrf_token": token})

    assert response.status_code == 403
    assert ("admin.forbidden", "failure") in audit.actions()
    assert ("admin.enrolment_link_sent", "success") not in audit.actions()


def test_api_returns_the_link_only_when_not_e_mailed(
    client: TestClient, sqlite_services: Services
) -> None:
    bearer = {"authorization": "Bearer " + service_token(sqlite_services)}
    nina = add_user(sqlite_services, "nina", "nurse")

    issued = client.post(f"/api/admin/v1/users/{nina.id}/enrolment-link", headers=bearer)
    missing = client.post("/api/admin/v1/users/999999/enrolment-link", headers=bearer)

    assert issued.status_code == 200, issued.text
    body = issued.json()
    assert body["emailed_to"] is None
    assert body["url"].startswith("http://localhost:8080/enrol/")
    assert issued.headers["cache-control"] == "no-store"
    assert missing.status_code == 404
