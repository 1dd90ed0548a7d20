"""OpenID Connect endpoints: discovery, JWKS, authorize, token, userinfo, introspection,
revocation and end-session.

Protocol endpoints read the raw request, so every error is an OAuth error body (JSON at the token
endpoint, a redirect to the client where the redirect URI is trusted, otherwise a page in the
user's language), never FastAPI's 422. Database and signing work runs in the thread pool.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from functools import partial
from typing import Any
from urllib.parse import parse_qsl, urlencode

from anyio import to_thread
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from quivive.domain.audit import AuditEvent, Outcome
from quivive.domain.sessions import AssuranceLevel
from quivive.errors import QuiviveError
from quivive.protocols.oidc import discovery
from quivive.protocols.oidc.errors import (
    InsufficientScope,
    InvalidClient,
    InvalidRequest,
    InvalidToken,
    OAuthError,
)
from quivive.protocols.oidc.jose_keys import KeyRing
from quivive.protocols.oidc.params import MAX_BODY_BYTES, parse_form, parse_pairs
from quivive.services.mfa import Step
from quivive.services.oidc import (
    Decision,
    NeedConsent,
    NeedLogin,
    NeedStepUp,
    ShowError,
    ToClient,
)
from quivive.services.sessions import ActiveSession
from quivive.web import messages
from quivive.web.csrf import CSRF_FIELD
from quivive.web.i18n import LANGUAGE_COOKIE, SUPPORTED_LANGUAGES
from quivive.web.mfa_flow import ENROL_REQUIRED_PATH, SECOND_FACTOR_PATH, standing_of, with_next
from quivive.web.state import SESSION_COOKIE, WebState, see_other, web_state

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)

FORM_TYPE = "application/x-www-form-urlencoded"
# Set on the authorize URL a step-up sends the user back to: if the level is still short after
# one attempt, the code is issued with the achieved acr (acr_values is a voluntary claim, OIDC
# Core §5.5.1.1), and the relying party decides.
STEP_UP_MARKER = "quivive_step_up"
LOGIN_PATH = "/login"
NO_STORE = {"cache-control": "no-store", "pragma": "no-cache"}
# Discovery and keys may be cached briefly by clients; keys change only on rotation, and a
# rotated key keeps verifying long after this.
METADATA_CACHE = "public, max-age=300"
JWKS_CACHE = "public, max-age=60"
# Endpoints called by browser apps (public clients) carry no cookies: any origin may read them.
CORS = {"access-control-allow-origin": "*"}
METADATA_HEADERS = {"cache-control": METADATA_CACHE, **CORS}
JWKS_HEADERS = {"cache-control": JWKS_CACHE, **CORS}
CORS_PREFLIGHT = {
    **CORS,
    "access-control-allow-methods": "GET, POST",
    "access-control-allow-headers": "authorization, content-type",
    "access-control-max-age": "600",
}


def compact_json(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


def _json(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    payload = compact_json(body)
    return Response(payload, status, headers=dict(headers or {}), media_type="application/json")


# --- discovery and keys ----------------------------------------------------------------------


def metadata_document(issuer: str) -> bytes:
    return compact_json(discovery.provider_metadata(issuer))


class KeysDocument:
    """The public JWK Set's bytes, serialised again only when the key ring is another one."""

    def __init__(self) -> None:
        self._ring: KeyRing | None = None
        self._payload = b""

    def of(self, ring: KeyRing) -> bytes:
        if ring is not self._ring:
            self._payload = compact_json(ring.jwks())
            self._ring = ring
        return self._payload


async def openid_configuration(request: Request) -> Response:
    cached: bytes | None = getattr(request.app.state, "oidc_metadata", None)
    if cached is None:
        cached = metadata_document(web_state(request).services.oidc.config.issuer)
        request.app.state.oidc_metadata = cached
    return Response(cached, headers=METADATA_HEADERS, media_type="application/json")


async def jwks(request: Request) -> Response:
    document: KeysDocument | None = getattr(request.app.state, "oidc_jwks", None)
    if document is None:
        document = request.app.state.oidc_jwks = KeysDocument()
    keys = web_state(request).services.oidc.keys
    # A reload due reads the key table: in a worker thread, never on the event loop.
    ring = keys.fresh_ring()
    if ring is None:
        ring = await to_thread.run_sync(keys.ring)
    return Response(document.of(ring), headers=JWKS_HEADERS, media_type="application/json")


# --- authorization endpoint ------------------------------------------------------------------


