"""Every refusal of the OIDC endpoints is a proper OAuth/OIDC error, never a 422 or a stack trace:
bad redirect URIs, PKCE, code and refresh-token reuse, client authentication, expiry, prompt."""

from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from starlette.testclient import TestClient

from quivive.clock import FrozenClock
from quivive.composition import Services
from quivive.domain.clients import Client
from quivive.services.accounts import NewAccount
from quivive.services.oidc_clients import NewClient
from quivive.web.app import create_app
from support.oidc import PASSWORD, REDIRECT_URI, follow, log_in, query_of
from support.quivive import RecordingAudit, running_services

BASE_URL = "http://localhost:8080"


@dataclass
class Env:
    services: Services
    browser: TestClient
    client: Client
    secret: str
    clock: FrozenClock
    audit: RecordingAudit

    def basic(self, secret: str | None = None) -> dict[str, str]:
        raw = f"{self.client.client_id}:{secret or self.secret}".encode()
        return {"authorization": "Basic " + base64.b64encode(raw).decode()}


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    clock, audit = FrozenClock(), RecordingAudit()
    with running_services(tmp_path, "sqlite", clock=clock, audit=audit) as services:
        services.accounts.create(NewAccount("alice", PASSWORD), actor="test")
        client, secret = services.oidc.clients.register(
            NewClient("dpi", redirect_uris=(REDIRECT_URI,), first_party=True), actor="test"
        )
        assert secret is not None
        with TestClient(create_app(services), base_url=BASE_URL) as browser:
            yield Env(services, browser, client, secret, clock, audit)


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def authorize_url(env: Env, **params: str) -> str:
    values = {
        "response_type": "code",
        "client_id": env.client.client_id,
        "redirect_uri": REDIRECT_URI,
        "scope": "openid offline_access",
        "state": "s1",
        **params,
    }
    return "/authorize?" + urlencode({k: v for k, v in values.items() if v})


def get_code(env: Env, challenge: str, **params: str) -> dict[str, str]:
    """Sign in if needed and return the query the client's redirect URI receives."""
    url = authorize_url(env, code_challenge=challenge, code_challenge_method="S256", **params)
    if env.browser.get("/account", follow_redirects=False).status_code != 200:
        log_in(env.browser, next_url=url)
    response = follow(env.browser, url)
    assert response.headers["location"].startswith(REDIRECT_URI), response.headers
    return query_of(response.headers["location"])


def redeem(env: Env, code: str, verifier: str | None, **extra: str) -> Any:
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI}
    if verifier:
        form["code_verifier"] = verifier
    return env.browser.post("/token", data={**form, **extra}, headers=env.basic())


def tokens(env: Env) -> dict[str, Any]:
    verifier, challenge = pkce_pair()
    response = redeem(env, get_code(env, challenge)["code"], verifier)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def userinfo(env: Env, access_token: str) -> Any:
    return env.browser.get("/userinfo", headers={"authorization": f"Bearer {access_token}"})


# --- the authorization endpoint ------------------------------------------------------------------


def test_unauthenticated_authorize_goes_to_login_with_the_whole_request(env: Env) -> None:
    _, challenge = pkce_pair()
    url = authorize_url(env, code_challenge=challenge, code_challenge_method="S256", nonce="n")

    response = env.browser.get(url, follow_redirects=False)

    assert response.status_code == 303
    assert query_of(response.headers["location"])["next"] == url
    login = env.browser.get(response.headers["location"])
    assert f'value="{url.replace("&", "&amp;")}"' in login.text


@pytest.mark.parametrize(
    "params",
    [
        {"redirect_uri": "http://localhost:9/other"},
        {"redirect_uri": REDIRECT_URI + "/"},
        {"redirect_uri": ""},
        {"client_id": "nobody"},
    ],
)
def test_untrusted_redirect_gets_an_error_page_not_a_redirect(
    env: Env, params: dict[str, str]
) -> None:
    response = env.browser.get(authorize_url(env, **params), follow_redirects=False)

    assert response.status_code == 400
    assert "location" not in response.headers
    assert "text/html" in response.headers["content-type"]
    assert "adresse de retour inconnue" in response.text  # the default language is French


def test_error_page_follows_ui_locales(env: Env) -> None:
    url = authorize_url(env, redirect_uri="http://localhost:9/x", ui_locales="en-GB fr")

    response = env.browser.get(url, follow_redirects=False)

    assert "unknown application or return address" in response.text


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({}, "invalid_request"),  # PKCE missing: on by default for every client
        ({"code_challenge": "x" * 43, "code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge": "x" * 43}, "invalid_request"),  # method defaults to plain
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"scope": "profile"}, "invalid_scope"),
        ({"scope": "openid admin"}, "invalid_scope"),
        ({"prompt": "none login"}, "invalid_request"),
        ({"request": "eyJ"}, "request_not_supported"),
    ],
)
def test_bad_requests_go_back_to_the_client_with_an_error(
    env: Env, params: dict[str, str], error: str
) -> None:
    response = env.browser.get(authorize_url(env, **params), follow_redirects=False)

    assert response.status_code == 303
    query = query_of(response.headers["location"])
    assert (query["error"], query["state"], query["iss"]) == (error, "s1", BASE_URL)


