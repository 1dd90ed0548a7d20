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

import asyncio
import functools
import ipaddress
import logging
from collections.abc import Iterable, Mapping
from typing import cast
from urllib.parse import quote

from anyio import to_thread
from fastapi import APIRouter
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from quivive.composition import Services
from quivive.domain.gate import (
    BadOriginalRequest,
    Decision,
    GateSettings,
    Identity,
    OriginalRequest,
    Outcome,
    Reason,
    allowed_domains,
    decide,
    parse_original,
    safe_return_url,
)
from quivive.domain.sessions import hash_token
from quivive.web import gate_messages
from quivive.web.client_address import client_address
from quivive.web.cookies import CookiePolicy, cookie_value
from quivive.web.mfa_flow import signed_in
from quivive.web.outer_layers import add_outer_layer
from quivive.web.state import SESSION_COOKIE, WebState, see_other, web_state

router = APIRouter()
log = logging.getLogger(__name__)

VERIFY_PATH = "/api/verify"
SIGN_IN_PATH = "/gate/sign-in"
_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
_NO_STORE = {"cache-control": "no-store"}
_ALLOWED = ((b"content-length", b"0"), (b"cache-control", b"no-store"))
_ANONYMOUS = tuple(
    (name, b"")
    for name in (
        b"remote-user",
        b"remote-name",
        b"remote-email",
        b"remote-groups",
        b"remote-aal",
        b"remote-emergency",
    )
)
_LOADED = "quivive_gate_loaded"  # request state: (token, identity) the fast path loaded
# A proxy asks about the same addresses over and over, so parsed original URLs are kept, and the
# fast path keeps its answers (per URL, identity and client address, until the rules change).
# Bounded, as anyone behind the proxy can make up addresses: some 35 MB at worst, every one
# MAX_URL_LENGTH long. A refused URL is not kept: it is parsed, and refused, every time.
MAX_CACHED_URLS = 1024
MAX_CACHED_ANSWERS = 4096
# The request headers the gate reads; the fast path looks for these only.
_READ = frozenset(
    {
        b"cookie",
        b"x-original-url",
        b"x-original-method",
        b"x-forwarded-method",
        b"x-forwarded-proto",
        b"x-forwarded-host",
        b"x-forwarded-uri",
        b"x-forwarded-for",
    }
)


async def verify(request: Request) -> Response:
    web = web_state(request)
    if not _from_proxy(_peer(request), web.services.settings.trusted_proxies):
        log.warning("gate: %s called by %s, not a trusted proxy", VERIFY_PATH, _peer(request))
        return _denied(request, None, Reason.UNTRUSTED_CALLER)
    try:
        original = _original_request(request.headers)
    except BadOriginalRequest as exc:
        log.warning("gate: proxy sent no usable original URL: %s", exc)
        return _denied(request, None, Reason.BAD_REQUEST)
    gate = web.services.gate
    if gate.claim_poll():
        await to_thread.run_sync(gate.poll)
    identity = await _identity(web, request)
    forwarded = request.headers.get("x-forwarded-for")
    address = _client_of(_peer(request), forwarded, web.services.settings.trusted_proxies)
    decision = decide(web.services.gate_rules.current().rules, original, identity, address)
    return _answer(request, web, original, identity, decision)


# A plain Starlette route: FastAPI's parameter machinery would cost more than the check itself.
router.add_route(VERIFY_PATH, verify, methods=_METHODS, include_in_schema=False)


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
        response = Response(status_code=200, headers=_NO_STORE)
        # Empty rather than absent: Caddy 2.6's copy_headers turns an absent header into the
        # literal text of its placeholder ("{http.reverse_proxy.header.Remote-User}").
        response.raw_headers += _ANONYMOUS
        return response
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
    response.raw_headers += identity_headers(identity)
    return response


