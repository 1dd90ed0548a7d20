"""OIDC services without the web edge: single use across two instances sharing one database,
key rotation, client registration rules and the consent memory."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from quivive.clock import FrozenClock
from quivive.composition import Services, build_services
from quivive.domain.sessions import AssuranceLevel
from quivive.errors import ValidationError
from quivive.protocols.oidc import jose_keys
from quivive.protocols.oidc.errors import InvalidGrant, InvalidToken, OAuthError
from quivive.protocols.oidc.jose_keys import Jwk, SigningKey
from quivive.protocols.oidc.pkce import s256
from quivive.services import oidc_keys
from quivive.services.accounts import NewAccount
from quivive.services.oidc import NeedConsent, ToClient
from quivive.services.oidc_clients import NewClient
from quivive.storage.database import upgrade
from support.live_server import LiveServer
from support.oidc import Receiver
from support.quivive import RecordingAudit, make_settings, postgres_schema, postgres_url
from support.race import race as race_all

REDIRECT = "http://localhost:9/cb"
VERIFIER = "v" * 43
RACERS = 8


@contextmanager
def two_instances(
    tmp_path: Path, backend: str, audit: RecordingAudit | None = None
) -> Iterator[tuple[Services, Services]]:
    """Two independently built Services (two "nodes") on one database."""
    clock, audit = FrozenClock(), audit or RecordingAudit()
    with ExitStack() as stack:
        overrides: dict[str, str] = {}
        schema = None
        if backend == "postgres":
            schema = stack.enter_context(postgres_schema())
            overrides["database_url"] = postgres_url()
        settings = make_settings(tmp_path, **overrides)
        first = build_services(settings, clock=clock, audit=audit, schema=schema)
        stack.callback(first.close)
        upgrade(first.engine)
        second = build_services(settings, clock=clock, audit=audit, schema=schema)
        stack.callback(second.close)
        yield first, second


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def code_for(services: Services, client_id: str, scope: str = "openid offline_access") -> str:
    user = services.accounts.find("alice") or services.accounts.create(
        NewAccount("alice", "correct horse battery staple 42"), actor="t"
    )
    token = services.sessions.start(
        user, amr=("pwd",), aal=AssuranceLevel.AAL1, source_address=None, user_agent=None
    )
    active = services.sessions.resolve(token)
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "scope": scope,
        "code_challenge": s256(VERIFIER),
        "code_challenge_method": "S256",
    }
    decision = services.oidc.authorization.decide(params, active)
    assert isinstance(decision, ToClient), decision
    return parse_qs(urlsplit(decision.url).query)["code"][0]


def race(calls: list[Any]) -> list[Any]:
    return race_all(calls, returning=(OAuthError,))


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_code_is_redeemed_once_across_two_instances(tmp_path: Path, backend: str) -> None:
    with two_instances(tmp_path, backend) as (first, second):
        client, secret = first.oidc.clients.register(
            NewClient("dpi", redirect_uris=(REDIRECT,), first_party=True), actor="t"
        )
        assert secret is not None
        for _ in range(5):
            code = code_for(first, client.client_id)
            form = {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": REDIRECT,
                "code_verifier": VERIFIER,
            }
            header = basic(client.client_id, secret)
            nodes = [first, second] * (RACERS // 2)
            outcomes = race([partial(n.oidc.tokens.token, form, header) for n in nodes])

            issued = [o for o in outcomes if isinstance(o, dict)]
            assert len(issued) == 1
            assert all(isinstance(o, InvalidGrant) for o in outcomes if o not in issued)
            # The reuse revoked what the winner got.
            with pytest.raises(InvalidToken):
                second.oidc.tokens.userinfo(issued[0]["access_token"])


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_refresh_token_rotates_once_across_two_instances(tmp_path: Path, backend: str) -> None:
    audit = RecordingAudit()
    with two_instances(tmp_path, backend, audit) as (first, second):
        client, secret = first.oidc.clients.register(
            NewClient("dpi", redirect_uris=(REDIRECT,), first_party=True), actor="t"
        )
        assert secret is not None
        header = basic(client.client_id, secret)
        code = code_for(first, client.client_id)
        body = first.oidc.tokens.token(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": REDIRECT,
                "code_verifier": VERIFIER,
            },
            header,
        )
        form = {"grant_type": "refresh_token", "refresh_token": body["refresh_token"]}
        nodes = [first, second] * (RACERS // 2)

        outcomes = race([partial(n.oidc.tokens.token, form, header) for n in nodes])

        # One racer rotates the token; the others present it again, which is reuse (RFC 9700
        # §4.14.2) and revokes the whole family. The rotating racer may therefore be answered
        # with tokens that are already revoked, or with invalid_grant when the revocation landed
        # first: never two rotations, and nothing from this family keeps working.
        winners = [o for o in outcomes if isinstance(o, dict)]
        assert len(winners) <= 1
        assert ("oidc.refresh_reuse", "failure") in audit.actions()
        for body in winners:
            again = {"grant_type": "refresh_token", "refresh_token": body["refresh_token"]}
            with pytest.raises(InvalidGrant):
                first.oidc.tokens.token(again, header)


def test_rotated_key_verifies_old_tokens_until_they_expire_then_goes(
    sqlite_services: Services, clock: FrozenClock
) -> None:
    oidc = sqlite_services.oidc
    client, secret = oidc.clients.register(
        NewClient("batch", grant_types=("client_credentials",)), actor="t"
    )
    assert secret is not None
    header = basic(client.client_id, secret)
    form = {"grant_type": "client_credentials"}
    before = oidc.tokens.token(form, header)["access_token"]
    old_kid = jwt.decode(before, KeySet.import_key_set(oidc.keys.ring().jwks())).header["kid"]

    oidc.keys.rotate()
    after = oidc.tokens.token(form, header)["access_token"]

    jwks = oidc.keys.ring().jwks()
    assert old_kid in {key["kid"] for key in jwks["keys"]}
    assert jwt.decode(after, KeySet.import_key_set(jwks)).header["kid"] != old_kid
    assert oidc.tokens.verify_access_token(before).claims["sub"] == client.client_id
    clock.advance(timedelta(minutes=10, seconds=1))
    oidc.keys.rotate()  # purges keys past their last token
    assert old_kid not in {key["kid"] for key in oidc.keys.ring().jwks()["keys"]}
    assert oidc.tokens.verify_access_token(oidc.tokens.token(form, header)["access_token"])


def test_a_node_sees_a_rotation_made_on_another(tmp_path: Path) -> None:
    with two_instances(tmp_path, "sqlite") as (first, second):
        first.oidc.keys.ring()
        second.oidc.keys.ring()
        first.oidc.keys.rotate()
        client, secret = first.oidc.clients.register(
            NewClient("batch", grant_types=("client_credentials",)), actor="t"
        )
        assert secret is not None
        token = first.oidc.tokens.token(
            {"grant_type": "client_credentials"}, basic(client.client_id, secret)
        )["access_token"]

        # The unknown kid makes the second node reload the keys at once.
        assert second.oidc.tokens.verify_access_token(token).claims["sub"] == client.client_id


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"redirect_uris": ("http://app.hopital.example/cb",)}, "https"),
        ({"redirect_uris": ("https://app.example/cb#frag",)}, "fragment"),
        ({"redirect_uris": ()}, "redirect-uri"),
        ({"public": True, "grant_types": ("client_credentials",)}, "public client"),
        ({"scopes": ("openid", "superuser")}, "unknown scope"),
        ({"signing_alg": "HS256"}, "signing algorithm"),
        ({"auth_method": "private_key_jwt"}, "JWKS"),
    ],
)
def test_client_registration_rules(
    sqlite_services: Services, fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        sqlite_services.oidc.clients.register(NewClient("app", **fields), actor="t")


def test_http_redirect_uris_are_allowed_on_a_test_installation(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, allow_insecure_http="true")
    services = build_services(settings, clock=FrozenClock(), audit=RecordingAudit())
    try:
        upgrade(services.engine)
        client, _ = services.oidc.clients.register(
            NewClient("app", redirect_uris=("http://app.test/cb",)), actor="t"
        )
        assert client.redirect_uris == ("http://app.test/cb",)
    finally:
        services.close()


def test_secrets_are_stored_hashed_and_rotate(sqlite_services: Services) -> None:
    clients = sqlite_services.oidc.clients
    client, secret = clients.register(NewClient("app", redirect_uris=(REDIRECT,)), actor="t")
    assert secret is not None
    assert client.secret_hash is not None
    assert secret not in client.secret_hash

    _, new_secret = clients.rotate_secret("app", actor="t")

    stored = clients.get(client.client_id)
    assert stored.secret_hash != client.secret_hash
    assert new_secret != secret


def test_third_party_consent_is_asked_once_per_scope(sqlite_services: Services) -> None:
    client, _ = sqlite_services.oidc.clients.register(
        NewClient("labo", redirect_uris=(REDIRECT,)), actor="t"
    )
    user = sqlite_services.accounts.create(
        NewAccount("alice", "correct horse battery staple 42"), actor="t"
    )
    token = sqlite_services.sessions.start(
        user, amr=("pwd",), aal=AssuranceLevel.AAL1, source_address=None, user_agent=None
    )
    active = sqlite_services.sessions.resolve(token)
    assert active is not None
    params = {
        "response_type": "code",
        "client_id": client.client_id,
        "redirect_uri": REDIRECT,
        "scope": "openid profile",
        "code_challenge": s256(VERIFIER),
        "code_challenge_method": "S256",
    }
    authorization = sqlite_services.oidc.authorization

    assert isinstance(authorization.decide(params, active), NeedConsent)
    assert isinstance(authorization.approve(params, active, allowed=True), ToClient)
    assert isinstance(authorization.decide(params, active), ToClient)  # remembered
    wider = {**params, "scope": "openid profile email"}
    assert isinstance(authorization.decide(wider, active), NeedConsent)
    refused = authorization.approve(wider, active, allowed=False)
    assert isinstance(refused, ToClient)
    assert "error=access_denied" in refused.url
    none = authorization.decide({**wider, "prompt": "none"}, active)
    assert isinstance(none, ToClient)
    assert "error=consent_required" in none.url


def test_grants_follow_a_session_through_a_step_up(sqlite_services: Services) -> None:
    services = sqlite_services
    client, secret = services.oidc.clients.register(
        NewClient("dpi", redirect_uris=(REDIRECT,), first_party=True), actor="t"
    )
    assert secret is not None
    user = services.accounts.create(
        NewAccount("alice", "correct horse battery staple 42"), actor="t"
    )
    token = services.sessions.start(
        user, amr=("pwd",), aal=AssuranceLevel.AAL1, source_address=None, user_agent=None
    )
    params = {
        "response_type": "code",
        "client_id": client.client_id,
        "redirect_uri": REDIRECT,
        "scope": "openid",
        "code_challenge": s256(VERIFIER),
        "code_challenge_method": "S256",
    }
    decision = services.oidc.authorization.decide(params, services.sessions.resolve(token))
    assert isinstance(decision, ToClient)
    code = parse_qs(urlsplit(decision.url).query)["code"][0]
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": VERIFIER,
    }
    body = services.oidc.tokens.token(form, basic(client.client_id, secret))
    stepped = services.sessions.rotate(
        token, amr=("pwd", "otp"), aal=AssuranceLevel.AAL2, source_address=None, user_agent=None
    )

    services.sessions.end(stepped)

    with pytest.raises(InvalidToken):
        services.oidc.tokens.userinfo(body["access_token"])


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_purge_deletes_expired_grants_and_keeps_live_ones(tmp_path: Path, backend: str) -> None:
    with two_instances(tmp_path, backend) as (services, _other):
        client, secret = services.oidc.clients.register(
            NewClient("dpi", redirect_uris=(REDIRECT,), first_party=True), actor="t"
        )
        assert secret is not None
        header = basic(client.client_id, secret)
        form = {"grant_type": "authorization_code", "redirect_uri": REDIRECT}
        online = services.oidc.tokens.token(
            {
                **form,
                "code": code_for(services, client.client_id, "openid"),
                "code_verifier": VERIFIER,
            },
            header,
        )
        offline = services.oidc.tokens.token(
            {**form, "code": code_for(services, client.client_id), "code_verifier": VERIFIER},
            header,
        )
        clock = services.clock
        assert isinstance(clock, FrozenClock)

        refresh = offline["refresh_token"]
        for _ in range(2):  # the offline grant stays in use, the online one is left alone
            clock.advance(timedelta(hours=11))
            refresh = services.oidc.tokens.token(
                {"grant_type": "refresh_token", "refresh_token": refresh}, header
            )["refresh_token"]
        clock.advance(timedelta(hours=3))
        removed = services.oidc.tokens.purge()

        assert removed >= 3  # the online grant and two used refresh tokens
        with pytest.raises(InvalidToken):
            services.oidc.tokens.verify_access_token(online["access_token"])
        again = services.oidc.tokens.token(
            {"grant_type": "refresh_token", "refresh_token": refresh}, header
        )
        assert again["access_token"]


def test_a_session_that_times_out_is_logged_out_of_its_applications(
    services: Services, clock: FrozenClock
) -> None:
    recorder = Receiver()
    with LiveServer(recorder.app()) as server:
        client, secret = services.oidc.clients.register(
            NewClient(
                "dpi",
                redirect_uris=(REDIRECT,),
                first_party=True,
                backchannel_logout_uri=server.url + "/backchannel",
            ),
            actor="t",
        )
        assert secret is not None
        code = code_for(services, client.client_id, "openid")
        body = services.oidc.tokens.token(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": REDIRECT,
                "code_verifier": VERIFIER,
            },
            basic(client.client_id, secret),
        )
        assert services.oidc.logout.sweep_ended_sessions() == 0

        clock.advance(timedelta(minutes=16))  # past the 15-minute idle timeout
        swept = services.oidc.logout.sweep_ended_sessions()

        assert swept == 1
        assert services.outbox.drain(10)
        assert len(recorder.received) == 1
        with pytest.raises(InvalidToken):
            services.oidc.tokens.verify_access_token(body["access_token"])
        assert services.oidc.logout.sweep_ended_sessions() == 0


def test_quick_client_credentials_answers_from_memory_only(
    sqlite_services: Services, audit: RecordingAudit, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, secret = sqlite_services.oidc.clients.register(
        NewClient("batch", grant_types=("client_credentials",)), actor="t"
    )
    assert secret is not None
    form, header = {"grant_type": "client_credentials"}, basic(client.client_id, secret)
    tokens = sqlite_services.oidc.tokens

    assert tokens.quick_client_credentials(form, header) is None  # the client is not cached yet
    tokens.token(form, header)  # as the route does: reads the client, and the keys
    recorded = len(audit.events)
    issued = tokens.quick_client_credentials(form, header)

    assert issued is not None
    assert (issued.event.action, issued.event.details) == (
        "oidc.token",
        {"detail": "client_credentials"},
    )
    assert len(audit.events) == recorded  # recording it is the caller's, before it answers
    assert tokens.quick_client_credentials(form, basic(client.client_id, "wrong")) is None
    assert tokens.quick_client_credentials({**form, "scope": "openid"}, header) is None
    monkeypatch.setattr(oidc_keys, "RELOAD_INTERVAL_S", -1.0)  # a key reload is due
    assert tokens.quick_client_credentials(form, header) is None


def test_a_reload_keeps_the_keys_it_has_and_imports_only_new_ones(
    sqlite_services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = sqlite_services.oidc.keys
    keys.ring()
    imported: list[str] = []
    real_import = jose_keys._import

    def counting(record: SigningKey) -> Jwk:
        imported.append(record.kid)
        return real_import(record)

    monkeypatch.setattr(jose_keys, "_import", counting)
    keys.reload()
    assert imported == []  # the same keys: nothing imported again

    created = keys.rotate()

    assert sorted(imported) == sorted(key.kid for key in created)
    assert {key.kid for key in created} <= set(keys.ring().kids)
