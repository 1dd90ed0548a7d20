"""The forward-auth gate's access rules and decisions, without I/O.

A reverse proxy (nginx ``auth_request``, Traefik ``forwardAuth``, Caddy ``forward_auth``) asks
Quivive, for every request to a protected application, whether the request may go on. The answer
depends on the original URL (host and path), on who is signed in (roles, assurance level, whether
the sign-in is complete) and on where the request comes from (``networks``).

Matching: rules are grouped by host (exact, or ``*.domain`` for any sub-domain); a bypass path
(exact, case-sensitive) of the host wins; otherwise the rule with the longest ``path_prefix`` that
matches on a segment boundary (``/app`` matches ``/app``, ``/app/x`` and ``/app;x``, never
``/application``). No rule for the host: default deny.
"""

from __future__ import annotations

import enum
import ipaddress
import posixpath
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from quivive.domain.sessions import AssuranceLevel

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# Longer return URLs are refused: no legitimate page address comes close, and it bounds the work.
MAX_URL_LENGTH = 4096
# Percent-escapes, backslashes, repeated slashes and dot segments: what normalise_path undoes.
_NEEDS_NORMALISING = re.compile(r"%|\\|//|/\.\.?(/|$)")
_PLAIN_URL = re.compile(
    r"(?P<scheme>https?)://(?P<netloc>(?P<host>"
    r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*)"
    r"(?::(?P<port>[0-9]{1,5}))?)(?P<path>/[^?#]*)?(?:\?(?P<query>[^#]*))?(?:#.*)?",
    re.IGNORECASE,
)
_SPACE_OR_CONTROL = re.compile(r"[\x00-\x20\x7f]")
# An HTTP method is a short token (WebDAV's longest, BASELINE-CONTROL, has 16 characters): any
# other value is not a request a proxy forwards, and would only bloat what the gate keeps.
_METHOD = re.compile(r"[A-Za-z][A-Za-z-]{0,31}")
_HOST_NAME = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*")


@dataclass(frozen=True, slots=True)
class GateRule:
    host: str  # "app.hopital.example" or "*.hopital.example"
    path_prefix: str = "/"
    roles: tuple[str, ...] = ()  # any one of them; empty: any signed-in user
    min_aal: AssuranceLevel = AssuranceLevel.AAL1
    # Requests from these networks need ``networks_min_aal`` instead of ``min_aal``: e.g.
    # min_aal = 2 with networks_min_aal = 1 is "MFA required outside the establishment's networks".
    networks: tuple[IpNetwork, ...] = ()
    networks_min_aal: AssuranceLevel | None = None
    deny_outside_networks: bool = False  # only reachable from ``networks``
    bypass: tuple[str, ...] = ()  # exact public paths on this host: no sign-in at all
    # Emergency sessions (bris de glace: password only, acr emergency) are refused unless this
    # is set; when set they pass whatever ``min_aal`` says, roles and networks still apply. To
    # allow them on part of an application only, give that path a rule of its own.
    allow_emergency: bool = False

    def matches_host(self, host: str) -> bool:
        if self.host.startswith("*."):
            return host.endswith(self.host[1:])
        return host == self.host

    def matches_path(self, path: str) -> bool:
        prefix = self.path_prefix.rstrip("/")
        if not prefix:
            return True
        # ";" too: Java servers read "/admin;x" as "/admin".
        return path.startswith(prefix) and path[len(prefix) : len(prefix) + 1] in ("", "/", ";")

    def required_level(self, inside: bool) -> AssuranceLevel:
        if inside and self.networks_min_aal is not None:
            return self.networks_min_aal
        return self.min_aal

    def is_inside(self, address: str | None) -> bool:
        """Whether ``address`` is in ``networks``; an unknown address is outside (fail closed)."""
        if address is None or not self.networks:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.networks)


@dataclass(frozen=True, slots=True)
class GateSettings:
    rules: tuple[GateRule, ...] = ()
    allowed_domains: tuple[str, ...] = ()  # where return URLs may point (besides derived ones)


@dataclass(frozen=True, slots=True)
class OriginalRequest:
    """The request the proxy is asking about."""

    method: str
    scheme: str
    host: str  # lower-case host name, without port
    netloc: str  # host[:port] as sent
    raw_path: str  # path as sent (percent-encoded), without the query
    path: str  # normalised: percent-decoded, dot segments resolved, repeated slashes collapsed
    query: str

    @property
    def url(self) -> str:
        query = f"?{self.query}" if self.query else ""
        return f"{self.scheme}://{self.netloc}{self.raw_path}{query}"


