"""The whole OpenID Connect flow driven by a real relying-party library (Authlib's httpx client),
configured from discovery alone, with ID tokens checked against the JWKS by joserfc."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import OAuth2Client
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from quivive.clock import FrozenClock
from quivive.protocols.oidc.logout import BACKCHANNEL_EVENT
from support.live_server import LiveServer
from support.oidc import (
    POST_LOGOUT_URI,
    REDIRECT_URI,
    RPPS,
    Provider,
    Receiver,
    follow,
    log_in,
    query_of,
    running_provider,
)

SCOPE = "openid profile email offline_access healthcare"
FINESS = "750712184"


@pytest.fixture(autouse=True)
def _plain_http_on_localhost(monkeypatch: pytest.MonkeyPatch) -> None:
    # Authlib's client refuses http token endpoints unless told; the provider is on localhost.
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    recorder = Receiver()
    with LiveServer(recorder.app()) as server:
        yield recorder, server.url + "/backchannel"


@pytest.fixture
def provider(tmp_path: Path) -> Iterator[Provider]:
    with running_provider(tmp_path, settings={"oidc_finess": FINESS}) as running:
        running.add_user()
        yield running


def decode(token: str, jwks: dict[str, Any]) -> jwt.Token:
    return jwt.decode(token, KeySet.import_key_set(jwks), algorithms=["RS256", "ES256"])


def sign_in_with(
    provider: Provider, rp: OAuth2Client, meta: dict[str, Any], **extra: str
) -> tuple[dict[str, Any], str, httpx.Client]:
    """Browser and RP together: authorize, sign in, come back with a code, redeem it."""
    verifier, nonce = generate_token(48), generate_token(20)
    url, _state = rp.create_authorization_url(
        meta["authorization_endpoint"], code_verifier=verifier, nonce=nonce, **extra
    )
    browser = provider.browser()
    to_login = browser.get(url)
    assert to_login.status_code == 303
    assert to_login.headers["location"].startswith("/login?next=%2Fauthorize%3F")
    log_in(browser, next_url=query_of(to_login.headers["location"])["next"])
    back = follow(browser, url)
    callback = back.headers["location"]
    assert callback.startswith(REDIRECT_URI)
    token = rp.fetch_token(
        meta["token_endpoint"], authorization_response=callback, code_verifier=verifier
    )
    return dict(token), nonce, browser


def test_discovery_alone_drives_the_whole_flow(
    provider: Provider, receiver: tuple[Receiver, str]
) -> None:
    recorder, backchannel_uri = receiver
    client, secret = provider.add_client(backchannel_logout_uri=backchannel_uri)
    meta = provider.metadata()
    jwks = httpx.get(meta["jwks_uri"]).json()
    rp = OAuth2Client(
        client.client_id,
        secret,
        scope=SCOPE,
        redirect_uri=REDIRECT_URI,
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_basic",
    )

    token, nonce, browser = sign_in_with(provider, rp, meta)

    id_token = decode(token["id_token"], jwks)
    claims = id_token.claims
    user = provider.services.accounts.get("alice")
    assert id_token.header["kid"] in {key["kid"] for key in jwks["keys"]}
    assert id_token.header["alg"] == "RS256"
    assert claims["iss"] == meta["issuer"] == provider.url
    assert claims["aud"] == client.client_id
    assert claims["sub"] == user.subject != "alice"
    assert claims["nonce"] == nonce
    assert claims["acr"] == "urn:quivive:acr:aal1"
    assert claims["amr"] == ["pwd"]
    assert claims["auth_time"] <= claims["iat"] < claims["exp"]
    access = decode(token["access_token"], jwks)
    assert access.header["typ"] == "at+jwt"
    assert access.claims["client_id"] == client.client_id
    assert token["expires_in"] == 600
    assert "refresh_token" in token

    info = rp.get(meta["userinfo_endpoint"]).json()
    assert info["sub"] == user.subject
    assert info["email"] == "alice@hopital.example"
    assert (info["rpps"], info["finess"], info["roles"]) == (RPPS, FINESS, ["infirmier"])

    refreshed = rp.refresh_token(meta["token_endpoint"], refresh_token=token["refresh_token"])
    assert refreshed["refresh_token"] != token["refresh_token"]
    assert decode(refreshed["id_token"], jwks).claims["sub"] == user.subject

    active = rp.introspect_token(meta["introspection_endpoint"], token=refreshed["access_token"])
    assert active.json()["active"] is True
    assert active.json()["sub"] == user.subject
    revoked = rp.revoke_token(meta["revocation_endpoint"], token=refreshed["access_token"])
    assert revoked.status_code == 200
    after = rp.introspect_token(meta["introspection_endpoint"], token=refreshed["access_token"])
    assert after.json() == {"active": False}

    logout = browser.get(
        meta["end_session_endpoint"],
        params={
            "id_token_hint": refreshed["id_token"],
            "post_logout_redirect_uri": POST_LOGOUT_URI,
            "state": "bye",
        },
    )
    assert logout.status_code == 303
    assert logout.headers["location"] == POST_LOGOUT_URI + "?state=bye"
    assert browser.get("/account").headers["location"].startswith("/login")
    assert provider.services.outbox.drain(10)
    logout_token = decode(recorder.received[0]["logout_token"], jwks)
    assert logout_token.header["typ"] == "logout+jwt"
    assert logout_token.claims["aud"] == client.client_id
    assert logout_token.claims["sid"] == claims["sid"]
    assert logout_token.claims["sub"] == user.subject
    assert BACKCHANNEL_EVENT in logout_token.claims["events"]
    assert "nonce" not in logout_token.claims
    # offline_access outlives the session (Back-Channel Logout §2.7); disabling the user does not.
    assert rp.refresh_token(meta["token_endpoint"], refresh_token=refreshed["refresh_token"])


def test_public_client_uses_pkce_without_secret(provider: Provider) -> None:
    client, secret = provider.add_client(public=True)
    meta = provider.metadata()
    rp = OAuth2Client(
        client.client_id,
        scope="openid profile",
        redirect_uri=REDIRECT_URI,
        code_challenge_method="S256",
        token_endpoint_auth_method="none",
    )

    token, _nonce, _browser = sign_in_with(provider, rp, meta)

    assert secret is None
    assert "refresh_token" not in token  # no offline_access asked
    assert rp.get(meta["userinfo_endpoint"]).json()["preferred_username"] == "alice"


def test_es256_client_gets_es256_tokens_and_client_secret_post_works(provider: Provider) -> None:
    client, secret = provider.add_client(signing_alg="ES256", auth_method="client_secret_post")
    meta = provider.metadata()
    rp = OAuth2Client(
        client.client_id,
        secret,
        scope="openid",
        redirect_uri=REDIRECT_URI,
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_post",
    )

    token, _nonce, _browser = sign_in_with(provider, rp, meta)

    jwks = httpx.get(meta["jwks_uri"]).json()
    assert decode(token["id_token"], jwks).header["alg"] == "ES256"
    assert decode(token["access_token"], jwks).header["alg"] == "ES256"


def test_disabling_a_user_revokes_tokens_and_tells_relying_parties(
    provider: Provider, receiver: tuple[Receiver, str]
) -> None:
    recorder, backchannel_uri = receiver
    recorder.statuses = [503]  # the first delivery fails: the sender retries
    client, secret = provider.add_client(backchannel_logout_uri=backchannel_uri)
    meta = provider.metadata()
    rp = OAuth2Client(
        client.client_id,
        secret,
        scope=SCOPE,
        redirect_uri=REDIRECT_URI,
        code_challenge_method="S256",
    )
    token, _nonce, _browser = sign_in_with(provider, rp, meta)

    provider.services.accounts.disable("alice", actor="test")

    assert provider.services.outbox.drain(10)
    provider.clock.advance(timedelta(seconds=5))  # the retry is due
    assert provider.services.outbox.drain(10)
    assert len(recorder.received) == 2
    assert rp.get(meta["userinfo_endpoint"]).status_code == 401
    with pytest.raises(Exception, match="invalid_grant"):
        rp.refresh_token(meta["token_endpoint"], refresh_token=token["refresh_token"])
    outcomes = [e.outcome.value for e in provider.audit.events if "backchannel" in e.action]
    assert outcomes == ["success"]


def test_private_key_jwt_client_authenticates_with_a_signed_assertion(tmp_path: Path) -> None:
    # The RP signs with the real time, so the provider's clock must be near it.
    with running_provider(tmp_path, clock=FrozenClock(datetime.now(UTC))) as provider:
        provider.add_user()
        _private_key_jwt_flow(provider)


def _private_key_jwt_flow(provider: Provider) -> None:
    key = RSAKey.generate_key(2048, private=True, parameters={"kid": "rp-1", "alg": "RS256"})
    public = {"keys": [key.as_dict(private=False)]}
    client, secret = provider.add_client(auth_method="private_key_jwt", jwks=json.dumps(public))
    meta = provider.metadata()
    rp = OAuth2Client(
        client.client_id,
        key.as_dict(private=True),
        scope="openid",
        redirect_uri=REDIRECT_URI,
        code_challenge_method="S256",
        token_endpoint_auth_method=PrivateKeyJWT(meta["token_endpoint"]),
    )

    token, _nonce, _browser = sign_in_with(provider, rp, meta)

    assert secret is None
    assert decode(token["id_token"], httpx.get(meta["jwks_uri"]).json()).claims["aud"] == (
        client.client_id
    )
