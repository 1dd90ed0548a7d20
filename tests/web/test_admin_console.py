"""The admin console pages: entry rules, users, a user's page, audit; CSRF and confirmations."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from quivive.composition import Services
from quivive.domain.audit import Outcome
from quivive.domain.sessions import AssuranceLevel
from quivive.domain.users import UserStatus
from support.admin_console import TOTP_AMR, add_user, csrf_token, sign_in_as, start_session
from support.quivive import RecordingAudit


@pytest.fixture(autouse=True)
def english(client: TestClient) -> None:
    client.headers["accept-language"] = "en"


def _refusals(audit: RecordingAudit) -> list[tuple[str, str | None]]:
    return [
        (event.action, event.reason)
        for event in audit.events
        if event.outcome is Outcome.FAILURE and event.action.startswith("admin.")
    ]


def test_signed_out_visitors_go_to_sign_in(client: TestClient) -> None:
    response = client.get("/admin/users", follow_redirects=False)

    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Fadmin%2Fusers"


def test_console_needs_a_passkey_by_default(
    client: TestClient, sqlite_services: Services, audit: RecordingAudit
) -> None:
    root = add_user(sqlite_services, "root", "admin")
    sign_in_as(client, sqlite_services, root, amr=TOTP_AMR, aal=AssuranceLevel.AAL2)

    response = client.get("/admin")

    assert response.status_code == 403
    assert "passkey" in response.text
    assert "quivive admin recover" in response.text
    assert _refusals(audit) == [("admin.console_refused", "phishing_resistant_required")]


def test_recovery_lets_the_admin_in_for_a_while(
    client: TestClient, sqlite_services: Services
) -> None:
    root = add_user(sqlite_services, "root", "admin")
    sign_in_as(client, sqlite_services, root, amr=TOTP_AMR, aal=AssuranceLevel.AAL2)
    sqlite_services.admin.grant_recovery("root", actor="cli")

    # Every console page's navigation carries the banner: dashboard, report, applications.
    for path in ("/admin", "/admin/report", "/admin/apps"):
        response = client.get(path)

        assert response.status_code == 200, path
        assert 'id="recovery"' in response.text, path


def test_users_without_a_console_role_are_refused(
    client: TestClient, sqlite_services: Services, audit: RecordingAudit
) -> None:
    sign_in_as(client, sqlite_services, add_user(sqlite_services, "nina", "nurse"))

    response = client.get("/admin/users")

    assert response.status_code == 403
    assert _refusals(audit) == [("admin.console_refused", "no_console_role")]


def test_the_setting_relaxes_the_passkey_rule(tmp_path_factory: pytest.TempPathFactory) -> None:
    from quivive.web.app import create_app
    from support.quivive import running_services

    settings = {"admin_require_phishing_resistant": "false"}
    with running_services(tmp_path_factory.mktemp("relaxed"), settings=settings) as services:
        root = add_user(services, "root", "admin")
        with TestClient(create_app(services), base_url="http://localhost:8080") as client:
            sign_in_as(client, services, root, amr=TOTP_AMR, aal=AssuranceLevel.AAL2)
            assert client.get("/admin").status_code == 200


def test_dashboard_shows_coverage_and_password_only(
    client: TestClient, sqlite_services: Services
) -> None:
    root = add_user(sqlite_services, "root", "admin")
    add_user(sqlite_services, "nina", "nurse")
    sign_in_as(client, sqlite_services, root)

    page = client.get("/admin").text

    assert 'id="coverage"' in page
    assert "<svg" in page
    assert '<a href="/admin/users/2">nina</a>' in page
    assert 'id="active-sessions">1<' in page


def test_users_list_search_and_next_page(client: TestClient, sqlite_services: Services) -> None:
    root = add_user(sqlite_services, "root", "admin")
    for index in range(55):
        add_user(sqlite_services, f"user{index:02d}", "nurse", password=False)
    sign_in_as(client, sqlite_services, root)

    first = client.get("/admin/users").text
    second = client.get("/admin/users?after=50").text
    found = client.get("/admin/users", params={"q": "user5", "role": "nurse"}).text

    assert first.count('<a href="/admin/users/') == 50
    assert 'id="next-page"' in first
    assert "after=50" in first
    assert second.count('<a href="/admin/users/') == 6
    assert found.count('<a href="/admin/users/') == 5


def test_create_a_user(client: TestClient, sqlite_services: Services) -> None:
    sign_in_as(client, sqlite_services, add_user(sqlite_services, "root", "admin"))
    token = csrf_token(client.get("/admin/users/new").text)
    fields = {
        "username": "Zoé",
        "display_name": "Zoé Z",
        "roles": "nurse, night",
        "csrf_token": token,
    }

    response = client.post("/admin/users", data=fields, follow_redirects=False)

    assert response.status_code == 303
    assert response.headers["location"].endswith("?notice=created")
    user = sqlite_services.accounts.get("zoé")
    assert user.roles == ("night", "nurse")


def test_create_refuses_a_taken_username(client: TestClient, sqlite_services: Services) -> None:
    sign_in_as(client, sqlite_services, add_user(sqlite_services, "root", "admin"))
    token = csrf_token(client.get("/admin/users/new").text)

    response = client.post("/admin/users", data={"username": "ROOT", "csrf_token": token})

    assert response.status_code == 400
    assert "already taken" in response.text


def test_changes_need_the_csrf_token(client: TestClient, sqlite_services: Services) -> None:
    nina = add_user(sqlite_services, "nina", "nurse")
    sign_in_as(client, sqlite_services, add_user(sqlite_services, "root", "admin"))

    response = client.post(f"/admin/users/{nina.id}/disable", data={"confirm": "yes"})

    assert response.status_code == 403
    assert sqlite_services.users.get(nina.id).is_active


def test_disable_needs_confirmation(client: TestClient, sqlite_services: Services) -> None:
    nina = add_user(sqlite_services, "nina", "nurse")
    sign_in_as(client, sqlite_services, add_user(sqlite_services, "root", "admin"))
    token = csrf_token(client.get(f"/admin/users/{nina.id}").text)
    path = f"/admin/users/{nina.id}/disable"

    unconfirmed = client.post(path, data={"csrf_token": token}, follow_redirects=False)
    confirmed = client.post(path, data={"csrf_token": token, "confirm": "yes"})

    assert unconfirmed.headers["location"].endswith("notice=confirm_required")
    assert 'id="notice"' in confirmed.text
    assert sqlite_services.users.get(nina.id).status is UserStatus.DISABLED


def test_admin_revokes_a_session_and_the_audit_shows_it(
    client: TestClient, sqlite_services: Services, audit: RecordingAudit
) -> None:
    nina = add_user(sqlite_services, "nina", "nurse")
    nina_token = start_session(sqlite_services, nina)
    sign_in_as(client, sqlite_services, add_user(sqlite_services, "root", "admin"))
    page = client.get(f"/admin/users/{nina.id}").text
    action = page.split(f'action="/admin/users/{nina.id}/sessions/')[1].split('"')[0]

    path = f"/admin/users/{nina.id}/sessions/{action}"
    unconfirmed = client.post(path, data={"csrf_token": csrf_token(page)}, follow_redirects=False)
    assert unconfirmed.headers["location"].endswith("notice=confirm_required")
    assert sqlite_services.sessions.resolve(nina_token) is not None

    response = client.post(path, data={"csrf_token": csrf_token(page), "confirm": "yes"})

    assert "The session was ended." in response.text
    assert sqlite_services.sessions.resolve(nina_token) is None
    event = next(e for e in audit.events if e.action == "session.revoked")
    assert (event.actor, event.subject, event.source_address) == ("root", "nina", "testclient")


def test_helpdesk_gets_a_403_page_for_admin_accounts(
    client: TestClient, sqlite_services: Services, audit: RecordingAudit
) -> None:
    other = add_user(sqlite_services, "root", "admin")
    sign_in_as(client, sqlite_services, add_user(sqlite_services, "desk", "helpdesk"))
    token = csrf_token(client.get(f"/admin/users/{other.id}").text)

    response = client.post(
        f"/admin/users/{other.id}/disable", data={"csrf_token": token, "confirm": "yes"}
    )
    audit_page = client.get("/admin/audit")

    assert response.status_code == 403
    assert "The attempt was recorded." in response.text
    assert audit_page.status_code == 403
    assert _refusals(audit) == [
        ("admin.forbidden", "admins.manage"),
        ("admin.forbidden", "audit.view"),
    ]
    assert sqlite_services.users.get(other.id).is_active


def test_auditor_sees_the_dashboard_and_audit_only(
    client: TestClient, sqlite_services: Services, audit: RecordingAudit
) -> None:
    sign_in_as(client, sqlite_services, add_user(sqlite_services, "reader", "auditor"))

    assert client.get("/admin").status_code == 200
    assert client.get("/admin/users").status_code == 403
    assert client.get("/admin/users/1").status_code == 403
    assert _refusals(audit) == [("admin.forbidden", "users.view")] * 2


def test_audit_page_filters_and_pages(client: TestClient, sqlite_services: Services) -> None:
    from quivive.domain.audit import AuditEvent

    for index in range(60):
        sqlite_services.audit_trail.append(
            AuditEvent("login.password", Outcome.SUCCESS, sqlite_services.clock.now(), f"u{index}")
        )
    sign_in_as(client, sqlite_services, add_user(sqlite_services, "reader", "auditor"))

    first = client.get("/admin/audit")
    only = client.get("/admin/audit", params={"actor": "u7", "action": "login."})

    assert first.status_code == 200
    assert first.text.count("login.password") == 50
    assert "before=11" in first.text
    assert only.text.count("login.password") == 1


def test_pages_exist_in_french(client: TestClient, sqlite_services: Services) -> None:
    sign_in_as(client, sqlite_services, add_user(sqlite_services, "root", "admin"))
    client.headers["accept-language"] = "fr"

    page = client.get("/admin/users").text

    assert "Utilisateurs" in page


def test_dashboard_charts_failed_sign_ins(client: TestClient, sqlite_services: Services) -> None:
    from datetime import timedelta

    from quivive.domain.audit import AuditEvent

    clock = sqlite_services.clock
    trail = sqlite_services.audit_trail
    for hours_ago in (0, 0, 3, 30):
        at = clock.now() - timedelta(hours=hours_ago)
        trail.append(AuditEvent("login.password", Outcome.FAILURE, at, "x", "x"))
    trail.append(AuditEvent("throttle.triggered", Outcome.FAILURE, clock.now(), "x", "x"))
    trail.append(AuditEvent("login.password", Outcome.SUCCESS, clock.now(), "y", "y"))
    sign_in_as(client, sqlite_services, add_user(sqlite_services, "reader", "auditor"))

    page = client.get("/admin").text

    day = page.split('id="chart-day"')[1].split("</figure>")[0]
    month = page.split('id="chart-month"')[1].split("</figure>")[0]
    assert day.count('class="bar-failed"') == 24
    assert "total: 3 failed sign-ins" in day
    assert "1 throttles" in day
    assert month.count('class="bar-failed"') == 30
    assert "total: 4 failed sign-ins" in month


def test_auditor_verifies_the_chain_and_it_is_audited(
    client: TestClient, sqlite_services: Services, audit: RecordingAudit
) -> None:
    from quivive.domain.audit import AuditEvent

    for index in range(3):
        sqlite_services.audit_trail.append(
            AuditEvent("login.password", Outcome.SUCCESS, sqlite_services.clock.now(), f"u{index}")
        )
    sign_in_as(client, sqlite_services, add_user(sqlite_services, "reader", "auditor"))
    token = csrf_token(client.get("/admin/audit").text)

    response = client.post("/admin/audit/verify", data={"csrf_token": token})

    assert response.status_code == 200
    assert "The audit chain is intact: 3 records checked." in response.text
    assert ("audit.verified", "success") in audit.actions()


def test_admin_requires_mfa_for_a_role(
    client: TestClient, sqlite_services: Services, audit: RecordingAudit
) -> None:
    sign_in_as(client, sqlite_services, add_user(sqlite_services, "root", "admin"))
    page = client.get("/admin/policies")
    fields = {
        "role": "Nurse",
        "from": "2026-02-01",
        "grace_days": "14",
        "phishing_resistant": "yes",
    }

    saved = client.post("/admin/policies/mfa", data={**fields, "csrf_token": csrf_token(page.text)})

    assert 'id="no-rule"' in page.text
    assert "The rule is saved" in saved.text
    assert "Role nurse: a second factor is required from 2026-02-01" in saved.text
    [rule] = sqlite_services.mfa_policy.rules()
    assert (rule.role, rule.grace_days, rule.phishing_resistant) == ("nurse", 14, True)
    event = next(e for e in audit.events if e.action == "policy.changed")
    assert (event.actor, event.subject) == ("root", "role:nurse")


@pytest.mark.parametrize("fields", [{"from": "tomorrow"}, {"grace_days": "-1"}, {"role": ""}])
def test_bad_policy_input_is_refused(
    client: TestClient, sqlite_services: Services, fields: dict[str, str]
) -> None:
    sign_in_as(client, sqlite_services, add_user(sqlite_services, "root", "admin"))
    token = csrf_token(client.get("/admin/policies").text)
    data = {"role": "nurse", "from": "2026-02-01", "csrf_token": token, **fields}

    response = client.post("/admin/policies/mfa", data=data, follow_redirects=False)

    assert response.headers["location"].endswith("notice=invalid")
    assert sqlite_services.mfa_policy.rules() == []


def test_helpdesk_cannot_change_policies(
    client: TestClient, sqlite_services: Services, audit: RecordingAudit
) -> None:
    sign_in_as(client, sqlite_services, add_user(sqlite_services, "desk", "helpdesk"))
    page = client.get("/admin/policies")
    token = csrf_token(client.get("/admin/users/new").text)
    data = {"role": "nurse", "from": "2026-02-01", "csrf_token": token}

    response = client.post("/admin/policies/mfa", data=data)

    assert 'id="save-rule"' not in page.text
    assert response.status_code == 403
    assert _refusals(audit) == [("admin.forbidden", "policies.manage")]
    assert sqlite_services.mfa_policy.rules() == []


def test_dashboard_lists_recent_attack_alerts(
    client: TestClient, sqlite_services: Services
) -> None:
    from quivive.domain.audit import AuditEvent

    sqlite_services.audit_trail.append(
        AuditEvent(
            "attack.spraying",
            Outcome.FAILURE,
            sqlite_services.clock.now(),
            subject="fingerprint",
            source_address="198.51.100.9",
        )
    )
    sign_in_as(client, sqlite_services, add_user(sqlite_services, "root", "admin"))

    page = client.get("/admin").text

    assert "attack.spraying" in page.split('id="alerts"')[1].split("</ul>")[0]
    assert "198.51.100.9" in page


@pytest.mark.parametrize("user_id", ["99999999999999999999", "-1", "abc", "0"])
def test_impossible_user_ids_are_404_pages(
    client: TestClient, sqlite_services: Services, user_id: str
) -> None:
    sign_in_as(client, sqlite_services, add_user(sqlite_services, "root", "admin"))

    response = client.get(f"/admin/users/{user_id}")

    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")


def test_audit_export_streams_json_lines_and_is_audited(
    client: TestClient, sqlite_services: Services, audit: RecordingAudit
) -> None:
    import json
    from datetime import timedelta

    from quivive.domain.audit import AuditEvent

    now = sqlite_services.clock.now()
    for index in range(250):
        sqlite_services.audit_trail.append(
            AuditEvent("login.password", Outcome.SUCCESS, now - timedelta(days=index % 3), "u")
        )
    sign_in_as(client, sqlite_services, add_user(sqlite_services, "reader", "auditor"))

    everything = client.get("/admin/audit/export")
    recent = client.get("/admin/audit/export", params={"since": now.date().isoformat()})

    assert everything.status_code == 200
    assert everything.headers["content-type"].startswith("application/x-ndjson")
    assert "attachment" in everything.headers["content-disposition"]
    lines = everything.text.splitlines()
    assert len(lines) == 250
    assert json.loads(lines[0])["action"] == "login.password"
    assert len(recent.text.splitlines()) == 84
    assert [e.action for e in audit.events].count("audit.exported") == 2


def test_helpdesk_cannot_export_the_audit(
    client: TestClient, sqlite_services: Services, audit: RecordingAudit
) -> None:
    sign_in_as(client, sqlite_services, add_user(sqlite_services, "desk", "helpdesk"))

    response = client.get("/admin/audit/export")

    assert response.status_code == 403
    assert _refusals(audit) == [("admin.forbidden", "audit.view")]


def test_dashboard_warns_of_messages_given_up(
    client: TestClient, sqlite_services: Services
) -> None:
    from quivive.storage.outbound_deliveries import OutboundDeliveryRepository

    deliveries = OutboundDeliveryRepository(sqlite_services.engine)
    for _ in range(2):
        row = deliveries.add("mail", {"to": "rssi@example.org"}, sqlite_services.clock.now())
        deliveries.give_up(row, 6, "SMTP connection refused")
    sign_in_as(client, sqlite_services, add_user(sqlite_services, "root", "admin"))

    page = client.get("/admin", headers={"accept-language": "fr"}).text

    warning = page.split('id="failed-deliveries"')[1].split("</p>")[0]
    assert "2 messages (alertes, e-mails, avis de déconnexion) n\u2019ont pas pu" in warning
    assert 'href="/admin/audit?action=delivery.failed"' in warning


def test_dashboard_without_failed_messages_has_no_warning(
    client: TestClient, sqlite_services: Services
) -> None:
    sign_in_as(client, sqlite_services, add_user(sqlite_services, "root", "admin"))

    assert 'id="failed-deliveries"' not in client.get("/admin").text
