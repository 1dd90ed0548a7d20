"""What relying parties and forward-auth rules see of an emergency session (bris de glace):
the emergency acr in the ID token, access_denied when an RP asks for AAL2 without accepting it,
and gate rules that refuse it unless ``allow_emergency`` (a rule of its own for one path)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import OAuth2Client
from joserfc import jwt
from joserfc.jwk import KeySet
from starlette.testclient import TestClient

from quivive.clock import FrozenClock
from quivive.composition import Services
from quivive.protocols import totp
from quivive.protocols.oidc.acr import ACR_AAL2, ACR_EMERGENCY
from quivive.services.accounts import NewAccount
from quivive.web.app import create_app
from support.oidc import REDIRECT_URI, Provider, follow, log_in, query_of, running_provider
from support.quivive import running_services

PASSWORD = "correct horse battery staple 42"
WHY = "Téléphone oublié, patient en détresse respiratoire au box 4, prescription urgente."
RULES = """
[[gate.rules]]
host = "dpi.localhost"
roles = ["infirmier"]
min_aal = 2

[[gate.rules]]
host = "dpi.localhost"
path_prefix = "/soins"
roles = ["infirmier"]
min_aal = 2
allow_emergency = true
"""


def csrf(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "no CSRF token in the page"
    return match[1]


def with_totp(services: Services, clock: FrozenClock, user_id: int, name: str) -> None:
    pending = services.totp.begin(user_id, name)
    assert services.totp.confirm(
        user_id, totp.code_at(pending.secret, totp.step_at(clock.now())), "x"
    )


def break_glass(browser: Any, next_url: str) -> Any:
    page = browser.get("/login/emergency", params={"next": next_url})
    assert page.status_code == 200, page.text
    form = {
        "csrf_token": csrf(page.text),
        "next": next_url,
        "password": PASSWORD,
        "reason": "patient_emergency",
        "justification": WHY,
    }
    response = browser.post("/login/emergency", data=form, follow_redirects=False)
    assert response.status_code == 303, response.text
    return response


# --- OpenID Connect ------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _plain_http_on_localhost(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")


@pytest.fixture
def provider(tmp_path: Path) -> Iterator[Provider]:
    with running_provider(tmp_path, settings={"emergency_roles": "infirmier"}) as running:
        running.add_user()
        user = running.services.accounts.get("alice")
        with_totp(running.services, running.clock, user.id, "alice")
        running.clock.advance(timedelta(seconds=30))
        yield running


def authorize_url(provider: Provider, rp: OAuth2Client, **extra: str) -> tuple[str, str]:
    verifier = generate_token(48)
    url, _ = rp.create_authorization_url(
        provider.metadata()["authorization_endpoint"],
        code_verifier=verifier,
        nonce=generate_token(20),
        **extra,
    )
    return url, verifier


def test_the_id_token_carries_the_emergency_acr_and_pwd_only(provider: Provider) -> None:
    client, secret = provider.add_client()
    meta = provider.metadata()
    rp = OAuth2Client(
        client.client_id,
        secret,
        scope="openid profile offline_access",
        redirect_uri=REDIRECT_URI,
        code_challenge_method="S256",
    )
    url, verifier = authorize_url(provider, rp)
    browser = provider.browser()
    to_login = browser.get(url)
    next_url = query_of(to_login.headers["location"])["next"]
    log_in(browser, next_url=next_url)  # the second factor is owed now

    break_glass(browser, next_url)
    back = follow(browser, url)
    token = rp.fetch_token(
        meta["token_endpoint"],
        authorization_response=back.headers["location"],
        code_verifier=verifier,
    )

    claims = jwt.decode(
        token["id_token"], KeySet.import_key_set(httpx.get(meta["jwks_uri"]).json())
    ).claims
    assert claims["acr"] == ACR_EMERGENCY
    assert claims["amr"] == ["pwd"]
    assert "refresh_token" not in token  # nothing may outlive the two hours
    assert ACR_EMERGENCY in meta["acr_values_supported"]

    demanding = authorize_url(provider, rp, acr_values=ACR_AAL2)[0]
    refused = follow(browser, demanding)
    assert refused.headers["location"].startswith(REDIRECT_URI)
    assert query_of(refused.headers["location"])["error"] == "access_denied"

    accepting = authorize_url(provider, rp, acr_values=f"{ACR_AAL2} {ACR_EMERGENCY}")[0]
    accepted = follow(browser, accepting)
    assert "code" in query_of(accepted.headers["location"])


# --- forward-auth gate ---------------------------------------------------------------------------


@pytest.fixture
def gated(tmp_path: Path, clock: FrozenClock) -> Iterator[Services]:
    config = tmp_path / "quivive.toml"
    config.write_text(RULES)
    settings = {"config": str(config), "emergency_roles": "infirmier"}
    with running_services(tmp_path, clock=clock, settings=settings) as services:
        user = services.accounts.create(
            NewAccount("alice", PASSWORD, roles=("infirmier",)), actor="test"
        )
        with_totp(services, clock, user.id, "alice")
        clock.advance(timedelta(seconds=30))
        yield services


def verify(client: TestClient, url: str) -> Any:
    headers = {"x-original-url": url, "x-original-method": "GET", "accept-language": "en"}
    return client.get("/api/verify", headers=headers, follow_redirects=False)


def test_gate_rules_refuse_emergency_unless_allow_emergency(gated: Services) -> None:
    app = create_app(gated)
    client = TestClient(app, base_url="http://localhost:8080", client=("127.0.0.1", 50000))
    log_in(client)
    assert verify(client, "http://dpi.localhost/dossier").status_code == 401  # factor owed

    break_glass(client, "/account")
    refused = verify(client, "http://dpi.localhost/dossier/42")
    allowed = verify(client, "http://dpi.localhost/soins/plan-du-jour")

    assert refused.status_code == 403
    assert "does not accept emergency access" in refused.text
    assert allowed.status_code == 200
    raw = {name.decode(): value for name, value in allowed.headers.raw}
    assert raw["remote-user"] == b"alice"
    assert raw["remote-aal"] == b"1"
    assert raw["remote-emergency"] == b"true"
