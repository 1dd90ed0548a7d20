"""OpenID Connect endpoints per second, each against a bare Starlette endpoint doing the same work.

- ``oidc-token``: POST /token with the client credentials grant (client_secret_basic), one JWT
  access token signed per request, once with an ES256 client and once with an RS256 one. The
  baseline parses the same form and signs the same claims with the same kind of key, with joserfc,
  in a bare Starlette endpoint. Quivive also looks the client up, checks its secret, audits the
  issuance and goes through its middleware; the ratio says what that costs.
- ``oidc-discovery``: GET /.well-known/openid-configuration and GET /jwks.json against a bare
  endpoint returning the same bytes.

Quivive and the baseline run alternately in processes of the same kind; the baseline is loaded
before and after Quivive and the two rates averaged, so drift of the machine's load biases the
ratio neither way. Target: ratio ≥ 0.6 (issue 4).
"""

import base64
import json
import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bench.harness import (
    Options,
    Result,
    ServerProcess,
    WrkReport,
    benchmark,
    run_wrk,
    write_wrk_script,
)
from quivive.composition import build_services
from quivive.config import load_settings
from quivive.protocols.oidc.discovery import provider_metadata
from quivive.services.oidc_clients import NewClient
from quivive.storage.database import upgrade

TARGET = "≥ 0.60"
KEY_ENV = "QUIVIVE_BENCH_SIGNING_JWK"
BODY_ENV = "QUIVIVE_BENCH_BODY_FILE"
FORM_BODY = "grant_type=client_credentials"


# --- the baseline apps (built in the server process from the environment) ---------------------


def signing_app() -> Starlette:
    """Parse the token request's form and sign an access token with the key in $KEY_ENV."""
    data = json.loads(Path(os.environ[KEY_ENV]).read_text())
    key = RSAKey.import_key(data) if data["alg"] == "RS256" else ECKey.import_key(data)
    header = {"alg": data["alg"], "kid": data["kid"], "typ": "at+jwt"}

    async def token(request: Request) -> Response:
        form = await request.form()
        if form.get("grant_type") != "client_credentials":
            return Response(status_code=400)
        now = int(time.time())
        claims = {
            "iss": "http://127.0.0.1",
            "sub": "client",
            "aud": "client",
            "client_id": "client",
            "iat": now,
            "exp": now + 600,
            "jti": base64.urlsafe_b64encode(os.urandom(16)).decode(),
            "scope": "",
        }
        body = {
            "access_token": jwt.encode(header, claims, key),
            "token_type": "Bearer",
            "expires_in": 600,
        }
        return Response(json.dumps(body), media_type="application/json")

    return Starlette(routes=[Route("/token", token, methods=["POST"])])


def static_app() -> Starlette:
    """Answer every GET with the bytes of the file in $BODY_ENV, as JSON."""
    payload = Path(os.environ[BODY_ENV]).read_bytes()

    async def document(request: Request) -> Response:
        return Response(payload, media_type="application/json")

    return Starlette(routes=[Route("/{path:path}", document)])


# --- the runs -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Setup:
    data_dir: Path
    env: dict[str, str]
    clients: dict[str, tuple[str, str]]  # alg -> (client_id, secret)
    private_jwks: dict[str, str]  # alg -> private JWK JSON of Quivive's signing key
    metadata: bytes
    jwks: bytes


@benchmark("oidc-token")
def oidc_token(options: Options) -> list[Result]:
    with tempfile.TemporaryDirectory(prefix="quivive-bench-") as folder:
        setup = _prepare(Path(folder))
        results: list[Result] = []
        for alg in ("ES256", "RS256"):
            client_id, secret = setup.clients[alg]
            raw = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
            script = write_wrk_script(
                Path(folder) / f"token-{alg}.lua",
                body=FORM_BODY,
                headers={
                    "Content-Type": "application/x-www-form-urlencoded",
                    "Authorization": f"Basic {raw}",
                },
            )
            key_file = Path(folder) / f"{alg}.jwk"
            key_file.write_text(setup.private_jwks[alg])
            baseline = ServerProcess(
                "bench.bench_oidc:signing_app", env={KEY_ENV: str(key_file)}, ready_path="/token"
            )
            quivive = ServerProcess("bench.apps:quivive_app", env=setup.env, ready_path="/healthz")
            comparison = _compare(quivive, baseline, "/token", script, options)
            results += comparison.rows(
                f"oidc-token client_credentials {alg}", f"bare Starlette, form + {alg} JWT"
            )
    return results


