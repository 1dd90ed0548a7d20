"""AdminService: the role guard (refusals audited), user pages, changes audited with the actor."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date, timedelta

import pytest

from quivive.clock import FrozenClock
from quivive.composition import Services
from quivive.domain.audit import Outcome
from quivive.domain.mfa_policy import MfaRule
from quivive.domain.users import User, UserStatus
from quivive.errors import PermissionDenied, ValidationError
from quivive.services.accounts import NewAccount
from quivive.services.admin import AdminActor, AdminService, UserChanges
from quivive.storage.admin_queries import AuditQuery, FactorFilter, UserQuery
from quivive.storage.sessions import SessionRepository
from support.admin_console import TOTP_AMR, actor, add_user, start_session
from support.quivive import RecordingAudit
from support.sessions import session_row

People = dict[str, User]
Attempt = Callable[[AdminService, AdminActor, People], object]


@pytest.fixture
def people(sqlite_services: Services) -> People:
    services = sqlite_services
    return {
        "admin": add_user(services, "root", "admin"),
        "helpdesk": add_user(services, "desk", "helpdesk"),
        "auditor": add_user(services, "reader", "auditor"),
        "nurse": add_user(services, "nina", "nurse"),
        "other_admin": add_user(services, "root2", "admin"),
    }


def _forbidden(audit: RecordingAudit) -> list[tuple[str | None, str | None]]:
    return [
        (event.actor, event.reason)
        for event in audit.events
        if event.action == "admin.forbidden" and event.outcome is Outcome.FAILURE
    ]


HELPDESK_FORBIDDEN: dict[str, tuple[str, Attempt]] = {
    "change MFA policy": (
        "policies.manage",
        lambda s, a, p: s.set_mfa_rule(a, MfaRule("nurse", date(2026, 2, 1))),
    ),
    "read audit": ("audit.view", lambda s, a, p: s.audit_page(a, AuditQuery())),
    "grant admin": (
        "admins.manage",
        lambda s, a, p: s.update_user(a, p["nurse"].id, UserChanges(roles=["admin"])),
    ),
    "create auditor": (
        "admins.manage",
        lambda s, a, p: s.create_user(a, NewAccount("eve", roles=["auditor"])),
    ),
    "disable admin": (
        "admins.manage",
        lambda s, a, p: s.set_enabled(a, p["other_admin"].id, enabled=False),
    ),
    "reset admin factors": (
        "admins.manage",
        lambda s, a, p: s.reset_factors(a, p["other_admin"].id, "lost phone"),
    ),
    "revoke admin sessions": (
        "admins.manage",
        lambda s, a, p: s.revoke_all_sessions(a, p["other_admin"].id),
    ),
    "edit admin": (
        "admins.manage",
        lambda s, a, p: s.update_user(a, p["other_admin"].id, UserChanges(display_name="x")),
    ),
}

AUDITOR_FORBIDDEN: dict[str, tuple[str, Attempt]] = {
    "change MFA policy": (
        "policies.manage",
        lambda s, a, p: s.set_mfa_rule(a, MfaRule("nurse", date(2026, 2, 1))),
    ),
    "list users": ("users.view", lambda s, a, p: s.users(a, UserQuery())),
    "see a user": ("users.view", lambda s, a, p: s.detail(a, p["nurse"].id)),
    "create user": ("users.manage", lambda s, a, p: s.create_user(a, NewAccount("eve"))),
    "edit user": (
        "users.manage",
        lambda s, a, p: s.update_user(a, p["nurse"].id, UserChanges(display_name="x")),
    ),
    "disable user": (
        "users.manage",
        lambda s, a, p: s.set_enabled(a, p["nurse"].id, enabled=False),
    ),
    "reset factors": (
        "factors.manage",
        lambda s, a, p: s.reset_factors(a, p["nurse"].id, "lost phone"),
    ),
    "revoke sessions": (
        "sessions.manage",
        lambda s, a, p: s.revoke_all_sessions(a, p["nurse"].id),
    ),
    "list throttles": ("throttles.manage", lambda s, a, p: s.throttles(a)),
    "clear throttle": ("throttles.manage", lambda s, a, p: s.clear_throttle(a, "nina")),
}


@pytest.mark.parametrize("name", list(HELPDESK_FORBIDDEN))
def test_helpdesk_is_refused_and_audited(
    sqlite_services: Services, people: People, audit: RecordingAudit, name: str
) -> None:
    reason, attempt = HELPDESK_FORBIDDEN[name]
    before = sqlite_services.users.get(people["other_admin"].id)

    with pytest.raises(PermissionDenied):
        attempt(sqlite_services.admin, actor(people["helpdesk"]), people)

    assert _forbidden(audit) == [("desk", reason)]
    assert sqlite_services.users.get(people["other_admin"].id) == before
    assert sqlite_services.accounts.find("eve") is None


@pytest.mark.parametrize("name", list(AUDITOR_FORBIDDEN))
def test_auditor_is_refused_and_audited(
    sqlite_services: Services, people: People, audit: RecordingAudit, name: str
) -> None:
    reason, attempt = AUDITOR_FORBIDDEN[name]

    with pytest.raises(PermissionDenied):
        attempt(sqlite_services.admin, actor(people["auditor"]), people)

    assert _forbidden(audit) == [("reader", reason)]
    assert sqlite_services.users.get(people["nurse"].id).is_active


def test_auditor_reads_dashboard_and_audit(sqlite_services: Services, people: People) -> None:
    reader = actor(people["auditor"])

    board = sqlite_services.admin.dashboard(reader)
    sqlite_services.admin.audit_page(reader, AuditQuery())

    assert board.coverage[0].active == 5


def test_helpdesk_manages_ordinary_users(
    sqlite_services: Services, people: People, audit: RecordingAudit
) -> None:
    admin, desk, nurse = sqlite_services.admin, actor(people["helpdesk"]), people["nurse"]
    start_session(sqlite_services, nurse)
    changes = UserChanges(display_name="Nina N.", professional_id="10001234567", roles=["nurse"])

    updated = admin.update_user(desk, nurse.id, changes)
    ended = admin.revoke_all_sessions(desk, nurse.id)
    disabled = admin.set_enabled(desk, nurse.id, enabled=False)

    assert (updated.display_name, updated.professional_id) == ("Nina N.", "10001234567")
    assert ended == 1
    assert disabled.status is UserStatus.DISABLED
    assert ("user.updated", "desk") in [(e.action, e.actor) for e in audit.events]
    assert ("session.revoked_all", "desk") in [(e.action, e.actor) for e in audit.events]
    assert ("user.disabled", "desk") in [(e.action, e.actor) for e in audit.events]
    assert _forbidden(audit) == []


def test_admin_grants_console_roles(sqlite_services: Services, people: People) -> None:
    root = actor(people["admin"])

    user = sqlite_services.admin.update_user(
        root, people["nurse"].id, UserChanges(roles=["nurse", "Helpdesk"])
    )

    assert user.roles == ("helpdesk", "nurse")


def test_an_admin_cannot_lock_themselves_out(sqlite_services: Services, people: People) -> None:
    root = actor(people["admin"])

    with pytest.raises(ValidationError):
        sqlite_services.admin.set_enabled(root, people["admin"].id, enabled=False)
    with pytest.raises(ValidationError):
        sqlite_services.admin.update_user(root, people["admin"].id, UserChanges(roles=["nurse"]))


def test_reset_factors_needs_a_reason_and_records_it(
    sqlite_services: Services, people: People, audit: RecordingAudit
) -> None:
    root, nurse = actor(people["admin"]), people["nurse"]
    sqlite_services.recovery_codes.generate(nurse.id)
    start_session(sqlite_services, nurse)

    with pytest.raises(ValidationError):
        sqlite_services.admin.reset_factors(root, nurse.id, "   ")
    removed = sqlite_services.admin.reset_factors(root, nurse.id, "lost  phone\n")

    assert removed > 0
    assert sqlite_services.sessions.list_for_user(nurse.id) == []
    event = next(e for e in audit.events if e.action == "factors.reset")
    assert (event.actor, event.subject, event.details["reason"]) == ("root", "nina", "lost phone")


def test_console_entry_needs_a_passkey_unless_recovered(
    sqlite_services: Services, people: People, clock: FrozenClock, audit: RecordingAudit
) -> None:
    admin, root = sqlite_services.admin, people["admin"]
    totp = sqlite_services.sessions.find_live(
        start_session(sqlite_services, root, amr=TOTP_AMR, aal=2)  # type: ignore[arg-type]
    )
    passkey = sqlite_services.sessions.find_live(start_session(sqlite_services, root))
    nurse = people["nurse"]

    assert admin.may_enter(root, passkey, require_phishing_resistant=True) == ""
    assert admin.may_enter(root, totp, require_phishing_resistant=False) == ""
    assert admin.may_enter(root, totp, require_phishing_resistant=True) != ""
    assert admin.may_enter(nurse, passkey, require_phishing_resistant=True) == "no_console_role"

    until = admin.grant_recovery("ROOT", actor="cli")

    assert admin.may_enter(root, totp, require_phishing_resistant=True) == ""
    assert until == clock.now() + timedelta(hours=1)
    assert ("admin.recovery_granted", "success") in audit.actions()
    clock.advance(timedelta(hours=1, seconds=1))
    assert admin.may_enter(root, totp, require_phishing_resistant=True) != ""


def test_recovery_is_for_console_accounts_only(sqlite_services: Services, people: People) -> None:
    with pytest.raises(ValidationError):
        sqlite_services.admin.grant_recovery("nina", actor="cli")


def test_coverage_and_password_only(sqlite_services: Services, people: People) -> None:
    services = sqlite_services
    secret_user = people["nurse"]
    services.recovery_codes.generate(secret_user.id)  # a backup is no second factor

    board = services.admin.dashboard(actor(people["admin"]))

    overall = board.coverage[0]
    assert (overall.role, overall.active, overall.with_mfa) == (None, 5, 0)
    assert {row.role for row in board.coverage[1:]} == {"admin", "auditor", "helpdesk", "nurse"}
    assert {user.username for user in board.password_only} == {
        "root",
        "desk",
        "reader",
        "nina",
        "root2",
    }
    assert board.active_sessions == 0


def test_throttled_accounts_show_and_clear(
    sqlite_services: Services, people: People, audit: RecordingAudit
) -> None:
    throttle = sqlite_services.throttle
    for _ in range(8):
        attempt = throttle.admit("nina", "192.0.2.7")
        throttle.failed(attempt, "guess")
    root = actor(people["admin"])

    board = sqlite_services.admin.dashboard(root)
    assert [entry.key.account for entry in board.throttled_accounts] == ["nina"]
    assert sqlite_services.admin.detail(root, people["nurse"].id).throttled
    assert sqlite_services.admin.clear_throttle(root, "nina") > 0
    assert ("throttle.cleared", "root") in [(e.action, e.actor) for e in audit.events]


PAGE_NAMES = [f"user{index:03d}" for index in range(120)]


@pytest.fixture
def many(services: Services) -> Services:
    for index, name in enumerate(PAGE_NAMES):
        roles = ("nurse",) if index % 3 == 0 else ("secretary",)
        services.accounts.create(
            NewAccount(name, display_name=f"Person {index}", roles=roles), actor="test"
        )
    services.accounts.disable("user007", actor="test")
    return services


def _all_pages(services: Services, root: AdminActor, query: UserQuery) -> list[str]:
    names: list[str] = []
    after = 0
    while True:
        page = services.admin.users(root, replace(query, after=after))
        names += [user.username for user in page.users]
        if page.next_cursor is None:
            return names
        after = page.next_cursor


def test_keyset_pages_cover_everyone_once(many: Services) -> None:
    root = actor(add_user(many, "root", "admin"))

    names = _all_pages(many, root, UserQuery(limit=50))

    assert names == [*PAGE_NAMES, "root"]


def test_filters(many: Services) -> None:
    root = actor(add_user(many, "root", "admin"))
    users = many.admin.users

    nurses = _all_pages(many, root, UserQuery(role="nurse", limit=7))
    assert nurses == [name for i, name in enumerate(PAGE_NAMES) if i % 3 == 0]
    assert [u.username for u in users(root, UserQuery(status=UserStatus.DISABLED)).users] == [
        "user007"
    ]
    assert [u.username for u in users(root, UserQuery(search="USER11")).users] == [
        f"user11{i}" for i in range(10)
    ]
    assert [u.username for u in users(root, UserQuery(search="son 119")).users] == ["user119"]
    assert [u.username for u in users(root, UserQuery(search="%")).users] == []
    assert len(_all_pages(many, root, UserQuery(factor=FactorFilter.NONE))) == 121
    assert users(root, UserQuery(factor=FactorFilter.PASSKEY)).users == []


def test_read_models_on_every_backend(services: Services, clock: FrozenClock) -> None:
    from quivive.domain.audit import AuditEvent

    root = add_user(services, "root", "admin")
    add_user(services, "nina", "nurse", "night")
    start_session(services, root)
    services.admin.grant_recovery("root", actor="cli")
    services.audit_trail.append(AuditEvent("admin.test", Outcome.SUCCESS, clock.now(), "root"))
    services.audit_trail.append(AuditEvent("login.password", Outcome.FAILURE, clock.now(), "x"))

    board = services.admin.dashboard(actor(root))
    page = services.admin.audit_page(actor(root), AuditQuery(action="admin."))

    assert [(c.role, c.active) for c in board.coverage] == [
        (None, 2),
        ("admin", 1),
        ("night", 1),
        ("nurse", 1),
    ]
    assert board.active_sessions == 1
    assert services.admin.recovery_until(root.id) == clock.now() + timedelta(hours=1)
    assert [record.action for record in page.records] == ["admin.test"]


def test_the_dashboard_counts_sessions_by_their_own_idle_limit(
    services: Services, clock: FrozenClock
) -> None:
    root = add_user(services, "root", "admin")
    nina = add_user(services, "nina", "nurse")
    start_session(services, root)  # the configured idle limit (15 minutes)
    # Five minutes, as a console override had set when it started.
    brief = session_row(nina.id, "b" * 64, clock.now(), idle_timeout=timedelta(minutes=5))
    SessionRepository(services.engine).add(brief)
    assert services.admin.dashboard(actor(root)).active_sessions == 2

    clock.advance(timedelta(minutes=6))  # past nina's own limit, within the configured one

    assert services.admin.dashboard(actor(root)).active_sessions == 1
