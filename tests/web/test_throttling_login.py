"""Throttled sign-in through the web edge: 429 with the wait, in the user's language, the same page
for unknown accounts, and the throttle keyed on the right address (X-Forwarded-For, N = 0 or 1)."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx2
import pytest
from starlette.testclient import TestClient

from quivive.clock import FrozenClock
from quivive.composition import Services
from quivive.domain.throttling import KeyKind
from quivive.protocols import totp
from quivive.services.accounts import NewAccount
from quivive.web.app import create_app
from support.quivive import RecordingAudit, running_services

PASSWORD = "correct horse battery staple 42"
BASE_URL = "http://localhost:8080"


def csrf_token(client: TestClient) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text)
    assert match
    return match[1]


def post_login(
    client: TestClient,
    username: str,
    password: str,
    *,
    forwarded_for: str | None = None,
    language: str = "en",
) -> httpx2.Response:
    headers = {"accept-language": language}
    if forwarded_for is not None:
        headers["x-forwarded-for"] = forwarded_for
    data = {"csrf_token": csrf_token(client), "username": username, "password": password}
    return client.post("/login", data=data, headers=headers, follow_redirects=False)


def alert_text(page: str) -> str:
    match = re.search(r'role="alert"[^>]*>(.*?)</', page, re.DOTALL)
    assert match, "no alert on the page"
    return html.unescape(match[1]).strip()


def sources(services: Services) -> set[str]:
    return {e.key.source for e in services.throttle.entries() if e.key.kind is KeyKind.SOURCE}


def app_client(
    tmp_path: Path, clock: FrozenClock, audit: RecordingAudit, **settings: str
) -> Iterator[tuple[Services, TestClient]]:
    with running_services(tmp_path, clock=clock, audit=audit, settings=settings) as services:
        services.accounts.create(NewAccount("alice", PASSWORD), actor="test")
        with TestClient(create_app(services), base_url=BASE_URL) as client:
            yield services, client


@pytest.fixture
def direct(
    tmp_path: Path, clock: FrozenClock, audit: RecordingAudit
) -> Iterator[tuple[Services, TestClient]]:
    """No proxy in front (trusted_proxies = 0): the socket peer is the client."""
    yield from app_client(tmp_path, clock, audit)


@pytest.fixture
def proxied(
    tmp_path: Path, clock: FrozenClock, audit: RecordingAudit
) -> Iterator[tuple[Services, TestClient]]:
    """One reverse proxy in front (trusted_proxies = 1)."""
    yield from app_client(tmp_path, clock, audit, trusted_proxies="1")


@pytest.fixture
def limited(
    tmp_path: Path, clock: FrozenClock, audit: RecordingAudit
) -> Iterator[tuple[Services, TestClient]]:
    """Behind one proxy, with the consecutive-failure limit at 5 to reach it quickly."""
    yield from app_client(tmp_path, clock, audit, trusted_proxies="1", throttle_max_failures="5")


# --- the throttled page --------------------------------------------------------------------------


def test_throttled_login_answers_429_with_the_wait(direct: tuple[Services, TestClient]) -> None:
    _, client = direct
    answers = [post_login(client, "alice", "wrong").status_code for _ in range(5)]

    throttled = post_login(client, "alice", PASSWORD)  # the right password waits too

    assert answers == [401] * 5
    assert throttled.status_code == 429
    assert throttled.headers["retry-after"] == "1"
    assert alert_text(throttled.text) == (
        "Too many failed attempts. Please wait 1 s before trying again."
    )
    assert 'name="username" value="alice"' in throttled.text  # the form is kept for the retry


def test_throttled_page_is_in_the_users_language(direct: tuple[Services, TestClient]) -> None:
    _, client = direct
    for _ in range(5):
        post_login(client, "alice", "wrong", language="fr")

    throttled = post_login(client, "alice", "wrong", language="fr")

    assert throttled.status_code == 429
    assert alert_text(throttled.text) == (
        "Trop de tentatives échouées. Veuillez patienter 1 s avant de réessayer."
    )


def test_long_waits_are_shown_in_minutes_rounded_up(
    direct: tuple[Services, TestClient], clock: FrozenClock
) -> None:
    _, client = direct
    response = post_login(client, "alice", "wrong")
    for _ in range(40):
        if response.status_code == 429:
            if int(response.headers["retry-after"]) >= 60:
                break
            clock.advance(timedelta(seconds=int(response.headers["retry-after"])))
        response = post_login(client, "alice", "wrong")

    assert response.headers["retry-after"] == "64"  # 5 free, then 1, 2, 4 ... 64 s
    assert "Please wait 2 min before" in alert_text(response.text)


def test_unknown_account_gets_the_same_throttled_page(
    direct: tuple[Services, TestClient],
) -> None:
    _, client = direct
    for name in ("alice", "nobody"):
        for _ in range(5):
            post_login(client, name, "wrong")

    known, unknown = post_login(client, "alice", "x"), post_login(client, "nobody", "x")

    assert (known.status_code, unknown.status_code) == (429, 429)
    assert alert_text(known.text) == alert_text(unknown.text)
    assert known.headers["retry-after"] == unknown.headers["retry-after"]


def test_past_the_limit_the_page_says_a_password_alone_no_longer_suffices(
    limited: tuple[Services, TestClient],
) -> None:
    _, client = limited
    for attempt in range(5):
        for name in ("alice", "nobody"):
            post_login(client, name, "wrong", forwarded_for=f"10.9.0.{attempt}")

    right = post_login(client, "alice", PASSWORD, forwarded_for="10.0.0.7")
    unknown = post_login(client, "nobody", PASSWORD, forwarded_for="10.0.0.7")

    assert (right.status_code, unknown.status_code) == (403, 403)
    assert alert_text(right.text) == alert_text(unknown.text)
    assert "a password alone can no longer open this account" in alert_text(right.text)


# --- which address is throttled ------------------------------------------------------------------


def test_spoofed_forwarded_for_is_ignored_without_trusted_proxies(
    direct: tuple[Services, TestClient],
) -> None:
    services, client = direct
    for number in range(5):
        post_login(client, "alice", "wrong", forwarded_for=f"203.0.113.{number}")

    throttled = post_login(client, "alice", "wrong", forwarded_for="198.51.100.1")

    assert throttled.status_code == 429  # a new header each time did not buy a new address
    assert sources(services) == {"testclient"}  # the socket peer of Starlette's test client


def test_with_one_trusted_proxy_the_address_it_saw_is_throttled(
    proxied: tuple[Services, TestClient],
) -> None:
    services, client = proxied
    for number in range(5):
        # The attacker forges the left part; our proxy appends the address it really saw.
        post_login(client, "alice", "wrong", forwarded_for=f"203.0.113.{number}, 10.0.0.66")

    attacker = post_login(client, "alice", PASSWORD, forwarded_for="198.51.100.1, 10.0.0.66")
    real_user = post_login(client, "alice", PASSWORD, forwarded_for="10.0.0.7")

    assert attacker.status_code == 429
    assert real_user.status_code == 303  # signed in at once from an address that is not failing
    assert sources(services) == {"10.0.0.66"}


def test_real_user_gets_in_while_an_attacker_hammers_through_the_proxy(
    proxied: tuple[Services, TestClient], clock: FrozenClock
) -> None:
    _, client = proxied
    failures = 0
    for _ in range(60):
        response = post_login(client, "alice", "wrong", forwarded_for="10.0.0.66")
        if response.status_code == 429:
            clock.advance(timedelta(seconds=int(response.headers["retry-after"])))
        else:
            failures += 1
        if failures == 20:
            break

    assert post_login(client, "alice", "wrong", forwarded_for="10.0.0.66").status_code == 429
    assert post_login(client, "alice", PASSWORD, forwarded_for="10.0.0.7").status_code == 303


# --- past the limit, password + second factor still opens the account ----------------------------


def enrol_totp(services: Services, clock: FrozenClock) -> str:
    user = services.accounts.get("alice")
    pending = services.totp.begin(user.id, user.username)
    assert services.totp.confirm(user.id, code_at(pending.secret, clock), "Phone")
    clock.advance(timedelta(seconds=60))  # the enrolment code's step is spent
    return pending.secret


def code_at(secret: str, clock: FrozenClock) -> str:
    return totp.code_at(secret, totp.step_at(clock.now()))


def post_login_with_code(
    client: TestClient, password: str, code: str, *, forwarded_for: str
) -> httpx2.Response:
    headers = {"accept-language": "en", "x-forwarded-for": forwarded_for}
    data = {
        "csrf_token": csrf_token(client),
        "username": "alice",
        "password": password,
        "code": code,
    }
    return client.post("/login", data=data, headers=headers, follow_redirects=False)


def hammer(client: TestClient) -> None:
    for attempt in range(5):
        post_login(client, "alice", "wrong", forwarded_for=f"10.9.0.{attempt}")


def test_past_the_limit_the_page_asks_for_the_code_with_the_password(
    limited: tuple[Services, TestClient], clock: FrozenClock
) -> None:
    services, client = limited
    enrol_totp(services, clock)
    hammer(client)

    refused = post_login(client, "alice", PASSWORD, forwarded_for="10.0.0.7")

    assert refused.status_code == 403
    assert 'name="code"' in refused.text
    assert "authenticator app" in alert_text(refused.text)


def test_past_the_limit_password_and_totp_code_still_open_the_account(
    limited: tuple[Services, TestClient], clock: FrozenClock
) -> None:
    services, client = limited
    secret = enrol_totp(services, clock)
    hammer(client)

    response = post_login_with_code(
        client, PASSWORD, code_at(secret, clock), forwarded_for="10.0.0.7"
    )

    assert response.status_code == 303
    assert response.headers["location"] == "/account"
    account = client.get("/account", follow_redirects=False)
    assert account.status_code == 200
    assert "AAL2" in account.text


def test_past_the_limit_a_wrong_or_replayed_code_does_not_open_the_account(
    limited: tuple[Services, TestClient], clock: FrozenClock
) -> None:
    services, client = limited
    secret = enrol_totp(services, clock)
    hammer(client)
    code = code_at(secret, clock)

    wrong = post_login_with_code(client, PASSWORD, "000000", forwarded_for="10.0.0.7")
    right = post_login_with_code(client, PASSWORD, code, forwarded_for="10.0.0.8")
    client.cookies.clear()
    replayed = post_login_with_code(client, PASSWORD, code, forwarded_for="10.0.0.9")

    assert wrong.status_code == 401
    assert right.status_code == 303
    assert replayed.status_code == 401


def test_past_the_limit_the_code_without_the_right_password_does_not_help(
    limited: tuple[Services, TestClient], clock: FrozenClock
) -> None:
    services, client = limited
    secret = enrol_totp(services, clock)
    hammer(client)

    response = post_login_with_code(
        client, "wrong", code_at(secret, clock), forwarded_for="10.0.0.7"
    )

    assert response.status_code == 401