def test_repeated_parameter_is_refused(env: Env) -> None:
    url = authorize_url(env) + "&scope=openid"

    response = env.browser.get(url, follow_redirects=False)

    assert response.status_code == 400


def test_prompt_none_without_session_is_login_required(env: Env) -> None:
    _, challenge = pkce_pair()
    url = authorize_url(env, code_challenge=challenge, code_challenge_method="S256", prompt="none")

    response = env.browser.get(url, follow_redirects=False)

    assert query_of(response.headers["location"])["error"] == "login_required"


def test_prompt_login_and_max_age_ask_to_sign_in_again(env: Env) -> None:
    _verifier, challenge = pkce_pair()
    get_code(env, challenge)
    env.clock.advance(timedelta(minutes=5))

    for params in ({"prompt": "login"}, {"max_age": "60"}):
        url = authorize_url(env, code_challenge=challenge, code_challenge_method="S256", **params)
        response = env.browser.get(url, follow_redirects=False)
        assert response.headers["location"].startswith("/login?next=")
        assert "prompt%3Dlogin" not in response.headers["location"]  # no endless loop
    fresh = authorize_url(
        env, code_challenge=challenge, code_challenge_method="S256", max_age="600"
    )
    assert (
        env.browser.get(fresh, follow_redirects=False).headers["location"].startswith(REDIRECT_URI)
    )


def test_acr_values_above_the_session_asks_for_a_step_up_then_reports_the_achieved_acr(
    env: Env,
) -> None:
    verifier, challenge = pkce_pair()
    get_code(env, challenge)
    url = authorize_url(
        env,
        code_challenge=challenge,
        code_challenge_method="S256",
        acr_values="urn:quivive:acr:aal2",
    )

    step_up = env.browser.get(url, follow_redirects=False)

    location = step_up.headers["location"]
    assert location.startswith(("/login/second-factor?", "/login?"))
    back = query_of(location)["next"]
    assert "quivive_step_up=1" in back
    assert query_of(location)["level"] == "2"
    issued = env.browser.get(back, follow_redirects=False).headers["location"]
    token = redeem(env, query_of(issued)["code"], verifier).json()
    assert jwt.decode(token["id_token"], _jwks(env)).claims["acr"] == "urn:quivive:acr:aal1"


def _jwks(env: Env) -> Any:
    return KeySet.import_key_set(env.browser.get("/jwks.json").json())


def test_login_hint_is_passed_to_the_login_page(env: Env) -> None:
    _, challenge = pkce_pair()
    url = authorize_url(
        env, code_challenge=challenge, code_challenge_method="S256", login_hint="bob"
    )

    response = env.browser.get(url, follow_redirects=False)

    assert query_of(response.headers["location"])["login_hint"] == "bob"


# --- the token endpoint --------------------------------------------------------------------------


def test_wrong_pkce_verifier_is_invalid_grant(env: Env) -> None:
    _, challenge = pkce_pair()
    other, _ = pkce_pair()
    code = get_code(env, challenge)["code"]

    response = redeem(env, code, other)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    assert response.headers["cache-control"] == "no-store"


def test_missing_pkce_verifier_is_invalid_grant(env: Env) -> None:
    _, challenge = pkce_pair()

    response = redeem(env, get_code(env, challenge)["code"], None)

    assert response.json()["error"] == "invalid_grant"


def test_code_reuse_fails_and_revokes_the_tokens_issued_from_it(env: Env) -> None:
    verifier, challenge = pkce_pair()
    code = get_code(env, challenge)["code"]
    first = redeem(env, code, verifier).json()
    assert userinfo(env, first["access_token"]).status_code == 200

    second = redeem(env, code, verifier)

    assert second.json()["error"] == "invalid_grant"
    assert userinfo(env, first["access_token"]).status_code == 401
    refresh = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    again = env.browser.post("/token", data=refresh, headers=env.basic())
    assert again.json()["error"] == "invalid_grant"
    assert ("oidc.code_reuse", "failure") in env.audit.actions()


def test_code_expires_after_60_seconds(env: Env) -> None:
    verifier, challenge = pkce_pair()
    code = get_code(env, challenge)["code"]
    env.clock.advance(timedelta(seconds=61))

    assert redeem(env, code, verifier).json()["error"] == "invalid_grant"


