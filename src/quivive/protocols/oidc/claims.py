"""Claims released per scope (OIDC Core §5.4), plus Quivive's ``healthcare`` scope.

``healthcare`` gives what health applications expect from a Pro Santé Connect-style provider:
the professional identifier (RPPS, from the user's ``professional_id``), the roles, and the
establishment's FINESS number (from configuration).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from quivive.domain.users import User

SCOPE_CLAIMS: dict[str, tuple[str, ...]] = {
    "openid": ("sub",),
    "profile": ("name", "preferred_username"),
    "email": ("email",),
    "healthcare": ("rpps", "roles", "finess"),
}
SUPPORTED_SCOPES = ("openid", "profile", "email", "offline_access", "healthcare")
# Scopes for service accounts only (client credentials): each opens the admin API with the powers
# of one console role (domain.admin_roles.SERVICE_SCOPE_ROLES): "admin" everything,
# "admin:helpdesk" users, factors and sessions, "admin:audit" read-only dashboard and audit.
SERVICE_SCOPES = ("admin", "admin:helpdesk", "admin:audit")


def user_claims(user: User, scope: Iterable[str], *, finess: str | None) -> dict[str, Any]:
    """The claims ``scope`` grants, leaving out those with no value (OIDC Core §5.3.2)."""
    granted = set(scope)
    values: dict[str, Any] = {"sub": user.subject}
    if "profile" in granted:
        values |= {"name": user.display_name, "preferred_username": user.username}
    if "email" in granted and user.email:
        # Quivive does not verify addresses: say so rather than leave RPs to assume it.
        values |= {"email": user.email, "email_verified": False}
    if "healthcare" in granted:
        healthcare = {"rpps": user.professional_id, "roles": list(user.roles), "finess": finess}
        values |= {name: value for name, value in healthcare.items() if value is not None}
    return values


def supported_claims() -> list[str]:
    names = {claim for claims in SCOPE_CLAIMS.values() for claim in claims}
    extra = {"iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "sid", "azp"}
    return sorted(names | extra | {"email_verified"})