async def authorize(request: Request) -> Response:
    web = web_state(request)
    try:
        params = await _request_params(request)
    except OAuthError as exc:
        return _error_page(web, request, exc.description)
    _apply_ui_locales(request, params)
    active, owed = await _complete_session(web, await web.current_session(request))
    stepped_up = params.pop(STEP_UP_MARKER, None) is not None
    decide = web.services.oidc.authorization.decide
    decision = await to_thread.run_sync(partial(decide, params, active, stepped_up=stepped_up))
    if (
        isinstance(decision, NeedLogin)
        and owed is not None
        and "login" not in params.get("prompt", "")
    ):
        # Signed in with a password but a second factor (or its enrolment) is still owed.
        return see_other(with_next(owed, _authorize_url(params)))
    return _respond(web, request, decision, params)


async def _complete_session(
    web: WebState, active: ActiveSession | None
) -> tuple[ActiveSession | None, str | None]:
    """The session if it finished signing in (MFA policy met), else None and the MFA page owed.

    A session still owing its second factor must never obtain a code: to the relying party it
    is no session at all.
    """
    if active is None:
        return None, None
    standing = await standing_of(web, active)
    if standing.step is Step.PROCEED:
        return active, None
    if standing.step is Step.SECOND_FACTOR:
        return None, SECOND_FACTOR_PATH
    return None, ENROL_REQUIRED_PATH


async def consent(request: Request) -> Response:
    web = web_state(request)
    try:
        form = parse_form(await _body(request))
    except OAuthError as exc:
        return _error_page(web, request, exc.description)
    web.csrf.verify(request, form.pop(CSRF_FIELD, None))
    allowed = form.pop("decision", "") == "allow"
    _apply_ui_locales(request, form)
    active, _owed = await _complete_session(web, await web.current_session(request))
    if active is None:
        return _to_login(web, request, form, None)
    approve = web.services.oidc.authorization.approve
    decision = await to_thread.run_sync(partial(approve, form, active, allowed=allowed))
    return _respond(web, request, decision, form)


async def _request_params(request: Request) -> dict[str, str]:
    # OIDC Core §3.1.2.1: "Authorization Servers MUST support the use of the HTTP GET and POST
    # methods"; a GET reads the query, a POST the form body, never a mix of both.
    if request.method == "POST":
        return parse_form(await _body(request))
    return parse_pairs(parse_qsl(request.url.query, keep_blank_values=True))


def _respond(
    web: WebState, request: Request, decision: Decision, params: dict[str, str]
) -> Response:
    if isinstance(decision, ToClient):
        return RedirectResponse(decision.url, status_code=303, headers=NO_STORE)
    if isinstance(decision, ShowError):
        return _error_page(web, request, decision.description)
    if isinstance(decision, NeedLogin):
        return _to_login(web, request, params, decision.login_hint)
    if isinstance(decision, NeedStepUp):
        return _to_step_up(request, params, decision.level)
    return _consent_page(web, request, decision, params)


def _authorize_url(params: Mapping[str, str], **changes: str | None) -> str:
    values = {**params, **changes}
    return discovery.AUTHORIZE_PATH + "?" + urlencode({k: v for k, v in values.items() if v})


def _to_login(
    web: WebState, request: Request, params: Mapping[str, str], login_hint: str | None
) -> Response:
    # prompt=login is satisfied by the sign-in about to happen: dropping it from the way back
    # keeps the browser from being sent to the login page forever.
    prompt = " ".join(v for v in params.get("prompt", "").split() if v != "login") or None
    query = {"next": _authorize_url(params, prompt=prompt)}
    if login_hint:
        query["login_hint"] = login_hint
    response = see_other(f"{LOGIN_PATH}?{urlencode(query)}")
    _keep_language(web, request, response)
    return response


def _to_step_up(request: Request, params: Mapping[str, str], level: AssuranceLevel) -> Response:
    """The MFA flow's step-up entry (its second-factor page with ``level``), or the login page
    when the MFA routes are not mounted."""
    back = _authorize_url(params, **{STEP_UP_MARKER: "1"})
    path = SECOND_FACTOR_PATH if _has_route(request, SECOND_FACTOR_PATH) else LOGIN_PATH
    return see_other(with_next(path, back, level=str(int(level))))


def _has_route(request: Request, path: str) -> bool:
    return any(getattr(route, "path", None) == path for route in request.app.routes)


def _consent_page(
    web: WebState, request: Request, decision: NeedConsent, params: Mapping[str, str]
) -> Response:
    scopes = [
        web.translate(request, messages.SCOPE_DESCRIPTIONS[scope])
        for scope in decision.request.scope
        if scope in messages.SCOPE_DESCRIPTIONS
    ]
    context = {"client_name": decision.client.name, "scopes": scopes, "params": dict(params)}
    return web.render_form(request, "consent.html", context)


