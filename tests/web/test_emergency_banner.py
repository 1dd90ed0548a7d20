"""The emergency-access banner is on every page Quivive renders for an emergency session.

Pages that read the session (the account page) have always shown it; those that do not (the
sign-in page, still served to a signed-in browser, the sign-out page and the error pages) look
the session up for the banner alone.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from quivive.clock import FrozenClock
from quivive.composition import Services
from quivive.domain.sessions import AssuranceLevel
from quivive.protocols import totp
from quivive.services.accounts import NewAccount
from quivive.web.app import create_app
from support.quivive import running_services

PASSWORD = "correct horse battery staple 42"
WHY = "Téléphone oublié, patient en détresse respiratoire au box 4, prescription urgente."
BANNER = 'id="emergency-banner"'
# The sign-in and sign-out pages, an error page from the exception handler, error pages a route
# renders itself (unknown enrolment and set-up links), and a page that reads the session.
PAGES = ["/login", "/logout", "/no-such-page", "/enrol/no-such-link", "/setup/nope", "/account"]
NOT_FOUND = {"/no-such-page", "/enrol/no-such-link", "/setup/nope"}


@pytest.fixture
def services(tmp_path: Path, clock: FrozenClock) -> Iterator[Services]:
    with running_services(
        tmp_path, clock=clock, settings={"emergency_roles": "infirmier"}
    ) as built:
        yield built


def add_alice(services: Services, clock: FrozenClock) -> None:
    """A nurse with TOTP: the role and the factor emergency access is offered for."""
    user = services.accounts.create(NewAccount("alice", PASSWORD, roles=("infirmier",)), actor="t")
    secret = services.totp.begin(user.id, "alice").secret
    assert services.totp.confirm(user.id, totp.code_at(secret, totp.step_at(clock.now())), "p")
    clock.advance(timedelta(seconds=30))


def browser(services: Services, language: str) -> TestClient:
    client = TestClient(create_app(services), base_url="http://localhost:8080")
    client.headers["accept-language"] = language
    return client


def emergency_session(services: Services, clock: FrozenClock, language: str) -> TestClient:
    """A browser that signed in with its password, then broke the glass instead of the TOTP."""
    add_alice(services, clock)
    client = browser(services, language)
    page = client.get("/login")
    form = {"csrf_token": csrf(page.text), "username": "alice", "password": PASSWORD}
    client.post("/login", data={**form, "next": "/account"}, follow_redirects=False)
    open_emergency(client)
    return client


def csrf(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "no CSRF token in the page"
    return match[1]


def open_emergency(client: TestClient) -> None:
    page = client.get("/login/emergency?next=/account", follow_redirects=False)
    form = {
        "csrf_token": csrf(page.text),
        "next": "/account",
        "password": PASSWORD,
        "reason": "factor_forgotten",
        "justification": WHY,
        "witness_name": "Dr Martin",
    }
    answer = client.post("/login/emergency", data=form, follow_redirects=False)
    assert answer.headers["location"] == "/account"


@pytest.mark.parametrize(
    ("language", "title"), [("fr", "Accès d'urgence"), ("en", "Emergency access")]
)
@pytest.mark.parametrize("path", PAGES)
def test_every_page_of_an_emergency_session_carries_the_banner(
    services: Services, clock: FrozenClock, path: str, language: str, title: str
) -> None:
    client = emergency_session(services, clock, language)

    page = client.get(path, follow_redirects=False)

    assert page.status_code == (404 if path in NOT_FOUND else 200)
    assert BANNER in page.text
    assert title in html.unescape(page.text)


@pytest.mark.parametrize("path", PAGES)
def test_a_normal_session_carries_no_banner(
    services: Services, clock: FrozenClock, path: str
) -> None:
    add_alice(services, clock)
    client = browser(services, "en")
    token = services.sessions.start(
        services.accounts.get("alice"),
        amr=("pwd", "otp", "mfa"),
        aal=AssuranceLevel.AAL2,
        source_address="127.0.0.1",
        user_agent="test",
    )
    client.cookies.set("quivive_session", token)

    page = client.get(path, follow_redirects=False)

    assert page.status_code == (404 if path in NOT_FOUND else 200)
    assert BANNER not in page.text


def test_a_refused_form_of_an_emergency_session_carries_the_banner(
    services: Services, clock: FrozenClock
) -> None:
    client = emergency_session(services, clock, "en")

    refused = client.post("/logout", data={"csrf_token": "forged"}, follow_redirects=False)

    assert refused.status_code == 403
    assert BANNER in refused.text