@benchmark("oidc-discovery")
def oidc_discovery(options: Options) -> list[Result]:
    with tempfile.TemporaryDirectory(prefix="quivive-bench-") as folder:
        setup = _prepare(Path(folder))
        results: list[Result] = []
        for path, payload in (
            ("/.well-known/openid-configuration", setup.metadata),
            ("/jwks.json", setup.jwks),
        ):
            body_file = Path(folder) / "body.json"
            body_file.write_bytes(payload)
            baseline = ServerProcess("bench.bench_oidc:static_app", env={BODY_ENV: str(body_file)})
            quivive = ServerProcess("bench.apps:quivive_app", env=setup.env, ready_path="/healthz")
            comparison = _compare(quivive, baseline, path, None, options)
            results += comparison.rows(f"oidc GET {path}", "bare Starlette, same bytes")
    return results


@dataclass(frozen=True)
class Load:
    report: WrkReport
    per_cpu_second: float  # requests answered per second of the server's CPU time


@dataclass(frozen=True)
class Comparison:
    quivive: Load
    baseline: tuple[Load, Load]

    def rows(self, name: str, baseline_name: str) -> list[Result]:
        """Wall-clock rates, and requests per CPU-second: the second holds when other work on
        the machine (a parallel test run) skews the first."""
        measured = self.quivive
        return [
            Result(
                benchmark=name,
                figure=measured.report.requests_per_s,
                baseline=_mean([load.report.requests_per_s for load in self.baseline]),
                baseline_name=baseline_name,
                target=TARGET,
                detail=measured.report.latency,
            ),
            Result(
                benchmark=f"{name}, per CPU-second",
                figure=measured.per_cpu_second,
                unit="req/CPU-s",
                baseline=_mean([load.per_cpu_second for load in self.baseline]),
                baseline_name=baseline_name,
                target=TARGET,
            ),
        ]


def _compare(
    quivive: ServerProcess,
    baseline: ServerProcess,
    path: str,
    script: Path | None,
    options: Options,
) -> Comparison:
    with baseline, quivive:

        def load(server: ServerProcess) -> Load:
            cpu_before = server.cpu_seconds()
            report = run_wrk(
                server.url + path,
                script=script,
                connections=options.connections,
                duration=options.duration,
            )
            if report.non_2xx_3xx or report.socket_errors:
                raise RuntimeError(f"errors under load on {path}: {report}")
            cpu = max(server.cpu_seconds() - cpu_before, 1e-3)
            return Load(report, report.requests / cpu)

        run_wrk(quivive.url + path, script=script, connections=4, duration=1)  # warm-up
        before = load(baseline)
        measured = load(quivive)
        after = load(baseline)
    return Comparison(measured, (before, after))


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def _prepare(data_dir: Path) -> Setup:
    env = {"QUIVIVE_DATA_DIR": str(data_dir), "QUIVIVE_LOG_LEVEL": "warning"}
    services = build_services(load_settings(env=env))
    try:
        upgrade(services.engine)
        oidc = services.oidc
        clients = {}
        for alg in ("ES256", "RS256"):
            client, secret = oidc.clients.register(
                NewClient(f"bench-{alg}", grant_types=("client_credentials",), signing_alg=alg),
                actor="bench",
            )
            if secret is None:
                raise RuntimeError("a confidential client has a secret")
            clients[alg] = (client.client_id, secret)
        private = {key.alg: key.private_jwk for key in oidc.keys.list() if key.retired_at is None}
        metadata = json.dumps(provider_metadata(oidc.config.issuer), separators=(",", ":")).encode()
        jwks = json.dumps(oidc.keys.ring().jwks(), separators=(",", ":")).encode()
    finally:
        services.close()
    return Setup(data_dir, env, clients, private, metadata, jwks)