def _error_page(web: WebState, request: Request, description: str) -> HTMLResponse:
    context = {
        "title": web.translate(request, messages.PAGE_TITLES[400]),
        "message": web.translate(request, messages.OIDC_REQUEST_INVALID),
    }
    log.info("authorization request refused: %s", description)
    response = web.pages.render(request, "error.html", context, status_code=400)
    response.headers["cache-control"] = "no-store"
    return response


def _apply_ui_locales(request: Request, params: Mapping[str, str]) -> None:
    """OIDC Core §3.1.2.1 ui_locales: the first supported language wins, for this request."""
    for tag in params.get("ui_locales", "").split():
        language = tag.split("-")[0].lower()
        if language in SUPPORTED_LANGUAGES:
            request.state.language = language
            request.state.ui_locale = language
            return


def _keep_language(web: WebState, request: Request, response: Response) -> None:
    # The login page is another request: carry the ui_locales choice over in the language
    # cookie, for this browser session only.
    language = getattr(request.state, "ui_locale", None)
    if language is not None:
        response.set_cookie(
            LANGUAGE_COOKIE,
            language,
            path="/",
            secure=web.cookies.https,
            httponly=True,
            samesite="lax",
        )


# --- token endpoint ------------------------------------------------------------------------------


async def token(request: Request) -> Response:
    web = web_state(request)
    try:
        form = await _token_form(request)
        issue = web.services.oidc.tokens.token
        body = await to_thread.run_sync(issue, form, request.headers.get("authorization"))
    except OAuthError as exc:
        return _token_error(exc, request)
    except QuiviveError:
        return _json({"error": "temporarily_unavailable"}, 503, {**NO_STORE, **CORS})
    return _json(body, 200, {**NO_STORE, **CORS})


async def preflight(request: Request) -> Response:
    return Response(status_code=204, headers=CORS_PREFLIGHT)


async def _token_form(request: Request) -> dict[str, str]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != FORM_TYPE:
        raise InvalidRequest(f"the request body must be {FORM_TYPE}")
    form = parse_form(await _body(request))
    # RFC 6749 §3.2: parameters go in the body; a code or secret in the URL is refused rather
    # than silently ignored, since it has already leaked into logs.
    if request.url.query:
        raise InvalidRequest("parameters must be sent in the request body")
    return form


async def _body(request: Request) -> bytes:
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > MAX_BODY_BYTES:
            raise InvalidRequest("request body too large")
    return bytes(body)


def _token_error(exc: OAuthError, request: Request) -> Response:
    headers = {**NO_STORE, **CORS}
    status = 400
    if isinstance(exc, InvalidClient):
        # RFC 6749 §5.2: "If the client attempted to authenticate via the "Authorization"
        # request header field, the authorization server MUST respond with an HTTP 401 (...) and
        # include the "WWW-Authenticate" response header field"
        status = 401
        if request.headers.get("authorization", "").lower().startswith("basic "):
            headers["www-authenticate"] = 'Basic realm="quivive"'
    return _json({"error": exc.code, "error_description": exc.description}, status, headers)


# --- userinfo ------------------------------------------------------------------------------------


async def userinfo(request: Request) -> Response:
    web = web_state(request)
    try:
        access_token = await _bearer(request)
        claims = await to_thread.run_sync(web.services.oidc.tokens.userinfo, access_token)
    except OAuthError as exc:
        return _bearer_error(exc)
    return _json(claims, 200, {**NO_STORE, **CORS})


async def _bearer(request: Request) -> str:
    """RFC 6750 §2.1 (Authorization header) or §2.2 (form body); never the query (§2.3)."""
    header = request.headers.get("authorization", "")
    from_header = header[7:].strip() if header[:7].lower() == "bearer " else None
    from_body = None
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if request.method == "POST" and content_type == FORM_TYPE:
        from_body = parse_form(await _body(request)).get("access_token")
    if from_header and from_body:
        # RFC 6750 §2: "Clients MUST NOT use more than one method to transmit the token"
        raise InvalidRequest("access token sent twice")
    found = from_header or from_body
    if not found:
        raise InvalidToken("bearer access token required")
    return found


def _bearer_error(exc: OAuthError) -> Response:
    status = 403 if isinstance(exc, InsufficientScope) else 401
    if isinstance(exc, InvalidRequest):
        status = 400
    description = exc.description.replace('"', "'")
    challenge = f'Bearer error="{exc.code}", error_description="{description}"'
    headers = {**NO_STORE, **CORS, "www-authenticate": challenge}
    return _json({"error": exc.code, "error_description": exc.description}, status, headers)


