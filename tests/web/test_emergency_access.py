"""Emergency access (bris de glace) end to end through the HTTP app: request, session, alerts
(real SMTP sink and webhook receiver), review in the console and the API, limits and attacks."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import httpx2
import pytest
from starlette.testclient import TestClient

from quivive.clock import FrozenClock
from quivive.composition import Services
from quivive.domain.mfa_policy import MfaRule
from quivive.domain.users import User
from quivive.protocols import totp
from quivive.services.accounts import NewAccount
from quivive.storage.emergency_accesses import EmergencyAccessRepository
from quivive.web.app import create_app
from support.admin_console import actor, service_token, sign_in_as
from support.quivive import RecordingAudit, running_services
from support.race import race
from support.smtp_sink import SmtpInbox, body_of, smtp_inbox
from support.webhook_receiver import Receiver, webhook_receiver

PASSWORD = "correct horse battery staple 42"
OFFICER = "rssi@hopital.example"
NURSE_EMAIL = "alice@hopital.example"
SECRET = "webhook-s3cret"
WHY = "Téléphone oublié, patient en détresse respiratoire au box 4, prescription urgente."


@pytest.fixture
def inbox() -> Iterator[SmtpInbox]:
    with smtp_inbox() as sink:
        yield sink


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with webhook_receiver(SECRET) as hook:
        yield hook


def emergency_settings(inbox: SmtpInbox, receiver: Receiver, **extra: str) -> dict[str, str]:
    return {
        **inbox.settings(),
        "alerts_email": OFFICER,
        "webhook_url": receiver.url,
        "webhook_secret": SECRET,
        "emergency_roles": "infirmier,medecin",
        "emergency_max_uses": "2",
        **extra,
    }


@pytest.fixture
def services(
    tmp_path: Path,
    inbox: SmtpInbox,
    receiver: Receiver,
    clock: FrozenClock,
    audit: RecordingAudit,
) -> Iterator[Services]:
    settings = emergency_settings(inbox, receiver)
    with running_services(tmp_path, clock=clock, audit=audit, settings=settings) as built:
        yield built


def browser(services: Services, language: str = "en") -> TestClient:
    client = TestClient(create_app(services), base_url="http://localhost:8080")
    client.headers["accept-language"] = language
    return client


def add_user(
    services: Services, clock: FrozenClock, name: str, *roles: str, email: str | None = None
) -> tuple[User, str]:
    """A user with a confirmed TOTP authenticator; its secret."""
    user = services.accounts.create(
        NewAccount(name, PASSWORD, email=email, roles=roles), actor="test"
    )
    pending = services.totp.begin(user.id, name)
    assert services.totp.confirm(user.id, code(pending.secret, clock), "phone")
    clock.advance(timedelta(seconds=30))  # the enrolment code's step is used up
    return user, pending.secret


def code(secret: str, clock: FrozenClock) -> str:
    return totp.code_at(secret, totp.step_at(clock.now()))


def csrf(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "no CSRF token in the page"
    return match[1]


def sign_in(client: TestClient, username: str = "alice") -> httpx2.Response:
    page = client.get("/login")
    form = {"csrf_token": csrf(page.text), "username": username, "password": PASSWORD}
    form["next"] = "/account"
    return client.post("/login", data=form, follow_redirects=False)


def ask(client: TestClient, **fields: str) -> httpx2.Response:
    """Open the emergency page and post its form with ``fields`` over sensible defaults."""
    page = client.get("/login/emergency?next=/account", follow_redirects=False)
    assert page.status_code == 200, page.text
    form = {
        "csrf_token": csrf(page.text),
        "next": "/account",
        "password": PASSWORD,
        "reason": "factor_forgotten",
        "justification": WHY,
        "witness_name": "Dr Martin",
        **fields,
    }
    return client.post("/login/emergency", data=form, follow_redirects=False)


@pytest.fixture
def nurse(services: Services, clock: FrozenClock) -> User:
    return add_user(services, clock, "alice", "infirmier", email=NURSE_EMAIL)[0]


# --- the whole path ------------------------------------------------------------------------------


def test_request_opens_a_marked_emergency_session_alerts_and_emails(
    services: Services,
    nurse: User,
    inbox: SmtpInbox,
    receiver: Receiver,
    audit: RecordingAudit,
) -> None:
    client = browser(services)
    second = sign_in(client)
    factor_page = client.get(second.headers["location"])

    assert 'id="emergency-link"' in factor_page.text
    response = ask(client)

    assert response.status_code == 303
    assert response.headers["location"] == "/account"
    account = client.get("/account")
    assert account.status_code == 200
    assert 'id="emergency-banner"' in account.text
    assert "2026-01-15 10:00 UTC" in account.text  # FrozenClock starts 08:00; 2 h, absolute
    [session] = services.sessions.list_for_user(nurse.id)
    assert session.emergency
    assert session.amr == ("pwd",)
    assert int(session.aal) == 1
    actions = [action for action, _ in audit.actions() if action.startswith("emergency.")]
    assert actions == ["emergency.requested", "emergency.granted"]
    assert services.outbox.drain(30)
    [alert_mail] = inbox.to(OFFICER)
    assert "emergency.granted" in alert_mail["Subject"]
    assert "box 4" in body_of(alert_mail)
    [user_mail] = inbox.to(NURSE_EMAIL)
    assert "accès d'urgence" in user_mail["Subject"]
    [posted] = [hook for hook in receiver.accepted if hook["kind"] == "emergency.granted"]
    assert posted["details"]["account"] == "alice"


def test_the_session_ends_at_two_hours_and_cannot_be_renewed(
    services: Services, nurse: User, clock: FrozenClock
) -> None:
    client = browser(services)
    sign_in(client)
    assert ask(client).status_code == 303

    for _ in range(11):  # active every 10 minutes: the idle limit never strikes
        clock.advance(timedelta(minutes=10))
        assert client.get("/account", follow_redirects=False).status_code == 200
    reauth = client.get("/account/reauth?next=/account")
    form = {"csrf_token": csrf(reauth.text), "password": PASSWORD, "next": "/account"}
    renewed = client.post("/account/reauth", data=form, follow_redirects=False)
    assert renewed.status_code == 403  # a re-authentication would give it a new life
    clock.advance(timedelta(minutes=10))  # 2 h after the start

    assert client.get("/account", follow_redirects=False).status_code == 303
    assert services.sessions.list_for_user(nurse.id) == []


def test_a_factor_cannot_be_added_from_an_emergency_session(
    services: Services, nurse: User
) -> None:
    client = browser(services)
    sign_in(client)
    ask(client)

    assert client.get("/account/totp/enrol", follow_redirects=False).status_code == 403


def test_the_console_lists_and_reviews_and_the_dashboard_flags_overdue(
    services: Services, nurse: User, clock: FrozenClock, audit: RecordingAudit
) -> None:
    client = browser(services)
    sign_in(client)
    ask(client)
    officer = services.accounts.create(NewAccount("rssi", PASSWORD, roles=("admin",)), actor="t")
    clock.advance(timedelta(days=8))
    console = browser(services)
    sign_in_as(console, services, officer)

    board = console.get("/admin")
    assert 'id="emergency-overdue"' in board.text
    listing = console.get("/admin/emergency?status=pending")
    assert "alice" in listing.text
    [access] = services.emergency.page(actor(officer)).items
    detail = console.get(f"/admin/emergency/{access.id}")
    assert "box 4" in detail.text
    form = {"csrf_token": csrf(detail.text), "status": "justified", "comment": "Vu avec le cadre."}
    path = f"/admin/emergency/{access.id}/review"
    unconfirmed = console.post(path, data=form, follow_redirects=False)
    assert "notice=confirm_required" in unconfirmed.headers["location"]
    assert services.emergency.get(actor(officer), access.id).review_status.value == "pending"
    done = console.post(path, data={**form, "confirm": "yes"}, follow_redirects=False)

    assert done.status_code == 303
    assert "notice=reviewed" in done.headers["location"]
    reviewed = services.emergency.get(actor(officer), access.id)
    assert reviewed.review_status.value == "justified"
    assert reviewed.reviewed_by_user_id == officer.id
    assert 'id="emergency-overdue"' not in console.get("/admin").text
    [event] = [e for e in audit.events if e.action == "emergency.reviewed"]
    assert (event.actor, event.subject, event.reason) == ("rssi", "alice", "justified")


def test_an_auditor_reads_the_queue_but_cannot_review(
    services: Services, nurse: User, audit: RecordingAudit
) -> None:
    client = browser(services)
    sign_in(client)
    ask(client)
    reader = services.accounts.create(
        NewAccount("lecteur", PASSWORD, roles=("auditor",)), actor="t"
    )
    console = browser(services)
    sign_in_as(console, services, reader)
    [access] = services.emergency.page(actor(reader)).items

    detail = console.get(f"/admin/emergency/{access.id}")
    assert detail.status_code == 200
    assert 'id="review-form"' not in detail.text
    token = console.get("/api/admin/v1/csrf-token").json()["csrf_token"]
    form = {"csrf_token": token, "status": "unjustified", "comment": "non"}
    refused = console.post(f"/admin/emergency/{access.id}/review", data=form)

    assert refused.status_code == 403
    assert ("admin.forbidden", "failure") in audit.actions()


def test_the_api_lists_with_a_cursor_and_reviews_once(
    services: Services, nurse: User, clock: FrozenClock
) -> None:
    for _ in range(2):
        client = browser(services)
        sign_in(client)
        assert ask(client).status_code == 303
        clock.advance(timedelta(minutes=1))
    api = browser(services)
    headers = {"authorization": "Bearer " + service_token(services)}

    first = api.get("/api/admin/v1/emergency-accesses?limit=1", headers=headers).json()
    cursor = first["next_cursor"]
    second = api.get(f"/api/admin/v1/emergency-accesses?limit=1&cursor={cursor}", headers=headers)
    newest, oldest = first["items"][0], second.json()["items"][0]
    assert newest["id"] > oldest["id"]
    assert second.json()["next_cursor"] is None
    assert newest["username"] == "alice"
    assert newest["review_status"] == "pending"
    body = {"status": "unjustified", "comment": "Pas d'urgence réelle."}
    url = f"/api/admin/v1/emergency-accesses/{oldest['id']}/review"

    reviewed = api.post(url, json=body, headers=headers)
    again = api.post(url, json=body, headers=headers)

    assert reviewed.status_code == 200
    assert reviewed.json()["review_status"] == "unjustified"
    assert again.status_code == 409
    pending = api.get("/api/admin/v1/emergency-accesses?status=pending", headers=headers).json()
    assert [item["id"] for item in pending["items"]] == [newest["id"]]


# --- limits and attacks -------------------------------------------------------------------------


def test_beyond_the_limit_the_request_is_refused_and_alerted(
    services: Services, nurse: User, inbox: SmtpInbox, audit: RecordingAudit
) -> None:
    for _ in range(2):
        client = browser(services)
        sign_in(client)
        assert ask(client).status_code == 303
    client = browser(services, "fr")
    sign_in(client)

    refused = ask(client)

    assert refused.status_code == 403
    assert "trop souvent" in refused.text
    assert ("emergency.refused", "failure") in audit.actions()
    assert services.outbox.drain(30)
    assert any("emergency.limit_reached" in m["Subject"] for m in inbox.to(OFFICER))


def test_a_role_not_allowed_sees_no_path_and_its_post_is_refused(
    services: Services, clock: FrozenClock, audit: RecordingAudit
) -> None:
    add_user(services, clock, "bob", "secretaire")
    client = browser(services)
    second = sign_in(client, "bob")

    factor_page = client.get(second.headers["location"])
    assert 'id="emergency-link"' not in factor_page.text
    page = client.get("/login/emergency?next=/account")
    assert page.status_code == 403
    assert "not available for your role" in page.text
    form = {"csrf_token": csrf(factor_page.text), "password": PASSWORD, "reason": "factor_lost"}
    form["justification"] = WHY
    refused = client.post("/login/emergency", data=form, follow_redirects=False)

    assert refused.status_code == 403
    assert [e.reason for e in audit.events if e.action == "emergency.refused"] == [
        "role_not_allowed"
    ]
    assert not any(s.emergency for s in services.sessions.list_for_user(2))


@pytest.mark.parametrize(
    ("fields", "status", "reason"),
    [
        ({"password": "wrong password, clearly"}, 401, "bad_password"),
        ({"justification": "urgent"}, 400, "justification_too_short"),
        ({"reason": "because"}, 400, "unknown_reason"),
    ],
)
def test_bad_requests_are_refused_and_audited(
    services: Services,
    nurse: User,
    audit: RecordingAudit,
    fields: dict[str, str],
    status: int,
    reason: str,
) -> None:
    client = browser(services)
    sign_in(client)

    refused = ask(client, **fields)

    assert refused.status_code == status
    assert 'id="emergency-error"' in refused.text
    assert [e.reason for e in audit.events if e.action == "emergency.refused"] == [reason]
    assert not any(s.emergency for s in services.sessions.list_for_user(nurse.id))


def test_the_form_without_its_csrf_token_is_refused(services: Services, nurse: User) -> None:
    client = browser(services)
    sign_in(client)
    form = {"password": PASSWORD, "reason": "factor_lost", "justification": WHY}

    refused = client.post("/login/emergency", data=form, follow_redirects=False)

    assert refused.status_code == 403
    assert not any(s.emergency for s in services.sessions.list_for_user(nurse.id))


def test_replaying_the_form_after_the_limit_is_refused(services: Services, nurse: User) -> None:
    client = browser(services)
    sign_in(client)
    page = client.get("/login/emergency?next=/account")
    form = {"csrf_token": csrf(page.text), "password": PASSWORD, "reason": "factor_lost"}
    form |= {"justification": WHY, "next": "/account"}
    cookie = client.cookies["quivive_session"]
    assert client.post("/login/emergency", data=form, follow_redirects=False).status_code == 303
    for _ in range(2):  # the same half-signed-in cookie and form, sent again
        replay = browser(services)
        sign_in(replay)
        replay_form = {**form, "csrf_token": csrf(replay.get("/login/emergency").text)}
        last = replay.post("/login/emergency", data=replay_form, follow_redirects=False)

    assert last.status_code == 403
    client.cookies.delete("quivive_session")
    client.cookies.set("quivive_session", cookie)  # ended when the emergency session began
    ended = client.post("/login/emergency", data=form, follow_redirects=False)
    assert ended.headers["location"].startswith("/login?")  # back to sign-in, nothing granted
    assert services.emergency.remaining_uses(nurse) == 0


@pytest.fixture
def any_backend(
    tmp_path: Path,
    backend: str,
    inbox: SmtpInbox,
    receiver: Receiver,
    clock: FrozenClock,
    audit: RecordingAudit,
) -> Iterator[Services]:
    settings = emergency_settings(inbox, receiver)
    with running_services(tmp_path, backend, clock=clock, audit=audit, settings=settings) as built:
        yield built


def test_two_parallel_requests_at_the_boundary_do_not_both_pass(
    any_backend: Services, clock: FrozenClock
) -> None:
    services = any_backend
    nurse = add_user(services, clock, "alice", "infirmier")[0]
    first = browser(services)
    sign_in(first)
    assert ask(first).status_code == 303
    clients = [browser(services) for _ in range(2)]
    forms = []
    for client in clients:
        sign_in(client)
        page = client.get("/login/emergency?next=/account")
        form = {"csrf_token": csrf(page.text), "password": PASSWORD, "reason": "factor_lost"}
        forms.append({**form, "justification": WHY, "next": "/account"})

    answers = race(
        [
            lambda c=client, f=form: c.post("/login/emergency", data=f, follow_redirects=False)
            for client, form in zip(clients, forms, strict=True)
        ]
    )

    assert sorted(answer.status_code for answer in answers) == [303, 403]
    assert services.emergency.remaining_uses(nurse) == 0


# --- two-person mode -----------------------------------------------------------------------------


@pytest.fixture
def two_person(
    tmp_path: Path,
    inbox: SmtpInbox,
    receiver: Receiver,
    clock: FrozenClock,
    audit: RecordingAudit,
) -> Iterator[Services]:
    settings = emergency_settings(inbox, receiver, emergency_two_person="true")
    with running_services(tmp_path, clock=clock, audit=audit, settings=settings) as built:
        yield built


def test_two_person_mode_needs_a_colleague_confirming_with_their_code(
    two_person: Services, clock: FrozenClock, audit: RecordingAudit
) -> None:
    add_user(two_person, clock, "alice", "infirmier")
    colleague, colleague_secret = add_user(two_person, clock, "martin", "medecin")
    client = browser(two_person)
    sign_in(client)

    self_witness = ask(client, witness_username="alice", witness_code="123456")
    wrong_code = ask(client, witness_username="martin", witness_code="000000")
    granted = ask(client, witness_username="martin", witness_code=code(colleague_secret, clock))

    assert self_witness.status_code == 400
    assert "someone else" in self_witness.text
    assert wrong_code.status_code == 400
    assert granted.status_code == 303
    failed = [e.reason for e in audit.events if e.action == "emergency.witness_failed"]
    assert failed == ["witness_is_requester", "witness_failed"]
    assert ("emergency.witness_confirmed", "success") in audit.actions()
    [access] = EmergencyAccessRepository(two_person.engine).page().items
    assert access.witness_user_id == colleague.id
    assert access.witness_name == "Dr Martin"


def test_the_page_speaks_french(services: Services, nurse: User) -> None:
    client = browser(services, "fr")
    sign_in(client)

    page = client.get("/login/emergency?next=/account")
    ask(client)
    account = client.get("/account")

    assert "Accès d'urgence" in page.text
    assert "Votre mot de passe" in page.text
    assert "ne peut pas être prolongée" in account.text


def test_a_page_asking_for_aal2_says_the_session_cannot_step_up(
    services: Services, nurse: User
) -> None:
    client = browser(services)
    sign_in(client)
    ask(client)

    page = client.get("/login/second-factor?level=2&next=/account", follow_redirects=False)

    assert page.status_code == 403
    assert 'id="emergency-no-step-up"' in page.text
    assert 'id="emergency-link"' not in page.text


# --- no factor at all, past the enrolment deadline -------------------------------------------


def test_a_user_with_no_factor_past_the_deadline_is_told_to_enrol_instead(
    services: Services, audit: RecordingAudit
) -> None:
    services.mfa_policy.set_rule(MfaRule("infirmier", date(2026, 1, 1), grace_days=5), actor="t")
    services.accounts.create(NewAccount("bruno", PASSWORD, roles=("infirmier",)), actor="test")
    client = browser(services)
    sign_in(client, "bruno")

    page = client.get("/login/emergency?next=/account", follow_redirects=False)
    assert page.status_code == 403
    assert "you have none: enrol one now" in page.text
    assert 'name="justification"' not in page.text
    form = {
        "csrf_token": csrf(client.get("/login").text),
        "next": "/account",
        "password": PASSWORD,
        "reason": "factor_forgotten",
        "justification": WHY,
    }
    posted = client.post("/login/emergency", data=form, follow_redirects=False)

    assert posted.status_code == 403
    refused = [e for e in audit.events if e.action == "emergency.refused"]
    assert [(e.subject, e.reason) for e in refused] == [("bruno", "no_factor_enrolled")]
    assert not any(e.action == "emergency.granted" for e in audit.events)
    french = browser(services, "fr")
    sign_in(french, "bruno")
    assert "enregistrez-en un" in french.get("/login/emergency").text
