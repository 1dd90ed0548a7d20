"""The console's permission table: what admin, helpdesk and auditor may do."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from quivive.domain.admin_roles import (
    PERMISSIONS,
    Action,
    allowed,
    is_console_user,
    is_phishing_resistant,
    touches_admins,
)
from quivive.domain.sessions import AssuranceLevel, Session

# KEEP_REPORT, like every change outside user support, is the administrator's alone.
HELPDESK_MAY = {
    Action.VIEW_DASHBOARD,
    Action.VIEW_USERS,
    Action.MANAGE_USERS,
    Action.MANAGE_FACTORS,
    Action.MANAGE_SESSIONS,
    Action.MANAGE_THROTTLES,
}
AUDITOR_MAY = {
    Action.VIEW_DASHBOARD,
    Action.VIEW_AUDIT,
    Action.VIEW_REPORT,
    Action.VIEW_EMERGENCY,
    Action.VIEW_APPS,
}


def test_every_action_has_a_row() -> None:
    assert set(PERMISSIONS) == set(Action)


@pytest.mark.parametrize("action", list(Action))
def test_admin_may_do_everything(action: Action) -> None:
    assert allowed(("admin",), action)


@pytest.mark.parametrize("action", list(Action))
def test_helpdesk_looks_after_users_not_policies_or_admins(action: Action) -> None:
    assert allowed(("helpdesk",), action) is (action in HELPDESK_MAY)


@pytest.mark.parametrize("action", list(Action))
def test_auditor_only_reads(action: Action) -> None:
    assert allowed(("auditor",), action) is (action in AUDITOR_MAY)


@pytest.mark.parametrize("action", list(Action))
def test_other_roles_have_no_console(action: Action) -> None:
    assert not allowed(("nurse", "doctor"), action)
    assert not is_console_user(("nurse",))


def test_roles_add_up() -> None:
    assert allowed(("auditor", "helpdesk"), Action.VIEW_AUDIT)
    assert allowed(("auditor", "helpdesk"), Action.MANAGE_SESSIONS)
    assert not allowed(("auditor", "helpdesk"), Action.MANAGE_POLICIES)


def test_changes_touching_console_roles_concern_admins() -> None:
    assert touches_admins(("nurse",), ("nurse", "auditor"))
    assert not touches_admins(("nurse",), ())


def _session(amr: tuple[str, ...], aal: AssuranceLevel) -> Session:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    return Session("h", 1, now, now, now, timedelta(minutes=15), now, amr, aal, None, None, None)


@pytest.mark.parametrize(
    ("amr", "aal", "expected"),
    [
        (("hwk", "user", "mfa"), AssuranceLevel.AAL3, True),
        (("swk", "user", "mfa"), AssuranceLevel.AAL2, True),  # a synced passkey still binds origin
        (("pwd", "otp", "mfa"), AssuranceLevel.AAL2, False),
        (("pwd",), AssuranceLevel.AAL1, False),
    ],
)
def test_phishing_resistant_sessions(
    amr: tuple[str, ...], aal: AssuranceLevel, expected: bool
) -> None:
    assert is_phishing_resistant(_session(amr, aal)) is expected