def test_redirect_uri_must_match_the_authorization_request(env: Env) -> None:
    verifier, challenge = pkce_pair()
    code = get_code(env, challenge)["code"]

    response = redeem(env, code, verifier, redirect_uri="http://localhost:9/other")

    assert response.json()["error"] == "invalid_grant"


def test_refresh_token_rotates_and_reuse_revokes_the_family(env: Env) -> None:
    first = tokens(env)
    form = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    second = env.browser.post("/token", data=form, headers=env.basic()).json()
    assert second["refresh_token"] != first["refresh_token"]

    reuse = env.browser.post("/token", data=form, headers=env.basic())

    assert reuse.json()["error"] == "invalid_grant"
    latest = {"grant_type": "refresh_token", "refresh_token": second["refresh_token"]}
    assert env.browser.post("/token", data=latest, headers=env.basic()).status_code == 400
    assert userinfo(env, second["access_token"]).status_code == 401
    assert ("oidc.refresh_reuse", "failure") in env.audit.actions()


def test_no_refresh_token_without_offline_access(env: Env) -> None:
    verifier, challenge = pkce_pair()
    code = get_code(env, challenge, scope="openid")["code"]

    body = redeem(env, code, verifier).json()

    assert "refresh_token" not in body


@pytest.mark.parametrize(
    "headers",
    [
        {"authorization": "Basic " + base64.b64encode(b"dpi:nope").decode()},
        {"authorization": "Basic !!!"},
    ],
)
def test_bad_client_credentials_are_401_invalid_client(env: Env, headers: dict[str, str]) -> None:
    form = {"grant_type": "client_credentials"}

    response = env.browser.post("/token", data=form, headers=headers)

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.headers["www-authenticate"].startswith("Basic")


def test_wrong_client_secret_is_refused_and_audited(env: Env) -> None:
    verifier, challenge = pkce_pair()
    code = get_code(env, challenge)["code"]
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI}

    response = env.browser.post(
        "/token", data={**form, "code_verifier": verifier}, headers=env.basic("wrong")
    )

    assert response.status_code == 401
    assert ("oidc.client_auth", "failure") in env.audit.actions()


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b'{"grant_type": "client_credentials"}', "application/json"),
        (b"grant_type=password", "application/x-www-form-urlencoded"),
        (b"grant_type=a&grant_type=b", "application/x-www-form-urlencoded"),
        (b"\xff\xfe", "application/x-www-form-urlencoded"),
    ],
)
def test_token_endpoint_answers_oauth_json_never_422(
    env: Env, body: bytes, content_type: str
) -> None:
    headers = {**env.basic(), "content-type": content_type}

    response = env.browser.post("/token", content=body, headers=headers)

    assert response.status_code == 400
    assert response.json()["error"] in {"invalid_request", "unsupported_grant_type"}


def test_client_credentials_needs_the_grant(env: Env) -> None:
    response = env.browser.post(
        "/token", data={"grant_type": "client_credentials"}, headers=env.basic()
    )

    assert response.json()["error"] == "unauthorized_client"


def test_client_credentials_gives_a_jwt_access_token_for_the_client(env: Env) -> None:
    service, secret = env.services.oidc.clients.register(
        NewClient("batch", grant_types=("client_credentials",), signing_alg="ES256"), actor="t"
    )
    raw = base64.b64encode(f"{service.client_id}:{secret}".encode()).decode()

    response = env.browser.post(
        "/token",
        data={"grant_type": "client_credentials"},
        headers={"authorization": f"Basic {raw}"},
    )

    token = jwt.decode(response.json()["access_token"], _jwks(env))
    assert token.header["typ"] == "at+jwt"
    assert token.header["alg"] == "ES256"
    assert token.claims["sub"] == token.claims["client_id"] == service.client_id
    assert "refresh_token" not in response.json()


# --- tokens as a resource ------------------------------------------------------------------------


def test_expired_access_token_is_refused(env: Env) -> None:
    body = tokens(env)
    env.clock.advance(timedelta(minutes=10, seconds=1))

    response = userinfo(env, body["access_token"])

    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


def test_token_signed_with_an_unknown_kid_is_refused(env: Env) -> None:
    body = tokens(env)
    claims = jwt.decode(body["access_token"], _jwks(env)).claims
    stranger = RSAKey.generate_key(2048, private=True)
    forged = jwt.encode({"alg": "RS256", "kid": "not-ours", "typ": "at+jwt"}, claims, stranger)

    assert userinfo(env, forged).status_code == 401
    assert userinfo(env, body["access_token"]).status_code == 200


def test_userinfo_without_token_is_401_with_a_bearer_challenge(env: Env) -> None:
    response = env.browser.post("/userinfo")

    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_userinfo_accepts_post_with_the_token_in_the_body(env: Env) -> None:
    body = tokens(env)

    response = env.browser.post("/userinfo", data={"access_token": body["access_token"]})

    assert response.status_code == 200


