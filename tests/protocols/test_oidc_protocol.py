"""The I/O-free OIDC core: PKCE (RFC 7636 vectors), client authentication parsing, acr levels,
redirect building, logout tokens and discovery metadata."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from quivive.domain.clients import AuthMethod
from quivive.domain.sessions import AssuranceLevel
from quivive.protocols.oidc import client_auth, pkce
from quivive.protocols.oidc.acr import ACR_LEVELS, acr_for, required_level
from quivive.protocols.oidc.authorization import redirect_with
from quivive.protocols.oidc.discovery import provider_metadata
from quivive.protocols.oidc.errors import InvalidClient, InvalidGrant, InvalidRequest
from quivive.protocols.oidc.jose_keys import KeyRing, generate_key
from quivive.protocols.oidc.logout import BACKCHANNEL_EVENT, logout_token_claims
from quivive.protocols.oidc.params import parse_form

VECTORS: list[dict[str, str]] = json.loads(
    (Path(__file__).parent.parent / "data" / "rfc7636_vectors.json").read_text()
)["vectors"]


@pytest.mark.parametrize("vector", VECTORS)
def test_s256_matches_rfc7636_appendix_b(vector: dict[str, str]) -> None:
    assert pkce.s256(vector["code_verifier"]) == vector["code_challenge"]
    pkce.verify(vector["code_challenge"], vector["code_verifier"])


@pytest.mark.parametrize(
    ("challenge", "method", "required"),
    [
        (None, None, True),
        ("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", "plain", False),
        ("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", None, False),
        ("short", "S256", False),
        (None, "S256", False),
    ],
)
def test_challenge_refusals(challenge: str | None, method: str | None, required: bool) -> None:
    with pytest.raises(InvalidRequest):
        pkce.check_challenge(challenge, method, required=required)


@pytest.mark.parametrize(
    ("challenge", "verifier"),
    [
        ("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", None),
        ("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", "x" * 43),
        ("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", "too-short"),
        (None, "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),  # downgrade attempt
    ],
)
def test_verifier_refusals(challenge: str | None, verifier: str | None) -> None:
    with pytest.raises(InvalidGrant):
        pkce.verify(challenge, verifier)


def test_basic_credentials_are_form_decoded() -> None:
    raw = base64.b64encode(b"my+client:s%C3%A9cret%3A1").decode()

    found = client_auth.extract(f"Basic {raw}", {})

    assert (found.client_id, found.secret) == ("my client", "sécret:1")
    assert found.method is AuthMethod.CLIENT_SECRET_BASIC


def test_two_authentication_methods_at_once_are_refused() -> None:
    raw = base64.b64encode(b"a:b").decode()

    with pytest.raises(InvalidRequest):
        client_auth.extract(f"Basic {raw}", {"client_id": "a", "client_secret": "b"})


@pytest.mark.parametrize(
    ("header", "form"),
    [
        ("Basic @@@", {}),
        (None, {}),
        (None, {"client_assertion_type": "urn:other", "client_assertion": "x"}),
        (None, {"client_assertion_type": client_auth.JWT_BEARER, "client_assertion": "x.y"}),
    ],
)
def test_malformed_client_authentication_is_invalid_client(
    header: str | None, form: dict[str, str]
) -> None:
    with pytest.raises(InvalidClient):
        client_auth.extract(header, form)


def test_public_client_names_itself() -> None:
    assert client_auth.extract(None, {"client_id": "spa"}).method is AuthMethod.NONE


def test_acr_table_round_trips_and_asks_the_least_demanding_known_value() -> None:
    assert {acr_for(level) for level in AssuranceLevel} == set(ACR_LEVELS)
    values = ["urn:unknown", "urn:quivive:acr:aal3", "urn:quivive:acr:aal2"]
    assert required_level(values) is AssuranceLevel.AAL2
    assert required_level(["urn:unknown"]) is None


def test_redirect_keeps_the_registered_query() -> None:
    url = redirect_with("https://app.example/cb?tenant=a", {"code": "c d", "state": None})

    assert url == "https://app.example/cb?tenant=a&code=c+d"


def test_form_parsing_refuses_repeats_and_drops_empty_values() -> None:
    assert parse_form(b"a=1&b=") == {"a": "1"}
    with pytest.raises(InvalidRequest):
        parse_form(b"a=1&a=2")


def test_logout_token_claims_follow_backchannel_logout_2_4() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)

    claims: dict[str, Any] = logout_token_claims(
        issuer="https://sso.example", client_id="app", subject="s", sid="x", now=now
    )

    assert claims["events"] == {BACKCHANNEL_EVENT: {}}
    assert "nonce" not in claims
    assert claims["exp"] - claims["iat"] == 120
    with pytest.raises(ValueError, match="names a subject"):
        logout_token_claims(issuer="i", client_id="a", subject=None, sid=None, now=now)


def test_metadata_lists_only_what_is_supported() -> None:
    metadata = provider_metadata("https://sso.example")

    assert metadata["issuer"] == "https://sso.example"
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert metadata["response_types_supported"] == ["code"]
    assert set(metadata["id_token_signing_alg_values_supported"]) == {"RS256", "ES256"}
    assert all(
        value.startswith("https://sso.example/")
        for name, value in metadata.items()
        if name.endswith("_endpoint") or name == "jwks_uri"
    )


@pytest.mark.parametrize("alg", ["ES256", "RS256"])
def test_the_key_ring_signs_compact_jws_that_joserfc_verifies(alg: str) -> None:
    record = generate_key(alg, datetime(2026, 1, 15, tzinfo=UTC))
    ring = KeyRing([record])
    keys = KeySet.import_key_set(ring.jwks())  # type: ignore[arg-type]

    access = ring.sign({"sub": "s", "name": "Éloïse", "n": 1}, alg=alg, typ="at+jwt")
    identity = ring.sign({"sub": "s"}, alg=alg, typ="JWT")

    decoded = jwt.decode(access, keys)
    assert decoded.header == {"alg": alg, "kid": record.kid, "typ": "at+jwt"}
    assert decoded.claims == {"sub": "s", "name": "Éloïse", "n": 1}
    assert jwt.decode(identity, keys).header["typ"] == "JWT"  # one header per typ, not the first
    assert ring.verify(access, typs=["at+jwt"])["n"] == 1
    signature = base64.urlsafe_b64decode(access.split(".")[2] + "==")
    # RFC 7518 §3.4: R || S, 32 bytes each, not the DER that cryptography returns.
    assert len(signature) == (64 if alg == "ES256" else 256)
