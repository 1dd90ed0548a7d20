"""``/api/verify`` with a valid session, directly and through nginx, against a bare endpoint.

The gate runs before every request to every protected application, so it is compared with the
cheapest thing that could answer the same question: a bare Starlette endpoint in the same kind of
uvicorn process, returning 200 with the same Remote-* headers and no check at all. Both are
loaded with the same requests (session cookie, X-Original-URL) by wrk at 50 connections; the bare
endpoint before and after Quivive, its two rates averaged, so that the machine's other work during
the run biases the ratio neither way. Through nginx, the same nginx (auth_request with the
snippets of docs/nginx, keep-alive upstreams) serves a static file after asking either server.

Targets (issue 6): at least 0.7 of the bare rate directly, 0.8 through nginx; the p99 latency at
50 connections is reported with each figure.
"""

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bench.harness import (
    HOST,
    REPO_ROOT,
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
from quivive.domain.sessions import AssuranceLevel
from quivive.services.accounts import NewAccount
from quivive.storage.database import upgrade
from quivive.web.state import SESSION_COOKIE

NAME = "gate-verify"
CONNECTIONS = 50
TARGET_DIRECT = 0.7
TARGET_NGINX = 0.8
NGINX = "/usr/sbin/nginx"
APP_HOST = "app.bench.localhost"
RULES = f"""
[[gate.rules]]
host = "{APP_HOST}"
roles = ["medecin"]
"""
IDENTITY = {
    "remote-user": "alice",
    "remote-name": "Alice Martin",
    "remote-email": "alice@hopital.example",
    "remote-groups": "medecin",
    "remote-aal": "1",
}
NGINX_CONF = """
{user}
daemon off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    upstream quivive {{ server 127.0.0.1:{gate_port}; keepalive 64; }}
    server {{
        listen 127.0.0.1:{port} backlog=1024;
        server_name {host};
        root {prefix}/www;
        include {prefix}/quivive-verify.conf;
        location / {{
            include {prefix}/quivive-protect.conf;
        }}
    }}
}}
"""


async def _bare_verify(request: Request) -> Response:
    return Response(status_code=200, headers={**IDENTITY, "cache-control": "no-store"})


def bare_verify_app() -> Starlette:
    """The floor: 200 with the same headers as an allowed /api/verify, nothing checked."""
    methods = ["GET", "HEAD", "POST"]
    return Starlette(routes=[Route("/api/verify", _bare_verify, methods=methods)])


def _prepare(data_dir: Path) -> tuple[dict[str, str], str]:
    """Migrate a fresh SQLite data dir, add a user and a session; the env and the token."""
    config = data_dir / "quivive.toml"
    data_dir.mkdir(parents=True)
    config.write_text(RULES)
    env = {"QUIVIVE_DATA_DIR": str(data_dir), "QUIVIVE_CONFIG": str(config)}
    services = build_services(load_settings(env=env))
    try:
        upgrade(services.engine)
        user = services.accounts.create(
            NewAccount(
                "alice",
                "un été au bord du Lot 1987",
                display_name="Alice Martin",
                email="alice@hopital.example",
                roles=["medecin"],
            ),
            actor="bench",
        )
        token = services.sessions.start(
            user, amr=("pwd",), aal=AssuranceLevel.AAL1, source_address=None, user_agent=None
        )
    finally:
        services.close()
    return env, token


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@contextmanager
def _nginx(prefix: Path, gate_port: int) -> Iterator[int]:
    prefix.mkdir()
    (prefix / "www").mkdir()
    (prefix / "www" / "page").write_text("ok\n")
    for snippet in ("quivive-verify.conf", "quivive-protect.conf"):
        shutil.copy(REPO_ROOT / "docs" / "nginx" / snippet, prefix / snippet)
    port = _free_port()
    conf = NGINX_CONF.format(
        user="user root;" if os.geteuid() == 0 else "",
        prefix=prefix,
        port=port,
        gate_port=gate_port,
        host=APP_HOST,
    )
    (prefix / "nginx.conf").write_text(conf)
    command = [NGINX, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-e", "stderr"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for(port, process)
        yield port
    finally:
        process.terminate()
        process.wait(10)


def _wait_for(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("nginx did not start") from None
            time.sleep(0.05)


def _measured(
    name: str, load: Callable[[ServerProcess], WrkReport], server: ServerProcess
) -> tuple[WrkReport, float]:
    """The wrk report and the server's CPU time per request (µs), which the machine's other
    work skews much less than the rate."""
    cpu = server.cpu_seconds()
    report = load(server)
    if report.non_2xx_3xx or report.socket_errors:
        errors = f"{report.non_2xx_3xx} non-2xx, {report.socket_errors} socket errors"
        raise RuntimeError(f"{name}: {errors}")
    return report, (server.cpu_seconds() - cpu) / max(report.requests, 1) * 1e6


def _compare(
    name: str,
    target: float,
    load: Callable[[ServerProcess], WrkReport],
    gate: ServerProcess,
    bare: ServerProcess,
) -> Result:
    before, before_cpu = _measured(name, load, bare)
    measured, cpu = _measured(name, load, gate)
    after, after_cpu = _measured(name, load, bare)
    baseline = (before.requests_per_s + after.requests_per_s) / 2
    bare_cpu = (before_cpu + after_cpu) / 2
    return Result(
        benchmark=name,
        figure=measured.requests_per_s,
        baseline=baseline,
        baseline_name=(
            f"bare endpoint, p99 {max(before.p99_ms, after.p99_ms):.1f} ms, "
            f"{bare_cpu:.0f} µs CPU/req"
        ),
        target=f"≥ {target}",
        detail=f"{CONNECTIONS} connections, p99 {measured.p99_ms:.1f} ms, {cpu:.0f} µs CPU/req",
    )


@benchmark(NAME)
def gate_verify(options: Options) -> list[Result]:
    with tempfile.TemporaryDirectory(prefix="bench-gate-") as tmp:
        env, token = _prepare(Path(tmp) / "data")
        headers = {
            "cookie": f"{SESSION_COOKIE}={token}",
            "x-original-url": f"http://{APP_HOST}/page",
            "x-original-method": "GET",
        }
        script = write_wrk_script(Path(tmp) / "verify.lua", method="GET", headers=headers)
        with (
            ServerProcess("bench.apps:quivive_app", env=env, ready_path="/healthz") as gate,
            ServerProcess("bench.bench_gate:bare_verify_app", ready_path="/api/verify") as bare,
        ):

            def direct(server: ServerProcess) -> WrkReport:
                url = f"{server.url}/api/verify"
                return run_wrk(
                    url, connections=CONNECTIONS, duration=options.duration, script=script
                )

            results = [_compare(f"{NAME} direct", TARGET_DIRECT, direct, gate, bare)]
            if not Path(NGINX).exists():
                return results
            with (
                _nginx(Path(tmp) / "nginx-gate", gate.port) as gate_port,
                _nginx(Path(tmp) / "nginx-bare", bare.port) as bare_port,
            ):
                ports = {gate.port: gate_port, bare.port: bare_port}
                host_script = write_wrk_script(
                    Path(tmp) / "host.lua",
                    method="GET",
                    headers={"cookie": headers["cookie"], "Host": APP_HOST},
                )

                def via_nginx(server: ServerProcess) -> WrkReport:
                    url = f"http://{HOST}:{ports[server.port]}/page"
                    return run_wrk(
                        url, connections=CONNECTIONS, duration=options.duration, script=host_script
                    )

                results.append(_compare(f"{NAME} via nginx", TARGET_NGINX, via_nginx, gate, bare))
        return results