def test_introspection_and_revocation_need_client_authentication(env: Env) -> None:
    body = tokens(env)

    for path in ("/introspect", "/revoke"):
        response = env.browser.post(path, data={"token": body["access_token"]})
        assert response.status_code == 401
        assert response.json()["error"] == "invalid_client"


def test_revoking_a_refresh_token_revokes_the_grant(env: Env) -> None:
    body = tokens(env)

    revoked = env.browser.post(
        "/revoke", data={"token": body["refresh_token"]}, headers=env.basic()
    )

    assert revoked.status_code == 200
    assert userinfo(env, body["access_token"]).status_code == 401
    inactive = env.browser.post(
        "/introspect", data={"token": body["refresh_token"]}, headers=env.basic()
    )
    assert inactive.json() == {"active": False}
    unknown = env.browser.post("/revoke", data={"token": "nonsense"}, headers=env.basic())
    assert unknown.status_code == 200  # RFC 7009: an invalid token is not an error


# --- pages: consent and logout confirmation ------------------------------------------------------


def test_third_party_client_shows_a_consent_page_once(env: Env) -> None:
    labo, _ = env.services.oidc.clients.register(
        NewClient("Laboratoire Biolab", redirect_uris=(REDIRECT_URI,)), actor="t"
    )
    _, challenge = pkce_pair()
    url = authorize_url(
        env,
        client_id=labo.client_id,
        scope="openid email",
        code_challenge=challenge,
        code_challenge_method="S256",
    )
    log_in(env.browser, next_url=url)

    page = env.browser.get(url, follow_redirects=False)

    assert page.status_code == 200
    assert "Laboratoire Biolab" in page.text
    assert "Votre adresse e-mail" in page.text
    fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', page.text))
    allowed = env.browser.post(
        "/authorize/consent",
        data={**{k: html.unescape(v) for k, v in fields.items()}, "decision": "allow"},
        follow_redirects=False,
    )
    assert query_of(allowed.headers["location"])["code"]
    again = env.browser.get(url, follow_redirects=False)
    assert again.headers["location"].startswith(REDIRECT_URI)


def test_consent_post_without_csrf_token_is_refused(env: Env) -> None:
    response = env.browser.post(
        "/authorize/consent", data={"client_id": env.client.client_id, "decision": "allow"}
    )

    assert response.status_code == 403


def test_logout_without_id_token_hint_asks_for_confirmation(env: Env) -> None:
    tokens(env)
    params = {"client_id": env.client.client_id, "post_logout_redirect_uri": REDIRECT_URI}

    page = env.browser.get("/end-session", params=params, follow_redirects=False)

    assert page.status_code == 200
    fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', page.text))
    confirmed = env.browser.post(
        "/end-session/confirm",
        data={k: html.unescape(v) for k, v in fields.items()},
        follow_redirects=False,
    )
    # Not registered as a post-logout URI for this client: back to Quivive's own page.
    assert confirmed.headers["location"] == "/login?notice=signed_out"
    assert env.browser.get("/account", follow_redirects=False).status_code == 303


def test_browser_apps_may_call_token_and_userinfo_across_origins(env: Env) -> None:
    preflight = env.browser.options("/userinfo")
    metadata = env.browser.get("/.well-known/openid-configuration")

    assert preflight.status_code == 204
    assert "authorization" in preflight.headers["access-control-allow-headers"]
    assert metadata.headers["access-control-allow-origin"] == "*"
    assert metadata.json()["issuer"] == BASE_URL


def test_authorize_also_accepts_post(env: Env) -> None:
    verifier, challenge = pkce_pair()
    get_code(env, challenge)  # signs in
    form = dict(
        parse_qsl(
            authorize_url(env, code_challenge=challenge, code_challenge_method="S256").split(
                "?", 1
            )[1]
        )
    )

    response = env.browser.post("/authorize", data=form, follow_redirects=False)

    code = query_of(response.headers["location"])["code"]
    assert redeem(env, code, verifier).status_code == 200


def test_token_parameters_in_the_query_string_are_refused(env: Env) -> None:
    response = env.browser.post(
        "/token?grant_type=client_credentials",
        data={"grant_type": "client_credentials"},
        headers=env.basic(),
    )

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_ui_locales_carries_over_to_the_login_page(env: Env) -> None:
    _, challenge = pkce_pair()
    url = authorize_url(
        env, code_challenge=challenge, code_challenge_method="S256", ui_locales="en"
    )

    response = env.browser.get(url, follow_redirects=False)
    login = env.browser.get(response.headers["location"])

    assert "httponly" in response.headers["set-cookie"].lower()
    assert 'lang="en"' in login.text