class BadOriginalRequest(ValueError):
    """The proxy sent no usable original URL (a configuration error on the proxy side)."""


def parse_original(method: str, url: str) -> OriginalRequest:
    """Parse ``scheme://host[:port]/path?query`` as sent by the proxy."""
    if len(url) > MAX_URL_LENGTH or _SPACE_OR_CONTROL.search(url):
        raise BadOriginalRequest("original URL too long or with spaces or control characters")
    if method and not _METHOD.fullmatch(method):
        raise BadOriginalRequest("original method is not an HTTP method")
    plain = _PLAIN_URL.fullmatch(url)
    if plain is not None and int(plain["port"] or 0) <= 65535:
        # The common shape, read in one match (urlsplit and its properties cost several times
        # more on this path, which runs for every request to every protected application).
        raw_path = plain["path"] or "/"
        return OriginalRequest(
            method=method.upper() or "GET",
            scheme=plain["scheme"].lower(),
            host=plain["host"].lower(),
            netloc=plain["netloc"].lower(),
            raw_path=raw_path,
            path=normalise_path(raw_path),
            query=plain["query"] or "",
        )
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise BadOriginalRequest(f"malformed original URL: {exc}") from None
    host = (parts.hostname or "").lower()
    if parts.scheme.lower() not in ("http", "https") or not _HOST_NAME.fullmatch(host):
        raise BadOriginalRequest("original URL must be http(s) with a host name")
    if "@" in parts.netloc:
        raise BadOriginalRequest("original URL must not carry a user name")
    raw_path = parts.path or "/"
    return OriginalRequest(
        method=method.upper() or "GET",
        scheme=parts.scheme.lower(),
        host=host,
        netloc=parts.netloc.lower(),
        raw_path=raw_path,
        path=normalise_path(raw_path),
        query=parts.query,
    )


def normalise_path(raw_path: str) -> str:
    """The path as an application server will most likely see it, for prefix matching.

    Percent-decoded once, backslashes read as slashes (IIS does), dot segments resolved and
    repeated slashes collapsed: ``/public/..%2Fadmin`` must not escape the ``/admin`` rule.
    """
    if not _NEEDS_NORMALISING.search(raw_path) and raw_path.startswith("/"):
        return raw_path  # the common case, already normal
    path = unquote(raw_path, errors="replace").replace("\\", "/")
    path = re.sub(r"/{2,}", "/", path)
    normal = posixpath.normpath(path if path.startswith("/") else "/" + path)
    normal = "/" + normal.lstrip("/")  # normpath keeps a leading "//"
    if path.endswith("/") and normal != "/":
        normal += "/"
    return normal


class Outcome(enum.Enum):
    ALLOW = "allow"  # 200 with the Remote-* headers
    PUBLIC = "public"  # 200 without identity: a bypass path
    SIGN_IN = "sign_in"  # 401 or redirect to sign in
    STEP_UP = "step_up"  # signed in, but the level is too low or the sign-in unfinished
    DENY = "deny"  # 403


class Reason(enum.Enum):
    """Why a request was denied or sent to sign in; each has an explanation page text."""

    NONE = "none"
    UNKNOWN_HOST = "unknown_host"
    MISSING_ROLE = "missing_role"
    OUTSIDE_NETWORKS = "outside_networks"
    NOT_SIGNED_IN = "not_signed_in"
    LEVEL_TOO_LOW = "level_too_low"
    SIGN_IN_UNFINISHED = "sign_in_unfinished"
    EMERGENCY_REFUSED = "emergency_refused"  # an emergency session, and the rule does not allow it
    # Not decisions on the request itself: the proxy or the return address is wrong.
    UNTRUSTED_CALLER = "untrusted_caller"
    BAD_REQUEST = "bad_request"
    RETURN_URL_REFUSED = "return_url_refused"


@dataclass(frozen=True, slots=True)
class Identity:
    """What the gate needs to know about the signed-in person (cached on the hot path)."""

    username: str
    display_name: str
    email: str | None
    roles: tuple[str, ...]
    aal: AssuranceLevel
    complete: bool  # the sign-in finished (no second factor or enrolment still owed)
    emergency: bool = False  # opened by emergency access (bris de glace)


@dataclass(frozen=True, slots=True)
class Decision:
    outcome: Outcome
    reason: Reason = Reason.NONE
    rule: GateRule | None = None
    required_level: AssuranceLevel = AssuranceLevel.AAL1
    details: tuple[str, ...] = field(default=())


