"""Password logins per second through the real app, against bare Argon2id verification.

A login is the full POST /login: form parsing, CSRF check, throttle, user lookup, one Argon2id
verify (at most ``password.verify_workers`` at once, in the hasher's pool, where the whole sign-in
runs), the session row and audit record written to SQLite, and a 303. Argon2 is meant to
dominate, so the login rate is compared with its ceiling: a bare Starlette endpoint in the same
kind of uvicorn process, verifying the same stored hash (hence the same parameters) in a pool of
the same size, under the same wrk load with the same requests. The logins run in ``ROUNDS``
loads, each between two loads of that endpoint, and each baseline is weighted by the time it
brackets (the first and last count half): the machine's speed drifts by up to 10 % within a run
here, which a single before-and-after pair turned into ±0.08 on the ratio. Each round's own ratio
is in the report too. The rate of N threads verifying in this process, without HTTP,
is reported for reference, and each server's CPU time per request, which other work on the
machine skews much less than rates.

Each connection signs in as its own user, all from one address (as behind a terminal server or a
NAT): many people signing in, not one account hammered. Each user signed in once before the load,
and every request carries the device cookie that sign-in set, as a returning browser does: a
sign-in from a browser never seen before (an audit record and an e-mail) is the exception.
Throttling must never slow a correct password: a refused login shows up as non-2xx/3xx
responses in the report, and only the other answers count as logins.
"""

import http.client
import os
import secrets
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from http.cookies import SimpleCookie
from itertools import pairwise
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import argon2
from sqlalchemy import func, select

from bench.harness import (
    CSRF_INPUT,
    HOST,
    Options,
    Result,
    ServerProcess,
    WrkReport,
    benchmark,
    bracketed_mean,
    figures,
    lua_string,
    run_wrk,
)
from quivive.composition import build_services
from quivive.config import Settings, load_settings
from quivive.services.accounts import NewAccount
from quivive.storage.database import create_database_engine, upgrade
from quivive.storage.tables import sessions
from quivive.web.devices import DEVICE_COOKIE
from quivive.web.state import SESSION_COOKIE

NAME = "password-login"
TARGET_RATIO = 0.9
ROUNDS = 3  # login loads, each between two loads of the Argon2id endpoint
# One user per connection, so that no account has two sign-ins in flight; beyond this many
# connections, users are shared.
MAX_USERS = 64

CsrfPair = tuple[str, str]  # the Cookie header and the form token that goes with it


@dataclass(frozen=True)
class Setup:
    """A fresh data dir with its users, and what the server processes need to know about it."""

    data_dir: Path
    env: dict[str, str]
    settings: Settings
    usernames: tuple[str, ...]
    password: str
    password_hash: str

    @property
    def workers(self) -> int:
        return self.settings.password.verify_workers


@dataclass(frozen=True)
class Load:
    """One wrk run against one server, and the CPU time the server spent on it."""

    report: WrkReport
    cpu_s: float

    @property
    def successes(self) -> int:
        return self.report.requests - self.report.non_2xx_3xx

    @property
    def cpu_ms_per_request(self) -> float:
        return 1000 * self.cpu_s / max(self.report.requests, 1)

    @property
    def cpu_ms_per_success(self) -> float:
        """CPU per login delivered: refused requests, however cheap, are paid for by the others."""
        return 1000 * self.cpu_s / self.successes if self.successes else float("inf")


@benchmark(NAME)
def password_login(options: Options) -> list[Result]:
    with tempfile.TemporaryDirectory(prefix="quivive-bench-") as data_dir:
        setup = _prepare(Path(data_dir), users=min(options.connections, MAX_USERS))
        raw_rate = _raw_verify_rate(setup, options.duration)
        with _verify_server(setup) as verify_server, _login_server(setup) as login_server:
            csrf = _check_one_login(setup, login_server)
            devices = _returning_browsers(setup, login_server, csrf)
            verify_script = _login_script(setup, _unchecked_csrf_pair(), devices, "verify.lua")
            login_script = _login_script(setup, csrf, devices, "login.lua")
            one_round = replace(options, duration=options.duration / ROUNDS)
            verify = [_load(verify_server, verify_script, one_round)]
            logins: list[Load] = []
            for _ in range(ROUNDS):
                sessions_before = _count_sessions(setup)
                login = _load(login_server, login_script, one_round)
                _check_sessions(login.report, _count_sessions(setup) - sessions_before)
                logins.append(login)
                verify.append(_load(verify_server, verify_script, one_round))
    return [
        _login_result(setup, logins, verify),
        _cpu_bound_result(setup, logins, verify),
        _verify_result(setup, verify, raw_rate),
    ]


