"""Two-person emergency access where the colleague confirms with their own passkey."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx2
import pytest
from starlette.testclient import TestClient

from quivive.clock import FrozenClock
from quivive.composition import Services
from quivive.domain.users import User
from quivive.protocols import totp
from quivive.services.accounts import NewAccount
from quivive.services.admin import AdminActor
from quivive.services.mfa import Origin
from quivive.web.app import create_app
from support.admin_console import actor
from support.quivive import RecordingAudit, running_services
from support.soft_authenticator import SoftAuthenticator

PASSWORD = "correct horse battery staple 42"
WHY = "Téléphone oublié, patient en détresse respiratoire au box 4."
ORIGIN = "http://localhost:8080"


@pytest.fixture
def services(tmp_path: Path, clock: FrozenClock, audit: RecordingAudit) -> Iterator[Services]:
    settings = {"emergency_roles": "infirmier", "emergency_two_person": "true"}
    with running_services(tmp_path, clock=clock, audit=audit, settings=settings) as built:
        yield built


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    with TestClient(create_app(services), base_url=ORIGIN) as test_client:
        test_client.headers["accept-language"] = "en"
        yield test_client


def person(services: Services, clock: FrozenClock, name: str) -> User:
    """A nurse with a confirmed authenticator app (so sign-in owes a second factor)."""
    user = services.accounts.create(NewAccount(name, PASSWORD, roles=("infirmier",)), actor="t")
    pending = services.totp.begin(user.id, name)
    code = totp.code_at(pending.secret, totp.step_at(clock.now()))
    assert services.totp.confirm(user.id, code, "phone")
    clock.advance(timedelta(seconds=30))
    return user


def with_passkey(services: Services, user: User) -> SoftAuthenticator:
    key = SoftAuthenticator(origin=ORIGIN, rp_id="localhost")
    ceremony = services.passkeys.begin_registration(user)
    response = json.dumps(key.register(ceremony.options))
    services.passkeys.finish_registration(user, ceremony.token, response, "Clé", Origin())
    return key


def csrf(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "no CSRF token in the page"
    return match[1]


def ask_with_witness_key(client: TestClient, key: SoftAuthenticator) -> httpx2.Response:
    """The requester signs in, opens the passkey variant, and the colleague's key answers."""
    token = csrf(client.get("/login").text)
    login = {"csrf_token": token, "username": "alice", "password": PASSWORD, "next": "/account"}
    assert client.post("/login", data=login, follow_redirects=False).status_code == 303
    page = client.get("/login/emergency?witness=passkey&next=/account")
    assert 'data-passkey-options="/login/emergency/witness-options"' in page.text
    assert 'name="witness_code"' not in page.text
    token = csrf(page.text)
    options = client.post("/login/emergency/witness-options", headers={"X-CSRF-Token": token})
    assert options.status_code == 200, options.text
    form = {
        "csrf_token": token,
        "next": "/account",
        "password": PASSWORD,
        "reason": "factor_forgotten",
        "justification": WHY,
        "witness_name": "Bruno",
        "witness_mode": "passkey",
        "credential": json.dumps(key.assertion(options.text)),
    }
    return client.post("/login/emergency", data=form, follow_redirects=False)


def test_a_colleague_confirms_with_their_passkey(
    services: Services, client: TestClient, clock: FrozenClock, audit: RecordingAudit
) -> None:
    person(services, clock, "alice")
    bruno = person(services, clock, "bruno")
    key = with_passkey(services, bruno)

    granted = ask_with_witness_key(client, key)

    assert granted.status_code == 303, granted.text
    [use] = services.emergency.page(admin(services)).items
    assert use.witness_user_id == bruno.id
    confirmed = [e for e in audit.events if e.action == "emergency.witness_confirmed"]
    assert [e.subject for e in confirmed] == ["bruno"]


def test_the_requesters_own_key_or_a_replayed_one_is_refused(
    services: Services, client: TestClient, clock: FrozenClock, audit: RecordingAudit
) -> None:
    alice = person(services, clock, "alice")
    own = with_passkey(services, alice)

    refused = ask_with_witness_key(client, own)

    assert refused.status_code == 400
    assert "must be someone else" in refused.text
    assert 'data-passkey-options="/login/emergency/witness-options"' in refused.text
    stranger = SoftAuthenticator(origin=ORIGIN, rp_id="localhost")  # a key nobody registered
    client.cookies.clear()
    failed = ask_with_witness_key(client, stranger)
    assert failed.status_code == 400
    reasons = [e.reason for e in audit.events if e.action == "emergency.refused"]
    assert reasons == ["witness_is_requester", "witness_failed"]
    assert not any(e.action == "emergency.granted" for e in audit.events)


def test_the_witness_ceremony_needs_two_person_mode_and_a_pending_sign_in(
    services: Services, client: TestClient
) -> None:
    token = csrf(client.get("/login").text)
    headers = {"X-CSRF-Token": token}
    assert client.post("/login/emergency/witness-options", headers=headers).status_code == 404
    assert client.post("/login/emergency/witness-options").status_code == 403


def admin(services: Services) -> AdminActor:
    officer = services.accounts.create(NewAccount("rssi", PASSWORD, roles=("admin",)), actor="t")
    return actor(officer)
