"""The sample "dossier patient" app's relying-party side against a real Quivive, and its pages.

The end-to-end walk through both servers is in tests/cli/test_demo_cli.py; here each check the
app makes on what comes back (nonce, PKCE verifier, issuer) is tried on its failing branch too.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import anyio
import pytest

from quivive.clock import FrozenClock
from quivive.protocols.oidc.acr import ACR_AAL1, ACR_AAL2, ACR_EMERGENCY
from support.oidc import REDIRECT_URI, Provider, follow, log_in, query_of, running_provider

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
sys.path.insert(0, str(EXAMPLES))

from dossier_patient import pages  # noqa: E402
from dossier_patient.app import _local  # noqa: E402
from dossier_patient.oidc import Flow, RelyingParty, SignInFailed, new_flow  # noqa: E402


@pytest.fixture
def provider(tmp_path: Path) -> Iterator[Provider]:
    # The app checks exp against the real time: the provider's clock must be now.
    with running_provider(tmp_path, clock=FrozenClock(datetime.now(UTC))) as running:
        running.add_user()
        yield running


def relying_party(provider: Provider) -> RelyingParty:
    client, secret = provider.add_client()
    assert secret is not None
    return RelyingParty(provider.url, client.client_id, secret, REDIRECT_URI)


def code_for(provider: Provider, rp: RelyingParty, flow: Flow) -> str:
    with provider.browser() as browser:
        log_in(browser)
        url = anyio.run(rp.authorization_url, flow)
        answer = follow(browser, url.removeprefix(provider.url))
    return query_of(answer.headers["location"])["code"]


def test_a_sign_in_gives_checked_claims_with_the_healthcare_scope(provider: Provider) -> None:
    rp = relying_party(provider)
    flow = new_flow("/", step_up=False)

    claims, id_token = anyio.run(rp.finish, flow, code_for(provider, rp, flow))

    assert claims["name"] == "Alice Martin"
    assert claims["roles"] == ["infirmier"]
    assert claims["rpps"] == "10001234567"
    assert claims["acr"] == ACR_AAL1
    assert claims["nonce"] == flow.nonce
    assert id_token.count(".") == 2


def test_an_id_token_for_another_nonce_is_refused(provider: Provider) -> None:
    rp = relying_party(provider)
    flow = new_flow("/", step_up=False)
    code = code_for(provider, rp, flow)

    with pytest.raises(SignInFailed, match="ID token refused"):
        anyio.run(rp.finish, replace(flow, nonce="another"), code)


def test_a_code_without_its_pkce_verifier_is_refused(provider: Provider) -> None:
    rp = relying_party(provider)
    flow = new_flow("/", step_up=False)
    code = code_for(provider, rp, flow)

    with pytest.raises(SignInFailed, match="token endpoint"):
        anyio.run(rp.finish, replace(flow, verifier="x" * 64), code)


def test_a_provider_naming_another_issuer_is_refused(provider: Provider) -> None:
    rp = RelyingParty(provider.url + "/elsewhere", "id", "secret", REDIRECT_URI)

    with pytest.raises(SignInFailed):
        anyio.run(rp.metadata)


def test_the_step_up_asks_for_aal2_or_emergency_in_that_order(provider: Provider) -> None:
    rp = relying_party(provider)
    url = anyio.run(
        rp.authorization_url, new_flow("/records", step_up=True), (ACR_AAL2, ACR_EMERGENCY)
    )

    assert query_of(url)["acr_values"] == f"{ACR_AAL2} {ACR_EMERGENCY}"
    assert query_of(url)["code_challenge_method"] == "S256"


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_an_emergency_session_is_marked_on_every_page(lang: str) -> None:
    emergency = {"name": "Dr Karim Benali", "acr": ACR_EMERGENCY, "amr": ["pwd"]}
    normal = {**emergency, "acr": ACR_AAL2}

    for render in (pages.home, pages.records):
        assert 'class="emergency"' in render(lang, emergency)
        assert 'class="emergency"' not in render(lang, normal)


def test_claims_are_escaped() -> None:
    page = pages.home("fr", {"name": "<script>alert(1)</script>", "acr": ACR_AAL1})

    assert "<script>alert" not in page


@pytest.mark.parametrize(
    ("raw", "kept"),
    [("/records", "/records"), ("//evil.example", "/"), ("https://evil.example", "/"), (None, "/")],
)
def test_the_return_path_stays_in_the_app(raw: str | None, kept: str) -> None:
    assert _local(raw) == kept
