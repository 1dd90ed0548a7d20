"""A factor reset by an administrator: the console and API show the mark, the user's next sign-in
stops at the enrolment wall (even with no MFA rule for the role), enrolling lifts it."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from urllib.parse import urlsplit

import httpx2
import pytest
from starlette.testclient import TestClient

from quivive.clock import FrozenClock
from quivive.composition import Services
from quivive.domain.users import User
from quivive.protocols import totp
from support.admin_console import PASSWORD, add_user, csrf_token, service_token, sign_in_as
from support.quivive import RecordingAudit
from support.soft_authenticator import SoftAuthenticator

API = "/api/admin/v1"
WALL = "/account/mfa-required"


@pytest.fixture(autouse=True)
def english(client: TestClient) -> None:
    client.headers["accept-language"] = "en"


@pytest.fixture
def alice(sqlite_services: Services) -> User:
    return add_user(sqlite_services, "alice", "nurse")  # no MFA rule for nurses


def location(response: httpx2.Response) -> str:
    assert response.status_code == 303, response.text
    return response.headers["location"]


def log_in(client: TestClient) -> httpx2.Response:
    data = {"csrf_token": csrf_token(client.get("/login").text), "username": "alice"}
    return client.post("/login", data={**data, "password": PASSWORD}, follow_redirects=False)


def enrol_totp(client: TestClient, clock: FrozenClock) -> None:
    page = client.get("/account/totp/enrol").text
    secret = re.search(r'id="secret" readonly value="([A-Z2-7]+)"', page)
    assert secret, "no TOTP key on the page"
    code = totp.code_at(secret[1], totp.step_at(clock.now()))
    data = {"csrf_token": csrf_token(page), "code": code, "name": "Phone"}
    assert client.post("/account/totp/enrol", data=data, follow_redirects=False).is_success
    clock.advance(timedelta(seconds=60))  # the enrolment code's step is spent


def console_reset(client: TestClient, services: Services, user: User) -> httpx2.Response:
    """Reset ``user``'s factors from the console as an administrator, then forget that session."""
    sign_in_as(client, services, add_user(services, "root", "admin"))
    page = f"/admin/users/{user.id}"
    data = {"csrf_token": csrf_token(client.get(page).text), "reason": "phone stolen"}
    client.post(f"{page}/factors/reset", data={**data, "confirm": "yes"}, follow_redirects=False)
    response = client.get(f"{page}?notice=factors_reset")
    client.cookies.clear()
    return response


def test_reset_sends_the_next_sign_in_to_the_wall_and_totp_lifts_it(
    client: TestClient,
    sqlite_services: Services,
    alice: User,
    clock: FrozenClock,
    audit: RecordingAudit,
) -> None:
    log_in(client)
    enrol_totp(client, clock)
    client.cookies.clear()

    page = console_reset(client, sqlite_services, alice)

    assert "the user will have to enrol a second factor at next sign-in" in page.text
    assert 'id="must-enrol"' in page.text
    assert "Must enrol a second factor at next sign-in" in page.text
    assert urlsplit(location(log_in(client))).path == WALL
    assert urlsplit(location(client.get("/account", follow_redirects=False))).path == WALL
    enrol_totp(client, clock)
    assert client.get("/account", follow_redirects=False).status_code == 200
    assert not sqlite_services.users.get(alice.id).must_enrol
    actions = [e.action for e in audit.events if e.subject == "alice"]
    assert actions.index("factors.reset") < actions.index("enrolment.completed")
    reset = next(e for e in audit.events if e.action == "factors.reset")
    assert (reset.actor, reset.reason or reset.details["reason"]) == ("root", "phone stolen")


def test_a_registered_passkey_lifts_the_mark(
    client: TestClient, sqlite_services: Services, alice: User, audit: RecordingAudit
) -> None:
    console_reset(client, sqlite_services, alice)
    assert urlsplit(location(log_in(client))).path == WALL
    key = SoftAuthenticator(origin="http://localhost:8080", rp_id="localhost")

    token = csrf_token(client.get("/account/passkeys").text)
    options = client.post("/passkeys/options/register", headers={"X-CSRF-Token": token}).text
    credential = json.dumps(key.register(options))
    data = {"csrf_token": token, "name": "Badge", "credential": credential}
    added = client.post("/account/passkeys", data=data, follow_redirects=False)

    assert location(added) == "/account/passkeys?notice=added"
    assert not sqlite_services.users.get(alice.id).must_enrol
    done = next(e for e in audit.events if e.action == "enrolment.completed")
    assert done.details["factor"] == "passkey"


def test_the_french_notice_says_so_too(
    client: TestClient, sqlite_services: Services, alice: User
) -> None:
    client.headers["accept-language"] = "fr"

    page = console_reset(client, sqlite_services, alice)

    assert "devra enrôler un second facteur à sa prochaine connexion" in page.text
    assert "Doit enrôler un second facteur à la prochaine connexion" in page.text


def test_the_api_user_resource_shows_the_mark(
    client: TestClient, sqlite_services: Services, alice: User, clock: FrozenClock
) -> None:
    bearer = {"authorization": "Bearer " + service_token(sqlite_services)}
    before = client.get(f"{API}/users/{alice.id}", headers=bearer).json()

    client.post(f"{API}/users/{alice.id}/factors/reset", json={"reason": "lost"}, headers=bearer)
    after = client.get(f"{API}/users/{alice.id}", headers=bearer).json()
    listed = client.get(f"{API}/users", headers=bearer).json()["items"]

    assert (before["must_enrol"], before["enrolment_required_at"]) == (False, None)
    assert after["must_enrol"] is True
    assert after["enrolment_required_at"].startswith(clock.now().strftime("%Y-%m-%dT%H:%M"))
    assert [u["must_enrol"] for u in listed if u["username"] == "alice"] == [True]
