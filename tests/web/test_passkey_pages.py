"""Passkeys through the web edge: registration, passwordless sign-in, second factor, refusals."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import httpx2
import pytest
from starlette.testclient import TestClient

from quivive.clock import FrozenClock
from quivive.composition import Services
from quivive.services.accounts import NewAccount
from quivive.services.mfa import Origin
from support.quivive import RecordingAudit
from support.soft_authenticator import SoftAuthenticator

PASSWORD = "correct horse battery staple 42"
ORIGIN = "http://localhost:8080"


def csrf_token(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "no CSRF token in the page"
    return match[1]


def options(client: TestClient, purpose: str, token: str) -> str:
    response = client.post(f"/passkeys/options/{purpose}", headers={"X-CSRF-Token": token})
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    return response.text


def sign_in_with_password(client: TestClient) -> httpx2.Response:
    token = csrf_token(client.get("/login").text)
    data = {"csrf_token": token, "username": "alice", "password": PASSWORD}
    return client.post("/login", data=data, follow_redirects=False)


def add_passkey(client: TestClient, key: SoftAuthenticator, name: str = "Clé") -> httpx2.Response:
    token = csrf_token(client.get("/account/passkeys").text)
    credential = json.dumps(key.register(options(client, "register", token)))
    data = {"csrf_token": token, "name": name, "credential": credential}
    return client.post("/account/passkeys", data=data, follow_redirects=False)


def passwordless(client: TestClient, key: SoftAuthenticator, next_url: str = "") -> httpx2.Response:
    token = csrf_token(client.get("/login").text)
    credential = json.dumps(key.assertion(options(client, "login", token)))
    data = {"csrf_token": token, "credential": credential, "next": next_url}
    return client.post("/login/passkey", data=data, follow_redirects=False)


def sign_out(client: TestClient) -> None:
    token = csrf_token(client.get("/logout").text)
    client.post("/logout", data={"csrf_token": token}, follow_redirects=False)


@pytest.fixture
def key() -> SoftAuthenticator:
    return SoftAuthenticator(origin=ORIGIN, rp_id="localhost")


@pytest.fixture
def alice_client(client: TestClient, sqlite_services: Services) -> TestClient:
    account = NewAccount(username="alice", password=PASSWORD, display_name="Alice Martin")
    sqlite_services.accounts.create(account, actor="test")
    assert sign_in_with_password(client).status_code == 303
    return client


def test_login_page_offers_a_passkey_with_autofill(client: TestClient) -> None:
    page = client.get("/login").text

    assert 'autocomplete="username webauthn"' in page
    assert 'action="/login/passkey"' in page
    assert "data-passkey-autofill" in page
    assert '<script src="/static/passkeys.js" defer></script>' in page
    assert "onclick" not in page


def test_script_is_served_from_our_origin(client: TestClient) -> None:
    response = client.get("/static/passkeys.js")

    assert response.status_code == 200
    assert "parseRequestOptionsFromJSON" in response.text
    assert "toJSON()" in response.text


def test_register_sign_out_and_sign_in_with_the_passkey(
    alice_client: TestClient, key: SoftAuthenticator, audit: RecordingAudit
) -> None:
    added = add_passkey(alice_client, key, "Poste infirmier")
    assert added.headers["location"] == "/account/passkeys?notice=added"
    sign_out(alice_client)

    response = passwordless(alice_client, key, "/account")

    assert response.status_code == 303
    assert response.headers["location"] == "/account"
    account = alice_client.get("/account").text
    assert 'id="aal">AAL3<' in account
    assert re.search(r'id="amr">[^<]*hwk, user, mfa', account)
    assert ("login.passkey", "success") in audit.actions()


def test_ceremony_cookie_is_httponly_and_short_lived(client: TestClient) -> None:
    token = csrf_token(client.get("/login").text)

    response = client.post("/passkeys/options/login", headers={"X-CSRF-Token": token})

    cookie = response.headers["set-cookie"].lower()
    assert cookie.startswith("quivive_webauthn=")
    assert "httponly" in cookie
    assert "max-age=300" in cookie
    assert "samesite=lax" in cookie


def test_options_need_the_csrf_token(client: TestClient) -> None:
    client.get("/login")

    assert client.post("/passkeys/options/login").status_code == 403
    bad = client.post("/passkeys/options/login", headers={"X-CSRF-Token": "0" * 64})
    assert bad.status_code == 403


def test_options_from_another_origin_are_refused(client: TestClient) -> None:
    token = csrf_token(client.get("/login").text)
    headers = {"X-CSRF-Token": token, "Origin": "https://evil.example"}

    assert client.post("/passkeys/options/login", headers=headers).status_code == 403


def test_refused_passkey_returns_to_the_login_page_with_a_message(
    alice_client: TestClient, key: SoftAuthenticator
) -> None:
    add_passkey(alice_client, key)
    sign_out(alice_client)
    key.origin = "http://localhost:9999"

    response = passwordless(alice_client, key)

    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?")
    page = alice_client.get(response.headers["location"]).text
    assert re.search(r'id="login-error">Votre cl[^<]+pas pu être utilisée', page)
    assert alice_client.get("/account", follow_redirects=False).status_code == 303


def test_registration_needs_a_recent_sign_in(alice_client: TestClient, clock: FrozenClock) -> None:
    clock.advance(timedelta(minutes=5, seconds=1))
    token = csrf_token(alice_client.get("/login").text)

    page = alice_client.get("/account/passkeys", follow_redirects=False)
    refused = alice_client.post("/passkeys/options/register", headers={"X-CSRF-Token": token})

    assert page.status_code == 303
    assert page.headers["location"].startswith("/account/reauth?")
    assert refused.status_code == 403


def test_registration_needs_a_session(client: TestClient) -> None:
    response = client.get("/account/passkeys", follow_redirects=False)

    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?")


def test_password_then_passkey_as_second_factor(
    alice_client: TestClient, key: SoftAuthenticator, sqlite_services: Services
) -> None:
    key.user_verified = False  # a security key without PIN: one factor, the missing one
    add_passkey(alice_client, key)
    sign_out(alice_client)

    after_password = sign_in_with_password(alice_client)
    chooser = alice_client.get(after_password.headers["location"], follow_redirects=False)
    # The passkey is the only factor: the chooser goes straight to its page.
    assert chooser.headers["location"] == "/login/second-factor/passkey?next=%2Faccount"
    page = alice_client.get(chooser.headers["location"]).text
    token = csrf_token(page)
    credential = json.dumps(key.assertion(options(alice_client, "second-factor", token)))
    data = {"csrf_token": token, "credential": credential, "next": "/account"}
    response = alice_client.post("/login/second-factor/passkey", data=data, follow_redirects=False)

    assert response.status_code == 303
    assert response.headers["location"] == "/account"
    account = alice_client.get("/account").text
    assert 'id="aal">AAL2<' in account
    assert re.search(r'id="amr">[^<]*pwd, hwk, mfa', account)


def test_failed_second_factor_stays_on_the_passkey_page(
    alice_client: TestClient, key: SoftAuthenticator
) -> None:
    add_passkey(alice_client, key)
    sign_out(alice_client)
    sign_in_with_password(alice_client)
    token = csrf_token(alice_client.get("/login/second-factor/passkey").text)
    options(alice_client, "second-factor", token)
    data = {"csrf_token": token, "credential": "{}", "next": "/account"}

    response = alice_client.post("/login/second-factor/passkey", data=data, follow_redirects=False)

    assert response.headers["location"].startswith("/login/second-factor/passkey?")
    assert "error=passkey" in response.headers["location"]


def test_new_passkey_must_be_proved_before_the_account_opens_again(
    alice_client: TestClient, key: SoftAuthenticator
) -> None:
    # Registration (attestation "none") signs nothing with the new key, so it proves nothing:
    # the password-only session now owes the second factor, like any session of this user.
    add_passkey(alice_client, key, "Poste infirmier")

    gated = alice_client.get("/account/passkeys", follow_redirects=False)
    assert gated.headers["location"].startswith("/login/second-factor?")
    prove_second_factor(alice_client, key, "/account/passkeys")

    page = alice_client.get("/account/passkeys").text
    assert "Poste infirmier" in page
    assert "Jamais" not in page  # last use is shown


def prove_second_factor(client: TestClient, key: SoftAuthenticator, next_url: str) -> None:
    token = csrf_token(client.get(f"/login/second-factor/passkey?next={next_url}").text)
    credential = json.dumps(key.assertion(options(client, "second-factor", token)))
    data = {"csrf_token": token, "credential": credential, "next": next_url}
    response = client.post("/login/second-factor/passkey", data=data, follow_redirects=False)
    assert response.headers["location"] == next_url


def test_several_passkeys_are_listed(
    alice_client: TestClient, key: SoftAuthenticator, sqlite_services: Services
) -> None:
    add_passkey(alice_client, key, "Téléphone")
    prove_second_factor(alice_client, key, "/account/passkeys")
    second = SoftAuthenticator(origin=ORIGIN, rp_id="localhost", backup_eligible=True)

    add_passkey(alice_client, second, "Clé USB")

    page = alice_client.get("/account/passkeys").text
    assert page.count('class="passkey"') == 2
    assert "Synchronisée entre vos appareils" in page


# --- re-authentication with a passkey ----------------------------------------------------------


def reauthenticate(client: TestClient, key: SoftAuthenticator, next_url: str) -> httpx2.Response:
    page = client.get(f"/account/reauth?next={next_url}").text
    token = csrf_token(page)
    credential = json.dumps(key.assertion(options(client, "reauth", token)))
    data = {"csrf_token": token, "credential": credential, "next": next_url}
    return client.post("/account/reauth/passkey", data=data, follow_redirects=False)


@pytest.fixture
def passkey_only_client(
    client: TestClient, sqlite_services: Services, key: SoftAuthenticator
) -> TestClient:
    """Bob has no password at all: his one way in, and back in, is his passkey."""
    bob = sqlite_services.accounts.create(NewAccount(username="bob", password=None), actor="test")
    ceremony = sqlite_services.passkeys.begin_registration(bob)
    credential = key.register(ceremony.options)
    origin = Origin(source_address="127.0.0.1", user_agent="test")
    sqlite_services.passkeys.finish_registration(bob, ceremony.token, credential, "Clé", origin)
    assert passwordless(client, key, "/account").headers["location"] == "/account"
    return client


def test_passkey_only_user_passes_the_reauthentication_page(
    passkey_only_client: TestClient,
    key: SoftAuthenticator,
    clock: FrozenClock,
    audit: RecordingAudit,
) -> None:
    clock.advance(timedelta(minutes=5, seconds=1))
    gated = passkey_only_client.get("/account/passkeys", follow_redirects=False)
    assert gated.headers["location"].startswith("/account/reauth?")
    page = passkey_only_client.get(gated.headers["location"]).text
    assert 'action="/account/reauth/passkey"' in page
    assert 'name="password"' not in page  # he has none to type

    response = reauthenticate(passkey_only_client, key, "/account/passkeys")

    assert response.headers["location"] == "/account/passkeys"
    assert passkey_only_client.get("/account/passkeys", follow_redirects=False).status_code == 200
    events = [event for event in audit.events if event.action == "reauthentication"]
    assert [event.details["method"] for event in events] == ["passkey"]


def test_password_user_with_a_passkey_is_offered_both(
    alice_client: TestClient, key: SoftAuthenticator
) -> None:
    add_passkey(alice_client, key)

    page = alice_client.get("/account/reauth?next=/account").text

    assert 'action="/account/reauth/passkey"' in page
    assert 'action="/account/reauth"' in page
    assert 'name="password"' in page


def test_reauthentication_refuses_a_key_without_user_verification(
    passkey_only_client: TestClient, key: SoftAuthenticator, clock: FrozenClock
) -> None:
    # Re-authentication stands in for the password: possession alone does not prove the person.
    clock.advance(timedelta(minutes=6))
    key.user_verified = False

    response = reauthenticate(passkey_only_client, key, "/account/passkeys")

    assert "/account/reauth?" in response.headers["location"]
    assert "error=passkey" in response.headers["location"]
    still_gated = passkey_only_client.get("/account/passkeys", follow_redirects=False)
    assert still_gated.headers["location"].startswith("/account/reauth?")


def test_reauthentication_refuses_someone_elses_key(
    passkey_only_client: TestClient, sqlite_services: Services, clock: FrozenClock
) -> None:
    intruder_key = SoftAuthenticator(origin=ORIGIN, rp_id="localhost")
    eve = sqlite_services.accounts.create(NewAccount(username="eve", password=None), actor="t")
    ceremony = sqlite_services.passkeys.begin_registration(eve)
    origin = Origin(source_address="127.0.0.1", user_agent="test")
    credential = intruder_key.register(ceremony.options)
    sqlite_services.passkeys.finish_registration(eve, ceremony.token, credential, "Clé", origin)
    clock.advance(timedelta(minutes=6))
    token = csrf_token(passkey_only_client.get("/account/reauth?next=/account").text)
    # Bob's ceremony lists Bob's keys; Eve's key answers it anyway.
    ceremony_options = json.loads(options(passkey_only_client, "reauth", token))
    ceremony_options["allowCredentials"] = []
    forged = json.dumps(intruder_key.assertion(json.dumps(ceremony_options)))
    data = {"csrf_token": token, "credential": forged, "next": "/account"}

    response = passkey_only_client.post(
        "/account/reauth/passkey", data=data, follow_redirects=False
    )

    assert "error=passkey" in response.headers["location"]


def test_a_reauthentication_assertion_cannot_be_replayed(
    passkey_only_client: TestClient, key: SoftAuthenticator, clock: FrozenClock
) -> None:
    clock.advance(timedelta(minutes=6))
    token = csrf_token(passkey_only_client.get("/account/reauth?next=/account").text)
    credential = json.dumps(key.assertion(options(passkey_only_client, "reauth", token)))
    data = {"csrf_token": token, "credential": credential, "next": "/account"}
    first = passkey_only_client.post("/account/reauth/passkey", data=data, follow_redirects=False)
    clock.advance(timedelta(minutes=6))

    replay = passkey_only_client.post("/account/reauth/passkey", data=data, follow_redirects=False)

    assert first.headers["location"] == "/account"
    assert "error=passkey" in replay.headers["location"]