@functools.lru_cache(maxsize=4096)
def identity_headers(identity: Identity) -> tuple[tuple[bytes, bytes], ...]:
    """The Remote-* headers for ``identity``, encoded once per identity.

    Raw UTF-8 bytes, as Authelia sends them: Starlette would refuse a name outside Latin-1. Names
    and e-mails hold no control characters (domain.users), so no header can be split.
    """
    values = {
        b"remote-user": identity.username,
        b"remote-name": identity.display_name,
        b"remote-email": identity.email or "",
        b"remote-groups": ",".join(identity.roles),
        b"remote-aal": str(int(identity.aal)),
        # "true" for an emergency (bris de glace) session, which only allow_emergency rules pass.
        b"remote-emergency": "true" if identity.emergency else "false",
    }
    return tuple((name, value.encode()) for name, value in values.items())


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
    rules = web.services.gate_rules.current()
    domains = allowed_domains(rules, settings.public_host, settings.session.cookie_domain)
    if safe_return_url(url, domains, https_only=settings.https) is None:
        return None
    return f"{settings.public_url}{SIGN_IN_PATH}?rd={quote(url, safe='')}"


async def _identity(web: WebState, request: Request) -> Identity | None:
    token = request.cookies.get(web.cookies.name(SESSION_COOKIE))
    if not token or len(token) > 128:
        return None
    loaded = getattr(request.state, _LOADED, None)
    if loaded is not None and loaded[0] == token:
        return cast(Identity | None, loaded[1])
    gate = web.services.gate
    return gate.cached(token) or await to_thread.run_sync(gate.load, token)


def _original_request(headers: Mapping[str, str]) -> OriginalRequest:
    return _parsed_original(*_original_address(headers))


def _original_address(headers: Mapping[str, str]) -> tuple[str, str]:
    """The original method and URL, as the proxy sent them."""
    method = headers.get("x-original-method") or headers.get("x-forwarded-method") or "GET"
    url = headers.get("x-original-url")
    if url is None:
        proto, host = headers.get("x-forwarded-proto"), headers.get("x-forwarded-host")
        uri = headers.get("x-forwarded-uri", "/")
        if not proto or not host:
            raise BadOriginalRequest("neither X-Original-URL nor X-Forwarded-Proto and -Host")
        url = f"{proto}://{host}{uri}"
    return method, url


@functools.lru_cache(maxsize=MAX_CACHED_URLS)
def _parsed_original(method: str, url: str) -> OriginalRequest:
    """``parse_original``, remembered (``OriginalRequest`` is immutable); an exception is not."""
    return parse_original(method, url)


def _peer(request: Request) -> str | None:
    client = request.scope.get("client")
    return str(client[0]) if client else None


def _from_proxy(peer: str | None, trusted_proxies: int) -> bool:
    return trusted_proxies >= 1 or _is_loopback(peer or "")


@functools.lru_cache(maxsize=1024)
def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def _client_of(peer: str | None, forwarded: str | None, trusted_proxies: int) -> str | None:
    if not forwarded:
        return None
    return client_address(peer, forwarded, max(1, trusted_proxies))


# --- the fast path ---------------------------------------------------------------------------

_Headers = tuple[tuple[bytes, bytes], ...]
# The original method and URL, the identity and the client address: what an answer depends on.
_AnswerKey = tuple[str, str, Identity, str | None]


def install_fast_path(app: Starlette, services: Services) -> None:
    """Put ``VerifyFastPath`` outside every middleware (``outer_layers``); an exception in it
    reaches uvicorn, which answers 500, and nginx then refuses the request: fail closed."""
    add_outer_layer(app, lambda inner: VerifyFastPath(inner, services=services))


