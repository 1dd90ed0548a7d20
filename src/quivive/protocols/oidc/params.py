"""Request parameters of the OAuth endpoints (RFC 6749 §3.1 and §3.2).

RFC 6749 §3.1: "Request and response parameters MUST NOT be included more than once." and
"Parameters sent without a value MUST be treated as if they were omitted from the request."
The authorization endpoint reads the query of a GET or the form body of a POST (OIDC Core
§3.1.2.1), never both; the token endpoint reads the form body only (RFC 6749 §3.2: "The client
MUST use the HTTP POST method"), so a code in a URL cannot end up in an access log as valid input.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from urllib.parse import parse_qsl

from quivive.protocols.oidc.errors import InvalidRequest

# Generous for a request with a long id_token_hint or client assertion, small enough to refuse
# abuse before parsing.
MAX_BODY_BYTES = 64 * 1024
MAX_VALUE_LENGTH = 8 * 1024


def parse_pairs(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """A dict of the non-empty parameters; InvalidRequest for a repeated or oversize one."""
    found: dict[str, str] = {}
    for name, value in pairs:
        if not value:
            continue
        if name in found:
            raise InvalidRequest(f"parameter {name} repeated")
        if len(value) > MAX_VALUE_LENGTH or "\x00" in value:
            raise InvalidRequest(f"parameter {name} invalid")
        found[name] = value
    return found


def parse_form(body: bytes) -> dict[str, str]:
    if len(body) > MAX_BODY_BYTES:
        raise InvalidRequest("request body too large")
    try:
        text = body.decode("ascii")
        pairs = parse_qsl(text, keep_blank_values=True, errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise InvalidRequest("request body is not a valid form") from None
    return parse_pairs(pairs)


def space_list(params: Mapping[str, str], name: str) -> tuple[str, ...]:
    """A space-delimited list (scope, prompt, acr_values, ui_locales), order kept, no repeats."""
    return tuple(dict.fromkeys(params.get(name, "").split()))
