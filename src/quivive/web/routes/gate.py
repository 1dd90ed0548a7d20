"""The forward-auth gate: ``/api/verify`` for reverse proxies and ``/gate/sign-in`` for browsers.

``/api/verify`` is asked by nginx ``auth_request``, Traefik ``forwardAuth`` or Caddy
``forward_auth`` before every request to a protected application. It answers:

- 200 with ``Remote-User``, ``Remote-Name``, ``Remote-Email``, ``Remote-Groups`` (roles, comma
  separated) and ``Remote-AAL`` when the request may go on (200 without them for a bypass path);
- not signed in, or signed in at too low a level: ``?mode=nginx`` (the default) 401 with a
  ``Location`` header, which nginx turns into a redirect (``auth_request_set`` + ``error_page
  401 =302``); ``?mode=redirect`` (Traefik, Caddy) a 302 to that location directly. The location
  is ``/gate/sign-in?rd=<original URL>``: sign-in, second factor or step-up, then back;
- signed in but not allowed, unknown host: 403 with a page saying why, in the user's language.

Whom the original URL is taken from. ``X-Original-URL`` (nginx) or ``X-Forwarded-Proto``,
``-Host`` and ``-Uri`` (Traefik, Caddy) are set by the proxy on its own subrequest, overwriting
what the browser sent. They are believed only when the request comes from a proxy: when
``trusted_proxies`` is at least 1 (Quivive then declares that every request reaches it through
its proxies, as for ``X-Forwarded-For``) or when the peer is a loopback address (the proxy on the
same machine). Anyone else gets a 403: a browser calling ``/api/verify`` directly with forged
headers learns nothing and unlocks nothing. The client address for ``networks`` comes from
``X-Forwarded-For``, counting at least the proxy itself as trusted; without it the client counts
as outside every network (fail closed).
"""

from __future__ import annotations

import ipaddress
import logging
from urllib.parse import quote

from anyio import to_thread
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from quivive.domain.gate import (
    BadOriginalRequest,
    Decision,
    Identity,
    OriginalRequest,
    Outcome,
    Reason,
    allowed_domains,
    decide,
    parse_original,
    safe_return_url,
)
from quivive.web import gate_messages
from quivive.web.client_address import client_address
from quivive.web.mfa_flow import signed_in
from quivive.web.state import SESSION_COOKIE, WebState, see_other, web_state

router = APIRouter()
log = logging.getLogger(__name__)

VERIFY_PATH = "/api/verify"
SIGN_IN_PATH = "/gate/sign-in"
_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
_NO_STORE = {"cache-control": "no-store"}


@router.api_route(VERIFY_PATH, methods=_METHODS, include_in_schema=False)
async def verify(request: Request) -> Response:
    web = web_state(request)
    if not _from_proxy(request, web.services.settings.trusted_proxies):
        log.warning("gate: %s called by %s, not a trusted proxy", VERIFY_PATH, _peer(request))
        return _denied(request, None, Reason.UNTRUSTED_CALLER)
    try:
        original = _original_request(request)
    except BadOriginalRequest as exc:
        log.warning("gate: proxy sent no usable original URL: %s", exc)
        return _denied(request, None, Reason.BAD_REQUEST)
    gate = web.services.gate
    if gate.poll_due():
        await to_thread.run_sync(gate.poll)
    identity = await _identity(web, request)
    address = _client_of(request, web.services.settings.trusted_proxies)
    decision = decide(web.services.settings.gate.rules, original, identity, address)
    return _answer(request, web, original, identity, decision)


def _answer(
    request: Request,
    web: WebState,
    original: OriginalRequest,
    identity: Identity | None,
    decision: Decision,
) -> Response:
    if decision.outcome is Outcome.ALLOW and identity is not None:
        return _allowed(identity)
    if decision.outcome is Outcome.PUBLIC:
        return Response(status_code=200, headers=_NO_STORE)
    if decision.outcome is Outcome.DENY:
        return _denied(request, original, decision.reason)
    target = _sign_in_url(web, original.url)
    if target is None:
        return _denied(request, original, Reason.RETURN_URL_REFUSED)
    headers = {"location": target, **_NO_STORE}
    if request.query_params.get("mode") == "redirect":
        status = 302 if original.method in ("GET", "HEAD") else 303
        return Response(status_code=status, headers=headers)
    return Response(status_code=401, headers=headers)