class VerifyFastPath:
    """Answers ``/api/verify`` from the session cache, outside the middleware and routing stack.

    Only the common case, a cached session that is allowed (or a bypass path), is answered here:
    an empty 200 for the proxy, which needs neither security headers nor a language. Anything
    else (a cache miss, a revocation poll due, a denial with its page, a sign-in redirect) goes on
    to the ordinary route, which decides again with the same rules.
    """

    def __init__(self, app: ASGIApp, *, services: Services) -> None:
        self.app = app
        self.services = services
        settings = services.settings
        self._loading: dict[str, asyncio.Future[Identity | None]] = {}
        # Without networks rules, the client address cannot change a decision: not worth parsing.
        self._rules: GateSettings | None = None
        self.networks = True
        self._answers: dict[_AnswerKey, _Headers] = {}  # under self._rules, as _decide found them
        self.cookie = CookiePolicy(settings.https, settings.session.cookie_domain).name(
            SESSION_COOKIE
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        is_verify = scope["type"] == "http" and scope["path"] == VERIFY_PATH
        headers = await self._answer(scope) if is_verify else None
        if headers is None:
            await self.app(scope, receive, send)
            return
        start = {"type": "http.response.start", "status": 200, "headers": headers}
        await send(start)
        await send({"type": "http.response.body", "body": b""})

    async def _answer(self, scope: Scope) -> _Headers | None:
        """The response headers of an allowed request, or None: the route will answer."""
        gate = self.services.gate
        if gate.claim_poll():
            await to_thread.run_sync(gate.poll)
        headers = _read_headers(scope["headers"])
        client = scope.get("client")
        peer = str(client[0]) if client else None
        settings = self.services.settings
        token = cookie_value(headers.get("cookie", ""), self.cookie)
        if not _from_proxy(peer, settings.trusted_proxies) or not token or len(token) > 128:
            return None
        identity = gate.cached(token) or await self._load(token)
        # The route, if the request goes on to it, must not load the same token again.
        scope.setdefault("state", {})[_LOADED] = (token, identity)
        if identity is None:
            return None
        try:
            method, url = _original_address(headers)
        except BadOriginalRequest:
            return None
        forwarded = headers.get("x-forwarded-for")
        rules = self._current_rules()
        address = _client_of(peer, forwarded, settings.trusted_proxies) if self.networks else None
        key = (method, url, identity, address)
        answer = self._answers.get(key)
        if answer is None:
            answer = self._decide(rules, key)
        return answer or None

    def _decide(self, rules: GateSettings, key: _AnswerKey) -> _Headers:
        """The response headers of an allowed request, or () for any other; remembered, as
        ``decide`` is a function of its arguments and the rules, and forgotten when they change."""
        method, url, identity, address = key
        try:
            original = _parsed_original(method, url)
        except BadOriginalRequest:
            return ()
        decision = decide(rules.rules, original, identity, address)
        answer = (
            (*_ALLOWED, *identity_headers(identity)) if decision.outcome is Outcome.ALLOW else ()
        )
        if len(self._answers) >= MAX_CACHED_ANSWERS:
            self._answers.clear()
        self._answers[key] = answer
        return answer

    def _current_rules(self) -> GateSettings:
        """The rules in force; whether any has networks is worked out once per change."""
        rules = self.services.gate_rules.current()
        if rules is not self._rules:
            self.networks = any(rule.networks for rule in rules.rules)
            self._answers.clear()
            self._rules = rules
        return rules

    async def _load(self, token: str) -> Identity | None:
        """Load ``token`` once however many requests wait for it (as when its entry expires
        under load): one storage round trip, not one per request in flight."""
        key = hash_token(token)
        pending = self._loading.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Identity | None] = asyncio.get_running_loop().create_future()
        self._loading[key] = future
        try:
            identity = await to_thread.run_sync(self.services.gate.load, token)
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters, if any, get it; none is not an error
            raise
        else:
            future.set_result(identity)
            return identity
        finally:
            del self._loading[key]


def _read_headers(raw: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """The headers the gate reads, as the route's ``request`` has them: the first value of each,
    but every ``Cookie`` header (``request.cookies`` reads them all, a later cookie overriding an
    earlier one), joined by ``;``, which parses as the headers one after the other do. A dict of
    every header would cost more than the rest of the check."""
    found: dict[str, str] = {}
    for name, value in raw:
        if name not in _READ:
            continue
        key = name.decode("latin-1")
        if key == "cookie" and key in found:
            found[key] += ";" + value.decode("latin-1")
        else:
            found.setdefault(key, value.decode("latin-1"))
    return found


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
    rules = web.services.gate_rules.current()
    domains = allowed_domains(rules, settings.public_host, settings.session.cookie_domain)
    rd = safe_return_url(request.query_params.get("rd"), domains, https_only=settings.https)
    if rd is None:
        return _denied(request, None, Reason.RETURN_URL_REFUSED)
    original = parse_original("GET", rd)
    address = request.state.client_address
    level = decide(rules.rules, original, None, address).required_level
    active = await signed_in(request, level=level)
    if isinstance(active, Response):
        return active
    identity = await to_thread.run_sync(web.services.gate.load, active.token)
    decision = decide(rules.rules, original, identity, address)
    if decision.outcome in (Outcome.ALLOW, Outcome.PUBLIC):
        return see_other(rd)
    reason = decision.reason if decision.outcome is Outcome.DENY else Reason.LEVEL_TOO_LOW
    return _denied(request, original, reason)