# --- introspection and revocation ----------------------------------------------------------------


async def introspect(request: Request) -> Response:
    web = web_state(request)
    try:
        form = await _token_form(request)
        work = web.services.oidc.tokens.introspect
        body = await to_thread.run_sync(work, form, request.headers.get("authorization"))
    except OAuthError as exc:
        return _token_error(exc, request)
    return _json(body, 200, NO_STORE)


async def revoke(request: Request) -> Response:
    web = web_state(request)
    try:
        form = await _token_form(request)
        work = web.services.oidc.tokens.revoke
        await to_thread.run_sync(work, form, request.headers.get("authorization"))
    except OAuthError as exc:
        return _token_error(exc, request)
    return Response(status_code=200, headers=NO_STORE)


# --- RP-initiated logout -------------------------------------------------------------------------


async def end_session(request: Request) -> Response:
    web = web_state(request)
    try:
        params = await _request_params(request)
    except OAuthError as exc:
        return _error_page(web, request, exc.description)
    _apply_ui_locales(request, params)
    logout = web.services.oidc.logout
    wanted = await to_thread.run_sync(logout.end_session_request, params)
    active = await web.current_session(request)
    if active is None:
        return _after_logout(web, wanted.redirect)
    if wanted.hinted_subject == active.user.subject:
        # RP-Initiated Logout §2: with a valid id_token_hint for the current user, the OP may
        # log out without asking; otherwise it asks (below).
        return await _log_out(web, request, active, wanted.redirect)
    context = {
        "client_name": wanted.client.name if wanted.client else None,
        "params": {k: v for k, v in params.items() if k != CSRF_FIELD},
    }
    return web.render_form(request, "oidc_logout.html", context)


async def end_session_confirm(request: Request) -> Response:
    web = web_state(request)
    try:
        form = parse_form(await _body(request))
    except OAuthError as exc:
        return _error_page(web, request, exc.description)
    web.csrf.verify(request, form.pop(CSRF_FIELD, None))
    wanted = await to_thread.run_sync(web.services.oidc.logout.end_session_request, form)
    active = await web.current_session(request)
    if active is None:
        return _after_logout(web, wanted.redirect)
    return await _log_out(web, request, active, wanted.redirect)


async def _log_out(
    web: WebState, request: Request, active: ActiveSession, redirect: str | None
) -> Response:
    event = AuditEvent(
        action="logout",
        outcome=Outcome.SUCCESS,
        at=web.services.clock.now(),
        actor=active.user.username,
        subject=active.user.username,
        source_address=request.state.client_address,
        request_id=request.state.request_id,
        details={"via": "end_session"},
    )
    await to_thread.run_sync(_end, web, active.token, event)
    return _after_logout(web, redirect)


def _end(web: WebState, token: str, event: AuditEvent) -> None:
    web.services.sessions.end(token)
    web.services.audit.record(event)


def _after_logout(web: WebState, redirect: str | None) -> Response:
    response = see_other(redirect or "/login?notice=signed_out")
    web.cookies.clear(response, SESSION_COOKIE)
    return response


# Plain Starlette routes: these endpoints read the raw request themselves, so FastAPI's parameter
# machinery would only add cost (it was most of the time spent on discovery and JWKS requests).
ROUTES: tuple[tuple[str, Callable[[Request], Awaitable[Response]], list[str]], ...] = (
    (discovery.DISCOVERY_PATH, openid_configuration, ["GET"]),
    (discovery.JWKS_PATH, jwks, ["GET"]),
    (discovery.TOKEN_PATH, token, ["POST"]),
    (discovery.TOKEN_PATH, preflight, ["OPTIONS"]),
    (discovery.USERINFO_PATH, userinfo, ["GET", "POST"]),
    (discovery.USERINFO_PATH, preflight, ["OPTIONS"]),
    (discovery.INTROSPECT_PATH, introspect, ["POST"]),
    (discovery.REVOKE_PATH, revoke, ["POST"]),
    (discovery.AUTHORIZE_PATH, authorize, ["GET", "POST"]),
    (discovery.AUTHORIZE_PATH + "/consent", consent, ["POST"]),
    (discovery.END_SESSION_PATH, end_session, ["GET", "POST"]),
    (discovery.END_SESSION_PATH + "/confirm", end_session_confirm, ["POST"]),
)
for _path, _endpoint, _methods in ROUTES:
    router.add_route(_path, _endpoint, methods=_methods, include_in_schema=False)
