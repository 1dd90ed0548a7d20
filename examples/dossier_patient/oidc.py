"""The relying party's side of OpenID Connect: discovery, PKCE, code exchange, ID token checks.

OIDC Core §3.1 (authorization code flow) and RFC 7636 (PKCE, S256). The ID token is verified as
§3.1.3.7 asks: signature with a key of the provider's JWKS, ``iss`` equal to the issuer, ``aud``
containing our client_id, ``exp`` in the future, and the ``nonce`` we sent.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

ACR_AAL2 = "urn:quivive:acr:aal2"
ACR_AAL3 = "urn:quivive:acr:aal3"
ACR_EMERGENCY = "urn:quivive:acr:emergency"
SCOPE = "openid profile email healthcare"
ALGORITHMS = ("RS256", "ES256")
CLOCK_LEEWAY_S = 30


class SignInFailed(Exception):
    """The provider's answer could not be trusted; the message says why (never shown raw)."""


@dataclass(frozen=True, slots=True)
class Flow:
    """What the app keeps between sending the user to Quivive and their return."""

    state: str
    nonce: str
    verifier: str
    return_to: str
    step_up: bool


def new_flow(return_to: str, *, step_up: bool) -> Flow:
    return Flow(
        state=secrets.token_urlsafe(24),
        nonce=secrets.token_urlsafe(24),
        verifier=secrets.token_urlsafe(48),  # RFC 7636 §4.1: 43 to 128 characters
        return_to=return_to,
        step_up=step_up,
    )


def code_challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class RelyingParty:
    def __init__(self, issuer: str, client_id: str, client_secret: str, redirect_uri: str) -> None:
        self.issuer = issuer.rstrip("/")
        self.client_id = client_id
        self._secret = client_secret
        self.redirect_uri = redirect_uri
        self._metadata: dict[str, Any] | None = None

    async def metadata(self) -> dict[str, Any]:
        if self._metadata is None:
            url = self.issuer + "/.well-known/openid-configuration"
            self._metadata = await _get_json(url)
            if self._metadata.get("issuer") != self.issuer:
                raise SignInFailed("the discovery document names another issuer")
        return self._metadata

    async def authorization_url(self, flow: Flow, acr_values: tuple[str, ...] = ()) -> str:
        params = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": SCOPE,
            "state": flow.state,
            "nonce": flow.nonce,
            "code_challenge": code_challenge(flow.verifier),
            "code_challenge_method": "S256",
        }
        if acr_values:
            params["acr_values"] = " ".join(acr_values)  # in order of preference
        endpoint = (await self.metadata())["authorization_endpoint"]
        return f"{endpoint}?{urlencode(params)}"

    async def finish(self, flow: Flow, code: str) -> tuple[dict[str, Any], str]:
        """The checked ID token claims merged with userinfo, and the raw ID token."""
        tokens = await self._exchange(flow, code)
        id_token = tokens.get("id_token")
        if not isinstance(id_token, str):
            raise SignInFailed("no ID token in the token response")
        claims = await self._check_id_token(id_token, flow.nonce)
        info = await self._userinfo(str(tokens.get("access_token", "")))
        if info.get("sub") != claims["sub"]:
            raise SignInFailed("userinfo is about another subject")  # OIDC Core §5.3.2
        return {**info, **claims}, id_token

    async def logout_url(self, id_token: str, post_logout_uri: str) -> str | None:
        endpoint = (await self.metadata()).get("end_session_endpoint")
        if not endpoint:
            return None
        query = urlencode({"id_token_hint": id_token, "post_logout_redirect_uri": post_logout_uri})
        return f"{endpoint}?{query}"

    async def _exchange(self, flow: Flow, code: str) -> dict[str, Any]:
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.redirect_uri,
            "code_verifier": flow.verifier,
        }
        endpoint = (await self.metadata())["token_endpoint"]
        async with httpx.AsyncClient(timeout=10) as http:
            response = await http.post(endpoint, data=form, auth=(self.client_id, self._secret))
        if response.status_code != 200:
            raise SignInFailed(f"token endpoint answered {response.status_code}")
        body: dict[str, Any] = response.json()
        return body

    async def _check_id_token(self, id_token: str, nonce: str) -> dict[str, Any]:
        jwks = await _get_json((await self.metadata())["jwks_uri"])
        try:
            keys = KeySet.import_key_set(jwks)  # type: ignore[arg-type]  # JSON, checked here
            token = jwt.decode(id_token, keys, algorithms=list(ALGORITHMS))
            jwt.JWTClaimsRegistry(
                leeway=CLOCK_LEEWAY_S,
                iss={"essential": True, "value": self.issuer},
                aud={"essential": True, "value": self.client_id},
                exp={"essential": True},
                sub={"essential": True},
                nonce={"essential": True, "value": nonce},
            ).validate(token.claims)
        except (JoseError, ValueError) as exc:
            raise SignInFailed(f"ID token refused: {exc}") from exc
        return dict(token.claims)

    async def _userinfo(self, access_token: str) -> dict[str, Any]:
        endpoint = (await self.metadata()).get("userinfo_endpoint")
        if not endpoint or not access_token:
            return {}
        async with httpx.AsyncClient(timeout=10) as http:
            response = await http.get(endpoint, headers={"Authorization": f"Bearer {access_token}"})
        if response.status_code != 200:
            raise SignInFailed(f"userinfo answered {response.status_code}")
        body: dict[str, Any] = response.json()
        return body


async def _get_json(url: str) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.get(url)
    if response.status_code != 200:
        raise SignInFailed(f"{url} answered {response.status_code}")
    body: dict[str, Any] = response.json()
    return body