def find_rule(rules: Sequence[GateRule], request: OriginalRequest) -> GateRule | None:
    """The most specific rule for the request's host and path, or None (default deny)."""
    matching = [
        rule
        for rule in rules
        if rule.matches_host(request.host) and rule.matches_path(request.path)
    ]
    return max(matching, key=_specificity, default=None)


def _specificity(rule: GateRule) -> tuple[int, int]:
    return (not rule.host.startswith("*."), len(rule.path_prefix.rstrip("/")))


def is_bypass(rules: Sequence[GateRule], request: OriginalRequest) -> GateRule | None:
    # The raw path must be the normalised one too: "/public/../admin" is never a bypass.
    if request.raw_path != request.path:
        return None
    for rule in rules:
        if rule.matches_host(request.host) and request.path in rule.bypass:
            return rule
    return None


def decide(
    rules: Sequence[GateRule],
    request: OriginalRequest,
    identity: Identity | None,
    client_address: str | None,
) -> Decision:
    """Allow, send to sign in, step up or deny, and why."""
    public = is_bypass(rules, request)
    if public is not None:
        return Decision(Outcome.PUBLIC, rule=public)
    rule = find_rule(rules, request)
    if rule is None:
        return Decision(Outcome.DENY, Reason.UNKNOWN_HOST)
    inside = rule.is_inside(client_address)
    if rule.deny_outside_networks and not inside:
        return Decision(Outcome.DENY, Reason.OUTSIDE_NETWORKS, rule)
    level = rule.required_level(inside)
    if identity is None:
        return Decision(Outcome.SIGN_IN, Reason.NOT_SIGNED_IN, rule, level)
    if rule.roles and not set(rule.roles).intersection(identity.roles):
        return Decision(Outcome.DENY, Reason.MISSING_ROLE, rule, level, rule.roles)
    if identity.emergency:
        # Stepping up is no way out of an emergency session: the rule decides, and that is all.
        if not rule.allow_emergency:
            return Decision(Outcome.DENY, Reason.EMERGENCY_REFUSED, rule, level)
        return Decision(Outcome.ALLOW, rule=rule, required_level=level)
    if not identity.complete:
        return Decision(Outcome.STEP_UP, Reason.SIGN_IN_UNFINISHED, rule, level)
    if identity.aal < level:
        return Decision(Outcome.STEP_UP, Reason.LEVEL_TOO_LOW, rule, level)
    return Decision(Outcome.ALLOW, rule=rule, required_level=level)


# --- return URLs (rd): no open redirect ------------------------------------------------------


def allowed_domains(
    settings: GateSettings, public_host: str, cookie_domain: str | None
) -> tuple[str, ...]:
    """Where return URLs may point: configured domains, else the public host, cookie domain and
    rule hosts (a ``*.domain`` rule allows ``domain``'s sub-domains)."""
    if settings.allowed_domains:
        return settings.allowed_domains
    found = [public_host, *([cookie_domain] if cookie_domain else [])]
    found += [rule.host.removeprefix("*.") for rule in settings.rules]
    return tuple(dict.fromkeys(domain for domain in found if domain))


def safe_return_url(raw: str | None, domains: Iterable[str], *, https_only: bool) -> str | None:
    """``raw`` if it is an absolute http(s) URL on one of ``domains`` (or a sub-domain), else None.

    Refused: other hosts, scheme-relative ``//evil``, ``javascript:`` and ``data:``, user names
    (``https://hopital.example@evil``), backslashes (browsers read ``\\`` as ``/``), spaces and
    control characters, percent signs or non-ASCII in the host (IDN lookalikes: only the exact
    ASCII/punycode names configured are accepted), and plain http when the gate is on https.
    """
    if not raw or len(raw) > MAX_URL_LENGTH or "\\" in raw:
        return None
    if any(ord(ch) <= 0x20 or ord(ch) == 0x7F or not ch.isascii() for ch in raw):
        return None
    try:
        parts = urlsplit(raw)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return None
    schemes = ("https",) if https_only else ("https", "http")
    if (
        parts.scheme not in schemes
        or "@" in parts.netloc
        or not raw.startswith(parts.scheme + "://")
    ):
        return None
    host = parts.hostname or ""
    if not _HOST_NAME.fullmatch(host) or parts.netloc.split(":")[0].lower() != host:
        return None
    if not any(host == domain or host.endswith("." + domain) for domain in domains):
        return None
    return raw
