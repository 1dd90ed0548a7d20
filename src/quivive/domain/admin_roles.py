"""Who may do what in the admin console and API: a small table, action -> roles (no I/O).

Three console roles (issue 7): ``admin`` may do everything; ``helpdesk`` looks after users,
their factors and sessions, but neither policies nor administrators; ``auditor`` only reads the
dashboard and the audit trail. A user with none of them has no console at all.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping

from quivive.domain.assurance import PHISHING_RESISTANT_AMR
from quivive.domain.sessions import AssuranceLevel, Session
from quivive.domain.users import ADMIN_ROLE

HELPDESK_ROLE = "helpdesk"
AUDITOR_ROLE = "auditor"
CONSOLE_ROLES = frozenset({ADMIN_ROLE, HELPDESK_ROLE, AUDITOR_ROLE})


class Action(enum.StrEnum):
    VIEW_DASHBOARD = "dashboard.view"
    VIEW_AUDIT = "audit.view"
    VIEW_USERS = "users.view"
    MANAGE_USERS = "users.manage"  # create, edit, disable/enable
    MANAGE_FACTORS = "factors.manage"  # reset factors
    MANAGE_SESSIONS = "sessions.manage"  # revoke
    MANAGE_THROTTLES = "throttles.manage"  # list and clear
    MANAGE_ADMINS = "admins.manage"  # touch an account holding, or grant, a console role
    MANAGE_POLICIES = "policies.manage"
    VIEW_REPORT = "report.view"  # the posture report: names weak accounts, so not for helpdesk
    KEEP_REPORT = "report.keep"  # add it to the history: moves the trend's baseline
    VIEW_EMERGENCY = "emergency.view"  # the emergency-access review queue
    REVIEW_EMERGENCY = "emergency.review"  # mark a use justified or unjustified
    VIEW_APPS = "apps.view"  # OIDC clients and gate rules (never a secret)
    MANAGE_APPS = "apps.manage"  # create, edit, rotate a secret, remove


_ALL = frozenset({ADMIN_ROLE})
_SUPPORT = frozenset({ADMIN_ROLE, HELPDESK_ROLE})
_READERS = frozenset({ADMIN_ROLE, AUDITOR_ROLE})

PERMISSIONS: Mapping[Action, frozenset[str]] = {
    Action.VIEW_DASHBOARD: frozenset(CONSOLE_ROLES),
    Action.VIEW_AUDIT: _READERS,
    Action.VIEW_USERS: _SUPPORT,
    Action.MANAGE_USERS: _SUPPORT,
    Action.MANAGE_FACTORS: _SUPPORT,
    Action.MANAGE_SESSIONS: _SUPPORT,
    Action.MANAGE_THROTTLES: _SUPPORT,
    Action.MANAGE_ADMINS: _ALL,
    Action.MANAGE_POLICIES: _ALL,
    Action.VIEW_REPORT: _READERS,
    # Keeping writes history and sets the baseline the next trend is read against: a change.
    Action.KEEP_REPORT: _ALL,
    # The security officer (admin) decides; auditors read the queue, helpdesk has no say.
    Action.VIEW_EMERGENCY: _READERS,
    Action.REVIEW_EMERGENCY: _ALL,
    # Which applications exist and who may reach them: auditors read it, only admins change it.
    Action.VIEW_APPS: _READERS,
    Action.MANAGE_APPS: _ALL,
}


# Service accounts (client credentials tokens) act with the role their scope names; scopes from
# protocols.oidc.claims.SERVICE_SCOPES. A script that only resets factors or exports the audit
# gets no more than a helpdesk technician or an auditor would.
SERVICE_SCOPE_ROLES: Mapping[str, str] = {
    "admin": ADMIN_ROLE,
    "admin:helpdesk": HELPDESK_ROLE,
    "admin:audit": AUDITOR_ROLE,
}


def roles_for_scopes(scopes: Iterable[str]) -> frozenset[str]:
    return frozenset(SERVICE_SCOPE_ROLES[s] for s in scopes if s in SERVICE_SCOPE_ROLES)


def is_console_user(roles: Iterable[str]) -> bool:
    return not CONSOLE_ROLES.isdisjoint(roles)


def allowed(roles: Iterable[str], action: Action) -> bool:
    return not PERMISSIONS[action].isdisjoint(roles)


def touches_admins(*role_sets: Iterable[str]) -> bool:
    """Whether a change concerns a console account (its roles now, or the roles it would get)."""
    return any(is_console_user(roles) for roles in role_sets)


def is_phishing_resistant(session: Session) -> bool:
    """The session was opened with a WebAuthn key (``hwk``/``swk``), or is at AAL3.

    Console sign-in needs this by default: a phished password and TOTP code must not open the
    keys to every account of the establishment (ANSSI 2021, R26; NIST SP 800-63B-4 AAL3).
    """
    return session.aal >= AssuranceLevel.AAL3 or not PHISHING_RESISTANT_AMR.isdisjoint(session.amr)