def _allowed(identity: Identity) -> Response:
    response = Response(status_code=200, headers=_NO_STORE)
    # Raw UTF-8 bytes, as Authelia sends them: Starlette would refuse a non-Latin-1 name. Names and
    # e-mails hold no control characters (domain.users), so no header can be split.
    values = {
        b"remote-user": identity.username,
        b"remote-name": identity.display_name,
        b"remote-email": identity.email or "",
        b"remote-groups": ",".join(identity.roles),
        b"remote-aal": str(int(identity.aal)),
    }
    response.raw_headers += [(name, value.encode()) for name, value in values.items()]
    return response


def _denied(request: Request, original: OriginalRequest | None, reason: Reason) -> Response:
    web = web_state(request)
    context = {
        "title": web.translate(request, gate_messages.DENIED_TITLE),
        "message": web.translate(request, gate_messages.REASONS[reason]),
        "address": original.url if original else None,
        # Absolute: through nginx, this page is shown on the application's own host.
        "sign_out_url": f"{web.services.settings.public_url}/logout",
    }
    response = web.pages.render(request, "gate_denied.html", context, status_code=403)
    response.headers.update(_NO_STORE)
    return response


def _sign_in_url(web: WebState, url: str) -> str | None:
    settings = web.services.settings
    domains = allowed_domains(settings.gate, settings.public_host, settings.session.cookie_domain)
    if safe_return_url(url, domains, https_only=settings.https) is None:
        return None
    return f"{settings.public_url}{SIGN_IN_PATH}?rd={quote(url, safe='')}"


async def _identity(web: WebState, request: Request) -> Identity | None:
    token = request.cookies.get(web.cookies.name(SESSION_COOKIE))
    if not token or len(token) > 128:
        return None
    gate = web.services.gate
    return gate.cached(token) or await to_thread.run_sync(gate.load, token)


def _original_request(request: Request) -> OriginalRequest:
    headers = request.headers
    method = headers.get("x-original-method") or headers.get("x-forwarded-method") or "GET"
    url = headers.get("x-original-url")
    if url is None:
        proto, host = headers.get("x-forwarded-proto"), headers.get("x-forwarded-host")
        uri = headers.get("x-forwarded-uri", "/")
        if not proto or not host:
            raise BadOriginalRequest("neither X-Original-URL nor X-Forwarded-Proto and -Host")
        url = f"{proto}://{host}{uri}"
    return parse_original(method, url)


def _peer(request: Request) -> str | None:
    return request.client.host if request.client else None


def _from_proxy(request: Request, trusted_proxies: int) -> bool:
    if trusted_proxies >= 1:
        return True
    try:
        return ipaddress.ip_address(_peer(request) or "").is_loopback
    except ValueError:
        return False


def _client_of(request: Request, trusted_proxies: int) -> str | None:
    forwarded = request.headers.get("x-forwarded-for")
    if not forwarded:
        return None
    return client_address(_peer(request), forwarded, max(1, trusted_proxies))


# --- the browser's side: sign in (or step up) for an application, then back to it -------------


@router.get(SIGN_IN_PATH, include_in_schema=False)
async def sign_in_for(request: Request) -> Response:
    """Sign in, finish the second factor or step up as the URL's rule asks, then go back to it.

    The login and second-factor pages accept only local ``next`` paths; they come back here
    (``next=/gate/sign-in?rd=...``) and only this route redirects to another host, after checking
    ``rd`` against the allowed domains.
    """
    web = web_state(request)
    settings = web.services.settings
    domains = allowed_domains(settings.gate, settings.public_host, settings.session.cookie_domain)
    rd = safe_return_url(request.query_params.get("rd"), domains, https_only=settings.https)
    if rd is None:
        return _denied(request, None, Reason.RETURN_URL_REFUSED)
    original = parse_original("GET", rd)
    address = request.state.client_address
    level = decide(settings.gate.rules, original, None, address).required_level
    active = await signed_in(request, level=level)
    if isinstance(active, Response):
        return active
    identity = await to_thread.run_sync(web.services.gate.load, active.token)
    decision = decide(settings.gate.rules, original, identity, address)
    if decision.outcome in (Outcome.ALLOW, Outcome.PUBLIC):
        return see_other(rd)
    reason = decision.reason if decision.outcome is Outcome.DENY else Reason.LEVEL_TOO_LOW
    return _denied(request, original, reason)
