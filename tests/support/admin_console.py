"""Helpers for the admin console and API tests: users with roles and ready-made sessions."""

from __future__ import annotations

import re

from starlette.testclient import TestClient

from quivive.composition import Services
from quivive.domain.sessions import AssuranceLevel
from quivive.domain.users import User
from quivive.services.accounts import NewAccount
from quivive.services.admin import AdminActor

PASSWORD = "correct horse battery staple 42"
PASSKEY_AMR = ("hwk", "user", "mfa")
TOTP_AMR = ("pwd", "otp", "mfa")


def add_user(services: Services, username: str, *roles: str, password: bool = True) -> User:
    account = NewAccount(username, PASSWORD if password else None, roles=roles)
    return services.accounts.create(account, actor="test")


def actor(user: User) -> AdminActor:
    return AdminActor(user.username, frozenset(user.roles), user.id)


def start_session(
    services: Services,
    user: User,
    *,
    amr: tuple[str, ...] = PASSKEY_AMR,
    aal: AssuranceLevel = AssuranceLevel.AAL3,
) -> str:
    return services.sessions.start(
        user, amr=amr, aal=aal, source_address="127.0.0.1", user_agent="test"
    )


def sign_in_as(
    client: TestClient,
    services: Services,
    user: User,
    *,
    amr: tuple[str, ...] = PASSKEY_AMR,
    aal: AssuranceLevel = AssuranceLevel.AAL3,
) -> str:
    """Put a session for ``user`` in the client's cookie jar (as a passkey sign-in by default)."""
    token = start_session(services, user, amr=amr, aal=aal)
    client.cookies.set("quivive_session", token)
    return token


def csrf_token(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "no CSRF token in the page"
    return match[1]


def service_token(
    services: Services,
    *,
    requested: tuple[str, ...] = ("admin",),
    granted: tuple[str, ...] = ("admin",),
) -> str:
    """An access token from the client credentials grant of a new service-account client."""
    import base64

    from quivive.services.oidc_clients import NewClient

    client, secret = services.oidc.clients.register(
        NewClient("automation", grant_types=("client_credentials",), scopes=granted),
        actor="test",
    )
    assert secret is not None
    basic = base64.b64encode(f"{client.client_id}:{secret}".encode()).decode()
    form = {"grant_type": "client_credentials", "scope": " ".join(requested)}
    return str(services.oidc.tokens.token(form, "Basic " + basic)["access_token"])