# --- the report -----------------------------------------------------------------------------------


def _login_result(setup: Setup, logins: Sequence[Load], verify: Sequence[Load]) -> Result:
    rates = [_logins_per_s(load.report) for load in logins]
    bracketing = pairwise(verify)
    per_round = [rate / _mean_rate(pair) for rate, pair in zip(rates, bracketing, strict=True)]
    return Result(
        benchmark=NAME,
        figure=sum(rates) / len(rates),
        baseline=bracketed_mean(load.report.requests_per_s for load in verify),
        baseline_name=f"Argon2id endpoint, {setup.workers} verify threads",
        target=f"≥ {TARGET_RATIO:.2f}",
        detail=f"rounds {figures(per_round, '.2f')}; {_detail(logins)}",
    )


def _cpu_bound_result(setup: Setup, logins: Sequence[Load], verify: Sequence[Load]) -> Result:
    """The rates each server would reach with ``workers`` cores to itself, from its CPU per request.

    With as many verify threads as cores the load is CPU-bound, so this is the ratio a quiet
    machine would show; unlike the rates, it barely moves when other work shares the machine.
    """
    successes = sum(load.successes for load in logins)
    login_cpu_ms = 1000 * sum(load.cpu_s for load in logins) / successes if successes else 0.0
    return Result(
        benchmark=f"{NAME}: CPU-bound",
        figure=_cpu_bound_rate(setup, login_cpu_ms),
        baseline=_cpu_bound_rate(setup, bracketed_mean(load.cpu_ms_per_success for load in verify)),
        baseline_name="Argon2id endpoint",
        target=f"≥ {TARGET_RATIO:.2f}",
        detail=f"{setup.workers} threads x 1 s / CPU per successful answer",
    )


def _cpu_bound_rate(setup: Setup, cpu_ms_per_success: float) -> float:
    return setup.workers * 1000 / cpu_ms_per_success if cpu_ms_per_success else 0.0


def _verify_result(setup: Setup, verify: Sequence[Load], raw_rate: float) -> Result:
    rates = [load.report.requests_per_s for load in verify]
    return Result(
        benchmark=f"{NAME}: Argon2id endpoint",
        figure=bracketed_mean(rates),
        baseline=raw_rate,
        baseline_name=f"raw verify, {setup.workers} threads in-process",
        detail=f"{figures(rates, ',.0f')} req/s in turn; {_detail(verify)}",
    )


def _logins_per_s(report: WrkReport) -> float:
    # Only successful logins count: a throttled or refused request is not a login, however fast.
    if report.requests == 0:
        return 0.0
    return report.requests_per_s * (report.requests - report.non_2xx_3xx) / report.requests


def _mean_rate(loads: Iterable[Load]) -> float:
    rates = [load.report.requests_per_s for load in loads]
    return sum(rates) / len(rates)


def _detail(loads: Sequence[Load]) -> str:
    reports = [load.report for load in loads]
    requests = sum(report.requests for report in reports)
    cpu_ms = 1000 * sum(load.cpu_s for load in loads) / max(requests, 1)
    refused = sum(report.non_2xx_3xx for report in reports)
    detail = (
        f"p50 {figures([report.p50_ms for report in reports], '.0f')} ms, "
        f"p99 {figures([report.p99_ms for report in reports], '.0f')} ms, "
        f"{cpu_ms:.1f} ms CPU/req, {refused} non-2xx/3xx"
    )
    socket_errors = sum(report.socket_errors for report in reports)
    if socket_errors:
        detail += f", {socket_errors} socket errors"
    return detail


