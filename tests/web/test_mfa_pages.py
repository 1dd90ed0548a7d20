"""Multi-factor sign-in through the web edge: TOTP enrolment and sign-in, nudge, wall, account."""

from __future__ import annotations

import html
import re
from datetime import UTC, date, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest
from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.testclient import TestClient

from quivive.clock import FrozenClock
from quivive.composition import Services
from quivive.domain.mfa_policy import MfaRule
from quivive.domain.sessions import AssuranceLevel
from quivive.protocols import totp
from quivive.services.accounts import NewAccount
from quivive.web.mfa_flow import signed_in
from support.quivive import RecordingAudit

PASSWORD = "correct horse battery staple 42"


@pytest.fixture(autouse=True)
def english(client: TestClient) -> None:
    client.headers["accept-language"] = "en"


def csrf_token(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "no CSRF token in the page"
    return match[1]


def post_form(client: TestClient, page_path: str, action: str, **fields: str) -> httpx2.Response:
    page = client.get(page_path, follow_redirects=False)
    assert page.status_code == 200, page.text
    data = {"csrf_token": csrf_token(page.text), **fields}
    return client.post(action, data=data, follow_redirects=False)


def log_in(client: TestClient, next_url: str = "/account") -> httpx2.Response:
    fields = {"username": "alice", "password": PASSWORD, "next": next_url}
    return post_form(client, "/login", "/login", **fields)


def location(response: httpx2.Response) -> str:
    assert response.status_code == 303, response.text
    return response.headers["location"]


def page_secret(page: str) -> str:
    match = re.search(r'id="secret" readonly value="([A-Z2-7]+)"', page)
    assert match, "no TOTP key on the page"
    return match[1]


def code_now(secret: str, clock: FrozenClock) -> str:
    return totp.code_at(secret, totp.step_at(clock.now()))


def enrol_totp(client: TestClient, clock: FrozenClock) -> tuple[str, httpx2.Response]:
    page = client.get("/account/totp/enrol")
    assert page.status_code == 200, page.text
    secret = page_secret(page.text)
    data = {"csrf_token": csrf_token(page.text), "code": code_now(secret, clock), "name": "Phone"}
    response = client.post("/account/totp/enrol", data=data, follow_redirects=False)
    clock.advance(timedelta(seconds=60))  # the enrolment code's step is spent
    return secret, response


def add_alice(services: Services, *roles: str) -> None:
    services.accounts.create(
        NewAccount("alice", PASSWORD, email="alice@example.org", roles=roles), actor="test"
    )


def alice_with_totp(client: TestClient, services: Services, clock: FrozenClock) -> str:
    """Alice, who enrolled an authenticator app from her account page and signed out; its key."""
    add_alice(services)
    log_in(client)
    secret, _ = enrol_totp(client, clock)
    sign_out(client)
    return secret


def sign_out(client: TestClient) -> None:
    assert location(post_form(client, "/logout", "/logout")).startswith("/login")


def test_enrolment_page_shows_qr_key_and_uri(client: TestClient, sqlite_services: Services) -> None:
    add_alice(sqlite_services)
    assert location(log_in(client)) == "/account"

    page = client.get("/account/totp/enrol")

    assert page.status_code == 200
    assert "<svg" in page.text
    assert "<script" not in page.text
    secret = page_secret(page.text)
    found = re.search(r'id="uri" readonly value="([^"]+)"', page.text)
    assert found
    uri = html.unescape(found[1])
    assert uri.startswith("otpauth://totp/Quivive:alice?secret=" + secret)
    assert "issuer=Quivive" in uri
    assert page.headers["cache-control"] == "no-store"


def test_password_then_totp_sign_in(
    client: TestClient, sqlite_services: Services, clock: FrozenClock, audit: RecordingAudit
) -> None:
    add_alice(sqlite_services)
    log_in(client)
    secret, enrolled = enrol_totp(client, clock)
    assert enrolled.status_code == 200
    assert len(re.findall(r"<code>[A-Z2-7-]{19}</code>", enrolled.text)) == 10
    sign_out(client)

    first = location(log_in(client))
    assert urlsplit(first).path == "/login/second-factor"
    assert client.get("/account", follow_redirects=False).status_code == 303  # not yet
    chooser = location(client.get(first, follow_redirects=False))
    assert urlsplit(chooser).path == "/login/second-factor/totp"
    assert parse_qs(urlsplit(chooser).query)["next"] == ["/account"]
    done = post_form(client, chooser, "/login/second-factor/totp", code=code_now(secret, clock))

    assert location(done) == "/account"
    account = client.get("/account")
    assert account.status_code == 200
    assert 'id="aal">AAL2<' in account.text
    assert 'id="amr">pwd, otp, mfa<' in account.text
    assert ("login.totp", "success") in audit.actions()
    assert not any(secret in str(event) for event in audit.events)


def test_wrong_code_is_refused_and_audited(
    client: TestClient, sqlite_services: Services, clock: FrozenClock, audit: RecordingAudit
) -> None:
    alice_with_totp(client, sqlite_services, clock)
    log_in(client)

    response = post_form(
        client, "/login/second-factor/totp", "/login/second-factor/totp", code="000000"
    )

    assert response.status_code == 401
    assert ("login.totp", "failure") in audit.actions()
    assert client.get("/account", follow_redirects=False).status_code == 303


def test_recovery_code_signs_in_once(
    client: TestClient, sqlite_services: Services, clock: FrozenClock, audit: RecordingAudit
) -> None:
    add_alice(sqlite_services)
    log_in(client)
    _secret, enrolled = enrol_totp(client, clock)
    code = re.findall(r"<code>([A-Z2-7-]{19})</code>", enrolled.text)[0]
    sign_out(client)
    log_in(client)
    path = "/login/second-factor/recovery-code?next=/account"

    assert location(post_form(client, path, path.split("?")[0], code=code)) == "/account"
    sign_out(client)
    log_in(client)
    assert post_form(client, path, path.split("?")[0], code=code).status_code == 401
    assert ("login.recovery_code", "success") in audit.actions()


def test_nudge_before_the_deadline_with_days_left_and_skip(
    client: TestClient, sqlite_services: Services
) -> None:
    rule = MfaRule("medecin", date(2026, 1, 20), grace_days=5)  # deadline 2026-01-25
    sqlite_services.mfa_policy.set_rule(rule, actor="test")
    add_alice(sqlite_services, "medecin")

    nudge = location(log_in(client))

    assert urlsplit(nudge).path == "/login/mfa-nudge"
    page = client.get(nudge)
    assert "Days left to set it up: 10" in page.text
    skip = re.search(r'id="skip" href="([^"]+)"', page.text)
    assert skip
    assert skip[1] == "/account"
    assert client.get("/account", follow_redirects=False).status_code == 200


def test_after_the_deadline_only_enrolment_and_sign_out_are_reachable(
    client: TestClient, sqlite_services: Services, clock: FrozenClock
) -> None:
    rule = MfaRule("medecin", date(2026, 1, 1), grace_days=5)
    sqlite_services.mfa_policy.set_rule(rule, actor="test")
    add_alice(sqlite_services, "medecin")

    wall = location(log_in(client))

    assert urlsplit(wall).path == "/account/mfa-required"
    assert "/account/totp/enrol" in client.get(wall).text
    assert urlsplit(location(client.get("/account", follow_redirects=False))).path == (
        "/account/mfa-required"
    )
    enrol_totp(client, clock)
    assert client.get("/account", follow_redirects=False).status_code == 200


def test_a_password_alone_cannot_reach_the_enrolment_page_of_a_protected_user(
    client: TestClient, sqlite_services: Services, clock: FrozenClock
) -> None:
    alice_with_totp(client, sqlite_services, clock)
    log_in(client)

    response = client.get("/account/totp/enrol", follow_redirects=False)

    assert urlsplit(location(response)).path == "/login/second-factor"


def test_enrolment_asks_for_the_password_again_after_5_minutes(
    client: TestClient, sqlite_services: Services, clock: FrozenClock
) -> None:
    add_alice(sqlite_services)
    log_in(client)
    clock.advance(timedelta(minutes=6))
    client.get("/account")  # keep the session alive

    reauth = location(client.get("/account/totp/enrol", follow_redirects=False))

    assert urlsplit(reauth).path == "/account/reauth"
    done = post_form(
        client, reauth, "/account/reauth", password=PASSWORD, next="/account/totp/enrol"
    )
    assert location(done) == "/account/totp/enrol"
    assert client.get("/account/totp/enrol").status_code == 200


def test_account_page_lists_factors_sessions_and_sign_ins(
    client: TestClient, sqlite_services: Services, clock: FrozenClock
) -> None:
    add_alice(sqlite_services)
    log_in(client)
    enrol_totp(client, clock)

    page = client.get("/account").text

    assert "Phone" in page
    assert "Unused recovery codes: 10" in page
    assert 'id="sessions"' in page
    assert "this session" in page
    assert re.search(r"<td>Password</td><td>success</td>", page)


def test_other_sessions_can_be_ended(
    sqlite_services: Services, client: TestClient, clock: FrozenClock
) -> None:
    add_alice(sqlite_services)
    user = sqlite_services.accounts.get("alice")
    other = sqlite_services.sessions.start(
        user,
        amr=("pwd",),
        aal=AssuranceLevel.AAL1,
        source_address="198.51.100.7",
        user_agent="Other",
    )
    log_in(client)

    done = post_form(client, "/account", "/account/sessions/revoke-others")

    assert location(done).startswith("/account?notice=")
    assert sqlite_services.sessions.resolve(other) is None
    assert client.get("/account").status_code == 200


def test_totp_removal_needs_recent_authentication(
    client: TestClient, sqlite_services: Services, clock: FrozenClock, audit: RecordingAudit
) -> None:
    add_alice(sqlite_services)
    log_in(client)
    enrol_totp(client, clock)
    credential = sqlite_services.totp.credentials(1)[0].id
    clock.advance(timedelta(minutes=5))
    client.get("/account")
    action = f"/account/factors/totp/{credential}/remove"

    refused = post_form(client, "/account", action)

    assert urlsplit(location(refused)).path == "/account/reauth"
    post_form(client, "/account/reauth", "/account/reauth", password=PASSWORD)
    assert location(post_form(client, "/account", action)) == "/account?notice=factor_removed"
    assert ("factor.removed", "success") in audit.actions()
    assert datetime(2026, 1, 1, tzinfo=UTC) < clock.now()


def add_sensitive_route(client: TestClient, level: AssuranceLevel) -> None:
    """A page that demands ``level`` (as an OIDC request with acr_values will)."""

    async def sensitive(request: Request) -> Response:
        gate = await signed_in(request, level=level)
        if isinstance(gate, Response):
            return gate
        return PlainTextResponse(f"AAL{int(gate.session.aal)}")

    app = client.app
    assert isinstance(app, FastAPI)
    app.add_api_route("/sensitive", sensitive)


def test_step_up_without_a_suitable_factor_goes_to_enrolment(
    client: TestClient, sqlite_services: Services
) -> None:
    add_alice(sqlite_services)
    add_sensitive_route(client, AssuranceLevel.AAL2)
    log_in(client)

    response = client.get("/sensitive", follow_redirects=False)

    assert location(response) == "/account/mfa-required?next=%2Fsensitive"


def test_step_up_to_aal3_is_refused_to_totp(
    client: TestClient, sqlite_services: Services, clock: FrozenClock
) -> None:
    add_alice(sqlite_services)
    add_sensitive_route(client, AssuranceLevel.AAL3)
    log_in(client)
    enrol_totp(client, clock)
    assert client.get("/account").status_code == 200  # AAL2 now

    step_up = location(client.get("/sensitive", follow_redirects=False))

    assert step_up == "/login/second-factor?next=%2Fsensitive&level=3"
    page = client.get(step_up)
    assert "None of your sign-in methods is strong enough" in page.text
    assert 'id="factor-choices"' not in page.text


def test_step_up_to_aal2_returns_to_the_page_with_a_new_identifier(
    client: TestClient, sqlite_services: Services, clock: FrozenClock
) -> None:
    secret = alice_with_totp(client, sqlite_services, clock)
    add_sensitive_route(client, AssuranceLevel.AAL2)
    first = location(log_in(client, next_url="/sensitive"))
    before = client.cookies.get("quivive_session")

    chooser = location(client.get(first, follow_redirects=False))
    assert 'name="next" value="/sensitive"' in client.get(chooser).text
    code = code_now(secret, clock)
    done = post_form(client, chooser, "/login/second-factor/totp", code=code, next="/sensitive")

    assert location(done) == "/sensitive"
    assert client.cookies.get("quivive_session") != before
    assert client.get("/sensitive").text == "AAL2"


def test_a_factor_can_be_renamed_and_its_addition_was_audited(
    client: TestClient, sqlite_services: Services, clock: FrozenClock, audit: RecordingAudit
) -> None:
    add_alice(sqlite_services)
    log_in(client)
    enrol_totp(client, clock)
    credential = sqlite_services.totp.credentials(1)[0].id

    done = post_form(client, "/account", f"/account/factors/totp/{credential}/rename", name="Pixel")

    assert location(done) == "/account?notice=factor_renamed"
    assert [c.name for c in sqlite_services.totp.credentials(1)] == ["Pixel"]
    assert ("factor.added", "success") in audit.actions()
    assert ("factor.renamed", "success") in audit.actions()


def test_one_other_session_can_be_ended_from_the_account_page(
    client: TestClient, sqlite_services: Services
) -> None:
    add_alice(sqlite_services)
    user = sqlite_services.accounts.get("alice")
    other = sqlite_services.sessions.start(
        user, amr=("pwd",), aal=AssuranceLevel.AAL1, source_address="198.51.100.7", user_agent="x"
    )
    log_in(client)
    page = client.get("/account").text
    forms = re.findall(r'action="(/account/sessions/[0-9a-f]+/revoke)"', page)

    assert len(forms) == 1  # the current session has no "End" button
    assert location(post_form(client, "/account", forms[0])) == "/account?notice=session_revoked"
    assert sqlite_services.sessions.resolve(other) is None
    assert client.get("/account").status_code == 200


# --- guesses at codes -----------------------------------------------------------------------------


def test_guessing_codes_is_held_with_a_wait_in_the_users_language(
    client: TestClient, sqlite_services: Services, clock: FrozenClock, audit: RecordingAudit
) -> None:
    secret = alice_with_totp(client, sqlite_services, clock)
    log_in(client)
    client.headers["accept-language"] = "fr"
    page = "/login/second-factor/totp"
    for _ in range(sqlite_services.throttle.policy.pair.free_attempts):
        assert post_form(client, page, page, code="000000").status_code == 401

    held = post_form(client, page, page, code=code_now(secret, clock))

    assert held.status_code == 429
    assert int(held.headers["retry-after"]) >= 1
    assert "Trop de codes erronés." in html.unescape(held.text)
    reasons = [event.reason for event in audit.events if event.action == "login.totp"]
    free = sqlite_services.throttle.policy.pair.free_attempts
    assert reasons[-free - 1 :] == ["bad_code"] * free + ["codes_throttled"]
    assert client.get("/account", follow_redirects=False).status_code == 303
    clock.advance(timedelta(seconds=int(held.headers["retry-after"])))
    assert location(post_form(client, page, page, code=code_now(secret, clock))) == "/account"


def test_codes_blocked_after_the_limit_point_to_a_passkey_or_the_helpdesk(
    client: TestClient, sqlite_services: Services, clock: FrozenClock
) -> None:
    secret = alice_with_totp(client, sqlite_services, clock)
    for _ in range(sqlite_services.throttle.policy.max_failures):  # an earlier attacker's run
        attempt = sqlite_services.throttle.admit_code("alice", None)
        if not attempt.allowed:
            clock.advance(timedelta(hours=1))
            attempt = sqlite_services.throttle.admit_code("alice", None)
        sqlite_services.throttle.code_failed(attempt)
    log_in(client)
    page = "/login/second-factor/totp"

    blocked = post_form(client, page, page, code=code_now(secret, clock))

    assert blocked.status_code == 429
    assert "retry-after" not in blocked.headers
    assert "ask your IT helpdesk to unblock it" in html.unescape(blocked.text)
