"""Who is acting in the admin console and API, and whether they may come in at all.

Console pages and cookie-authenticated API calls need a complete sign-in by a user holding a
console role, with a phishing-resistant factor unless ``admin.require_phishing_resistant`` is
off or ``quivive admin recover`` lifted it for that administrator for a while. Scripts use an
access token from the client credentials grant carrying an admin scope, verified by the OIDC
provider's own code: ``admin`` acts as an administrator, ``admin:helpdesk`` as helpdesk and
``admin:audit`` as an auditor. Every refusal is audited.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

from anyio import to_thread
from starlette.requests import Request
from starlette.responses import Response

from quivive.domain.admin_roles import Action, allowed, roles_for_scopes
from quivive.domain.users import User
from quivive.errors import AuthenticationFailed, PermissionDenied, SessionInvalid
from quivive.protocols.oidc.errors import OAuthError
from quivive.services.admin import AdminActor
from quivive.services.mfa import Step
from quivive.services.sessions import ActiveSession
from quivive.web import admin_messages, messages
from quivive.web.mfa_flow import origin_of, signed_in
from quivive.web.state import SESSION_COOKIE, WebState, no_store, see_other, web_state

CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def actor_for(request: Request, user: User) -> AdminActor:
    return AdminActor(user.username, frozenset(user.roles), user.id, origin_of(request))


async def console_actor(request: Request) -> AdminActor | Response:
    """The administrator behind a console page, or the response to send instead."""
    gate = await signed_in(request)
    if isinstance(gate, Response):
        return gate
    web = web_state(request)
    reason = await to_thread.run_sync(_entry_refusal, web, request, gate)
    if reason:
        return _refused_page(request, reason)
    return actor_for(request, gate.user)


def nav_context(request: Request, actor: AdminActor, notice: str | None) -> dict[str, object]:
    """What every console page's navigation (admin_nav.html) reads; ``notice`` untranslated."""
    web = web_state(request)
    return {
        "actor": actor,
        "can": {action.name.lower(): allowed(actor.roles, action) for action in Action},
        "notice": web.translate(request, notice) if notice else None,
        # Read with the entry check, in its worker thread (console_actor): never on the loop.
        "recovery_until": getattr(request.state, "recovery_until", None),
    }


class ConsolePost(NamedTuple):
    """A console form posted by an administrator: read strictly, its CSRF token checked."""

    web: WebState
    form: dict[str, str]
    actor: AdminActor

    def unconfirmed(self, action: Action, back: str) -> Response | None:
        """Back to ``back`` asking for the confirmation box of a destructive change, unless it
        was ticked. The permission comes first, so a role that may not act is refused (and
        audited) rather than asked to confirm."""
        if self.form.get("confirm") == "yes":
            return None
        self.web.services.admin.authorize(self.actor, action)
        return see_other(f"{back}?notice=confirm_required")


async def console_post(request: Request) -> ConsolePost | Response:
    """The posted console form and its administrator, or the response to send instead."""
    web = web_state(request)
    form = await web.posted_form(request)
    actor = await console_actor(request)
    if isinstance(actor, Response):
        return actor
    return ConsolePost(web, form, actor)


def _entry_refusal(web: WebState, request: Request, active: ActiveSession) -> str:
    admin = web.services.admin
    require = web.services.settings.admin.require_phishing_resistant
    reason = admin.may_enter(active.user, active.session, require_phishing_resistant=require)
    if reason:
        admin.refuse_console(actor_for(request, active.user), reason)
    else:  # the banner of a recovered administrator, on every console page
        request.state.recovery_until = admin.recovery_until(active.user.id)
    return reason


def _refused_page(request: Request, reason: str) -> Response:
    web = web_state(request)
    passkey = reason == "phishing_resistant_required"
    message = admin_messages.PASSKEY_REQUIRED if passkey else admin_messages.NO_ROLE
    context = {
        "title": web.translate(request, messages.PAGE_TITLES[403]),
        "message": web.translate(request, message),
        "passkey": passkey,
    }
    return no_store(web.pages.render(request, "admin_refused.html", context, status_code=403))


def api_actor(request: Request) -> AdminActor:
    """The caller of an admin API endpoint: a bearer token or an administrator's session."""
    web = web_state(request)
    authorization = request.headers.get("authorization")
    if authorization is not None:
        return _token_actor(web, request, authorization)
    token = request.cookies.get(web.cookies.name(SESSION_COOKIE))
    active = web.services.sessions.resolve(token) if token and len(token) <= 128 else None
    if active is None:
        raise SessionInvalid("sign in or send a bearer token")
    if web.services.mfa.standing(active.user, active.session).step is not Step.PROCEED:
        raise SessionInvalid("the session has not finished signing in")
    if _entry_refusal(web, request, active):
        raise PermissionDenied("this session may not use the admin API")
    if request.method not in SAFE_METHODS:
        web.csrf.verify(request, request.headers.get(CSRF_HEADER))
    return actor_for(request, active.user)


def _token_actor(web: WebState, request: Request, authorization: str) -> AdminActor:
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip() or len(token) > 8192:
        raise AuthenticationFailed("expected a bearer token")
    try:
        verified = web.services.oidc.tokens.verify_access_token(token.strip())
    except OAuthError as exc:
        raise AuthenticationFailed("invalid or expired access token") from exc
    roles = roles_for_scopes(str(verified.claims.get("scope", "")).split())
    # A token issued to a person (a grant) never acts as a service account, whatever its scope.
    if verified.grant is not None or not roles:
        raise PermissionDenied("the token lacks an admin scope of a service account")
    client_id = str(verified.claims.get("client_id") or verified.claims.get("sub", "?"))
    return AdminActor(f"client:{client_id}", roles, None, origin_of(request))


async def api_actor_async(request: Request) -> AdminActor:
    return await to_thread.run_sync(partial(api_actor, request))