def _check_sessions(report: WrkReport, written: int) -> None:
    # A 3xx without a session is not a login: the figure would measure something else.
    if written < report.requests - report.non_2xx_3xx:
        raise RuntimeError(f"{written} sessions written for {report.requests} answers: {report}")


# --- set-up ---------------------------------------------------------------------------------------


def _prepare(data_dir: Path, *, users: int) -> Setup:
    """Create the database and the users through the service layer, before any server starts."""
    env = {"QUIVIVE_DATA_DIR": str(data_dir), "QUIVIVE_CONFIG": ""}
    settings = load_settings(env={**os.environ, **env})  # what the server process will read
    usernames = tuple(f"bench.user{n:03d}" for n in range(users))
    password = secrets.token_urlsafe(18)
    services = build_services(settings)
    try:
        upgrade(services.engine)
        # One hash for all: each user still costs one full verify per sign-in, and set-up does
        # not pay an Argon2 hash per user.
        new = services.accounts.validate_new(NewAccount(username=usernames[0], password=password))
        for username in usernames:
            services.accounts.add_validated(replace(new, username=username), actor="bench")
    finally:
        services.close()
    if new.password_hash is None:
        raise RuntimeError("the bench users were created without a password hash")
    return Setup(data_dir, env, settings, usernames, password, new.password_hash)


def _verify_server(setup: Setup) -> ServerProcess:
    env = {
        "BENCH_ARGON2_HASH": setup.password_hash,
        "BENCH_ARGON2_PASSWORD": setup.password,
        "BENCH_VERIFY_WORKERS": str(setup.workers),
    }
    return ServerProcess("bench.baseline_apps:argon2_verify_app", env=env)


def _login_server(setup: Setup) -> ServerProcess:
    return ServerProcess("bench.apps:quivive_app", env=setup.env, ready_path="/login")


# --- the measurements -----------------------------------------------------------------------------


def _raw_verify_rate(setup: Setup, duration: float) -> float:
    """Verifies per second by ``workers`` threads in this process, for ``duration`` seconds."""
    hasher = argon2.PasswordHasher()
    deadline = time.monotonic() + duration
    counts: list[int] = []
    lock = threading.Lock()

    def verify_until_deadline() -> None:
        count = 0
        while time.monotonic() < deadline:
            hasher.verify(setup.password_hash, setup.password)
            count += 1
        with lock:
            counts.append(count)

    started = time.monotonic()
    with ThreadPoolExecutor(setup.workers) as pool:
        for _ in range(setup.workers):
            pool.submit(verify_until_deadline)
    return sum(counts) / (time.monotonic() - started)


def _load(server: ServerProcess, script: Path, options: Options) -> Load:
    cpu_before = server.cpu_seconds()
    report = run_wrk(
        server.url + "/login",
        script=script,
        connections=options.connections,
        duration=options.duration,
    )
    return Load(report, server.cpu_seconds() - cpu_before)


def _count_sessions(setup: Setup) -> int:
    engine = create_database_engine(setup.settings.database_url)
    try:
        with engine.connect() as connection:
            return connection.execute(select(func.count()).select_from(sessions)).scalar_one()
    finally:
        engine.dispose()


# --- the login request ----------------------------------------------------------------------------


def _login_script(setup: Setup, csrf: CsrfPair, devices: Mapping[str, str], name: str) -> Path:
    """A wrk script posting the login form with this CSRF pair, user after user.

    A token is stable for its cookie, so one pair, fetched once, serves every request; each user's
    request also carries that user's device cookie (``devices``: username -> ``name=value``).
    """
    cookie, token = csrf
    bodies = [_form_body(setup, username, token) for username in setup.usernames]
    cookies = [f"{cookie}; {devices[username]}" for username in setup.usernames]
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "Origin": _origin(setup.settings.public_url),
        "User-Agent": "wrk (quivive bench)",
    }
    return _write_rotating_script(setup.data_dir / name, headers, bodies, cookies)


def _write_rotating_script(
    path: Path, headers: Mapping[str, str], bodies: Sequence[str], cookies: Sequence[str]
) -> Path:
    """A wrk script POSTing the bodies in turn, each with its Cookie header and these headers."""
    lines = ['wrk.method = "POST"']
    lines += [f"wrk.headers[{lua_string(k)}] = {lua_string(v)}" for k, v in headers.items()]
    lines.append("local bodies = {" + ", ".join(lua_string(body) for body in bodies) + "}")
    lines.append("local cookies = {" + ", ".join(lua_string(c) for c in cookies) + "}")
    lines += [
        "local n = 0",
        "request = function()",
        "  n = n % #bodies + 1",
        '  wrk.headers["Cookie"] = cookies[n]',
        "  return wrk.format(nil, nil, nil, bodies[n])",
        "end",
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def _form_body(setup: Setup, username: str, token: str) -> str:
    return urlencode(
        {"csrf_token": token, "username": username, "password": setup.password, "next": "/account"}
    )


def _origin(public_url: str) -> str:
    parts = urlsplit(public_url)
    return f"{parts.scheme}://{parts.netloc}"


def _unchecked_csrf_pair() -> CsrfPair:
    # For the verify endpoint, which ignores it: it keeps the requests those of a real login.
    return f"quivive_csrf={secrets.token_urlsafe(32)}", secrets.token_hex(32)


def _csrf_pair(server: ServerProcess) -> CsrfPair:
    """The ``Cookie`` header and form token a browser holds after GET /login."""
    connection = http.client.HTTPConnection(HOST, server.port, timeout=10)
    try:
        connection.request("GET", "/login")
        response = connection.getresponse()
        page = response.read().decode()
        jar: SimpleCookie = SimpleCookie()
        for header in response.headers.get_all("set-cookie") or []:
            jar.load(header)
    finally:
        connection.close()
    token = CSRF_INPUT.search(page)
    if response.status != 200 or token is None or not jar:
        raise RuntimeError(f"GET /login gave no CSRF cookie and token ({response.status})")
    return "; ".join(f"{name}={morsel.value}" for name, morsel in jar.items()), token[1]


def _returning_browsers(setup: Setup, server: ServerProcess, csrf: CsrfPair) -> dict[str, str]:
    """Sign each user in once, as on an earlier day; return username -> device ``name=value``.

    The load then signs in from browsers the server knows, which is the common case; the sessions
    these sign-ins start are not counted (they happen before the count is taken).
    """
    devices = {}
    for username in setup.usernames:
        status, set_cookies = _post_login(setup, server, username, csrf)
        jar: SimpleCookie = SimpleCookie()
        for header in set_cookies:
            jar.load(header)
        if status != 303 or DEVICE_COOKIE not in jar:
            raise RuntimeError(f"a first sign-in of {username} set no device cookie ({status})")
        devices[username] = f"{DEVICE_COOKIE}={jar[DEVICE_COOKIE].value}"
    return devices


def _post_login(
    setup: Setup, server: ServerProcess, username: str, csrf: CsrfPair
) -> tuple[int, list[str]]:
    """POST /login for ``username`` from a browser holding only ``csrf``; status and Set-Cookie."""
    cookie, token = csrf
    connection = http.client.HTTPConnection(HOST, server.port, timeout=10)
    try:
        connection.request(
            "POST",
            "/login",
            body=_form_body(setup, username, token),
            headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie},
        )
        response = connection.getresponse()
        response.read()
    finally:
        connection.close()
    return response.status, response.headers.get_all("set-cookie") or []


def _check_one_login(setup: Setup, server: ServerProcess) -> CsrfPair:
    """Fail early, with the reason, when the set-up cannot log in at all; return the CSRF pair."""
    csrf = _csrf_pair(server)
    status, set_cookies = _post_login(setup, server, setup.usernames[0], csrf)
    # Where the 303 leads depends on the MFA policy; the session cookie is what makes it a login.
    if status != 303 or f"{SESSION_COOKIE}=" not in " ".join(set_cookies):
        raise RuntimeError(f"a correct login answered {status}:\n{server.log()}")
    return csrf
