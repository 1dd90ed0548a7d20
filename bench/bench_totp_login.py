"""Full password + TOTP sign-ins per second, as a ratio to password-only sign-ins in the same run.

A password-only sign-in is POST /login (one Argon2id verify, a session row, a 303). A password +
TOTP sign-in is that, then POST /login/second-factor/totp with the current code: policy and
enrolment look-ups, an AES-GCM decrypt, one HMAC-SHA1 per accepted step, the compare-and-set on
the last used step, the session rotated to AAL2, two audit records. Argon2 dominates both, so the
second factor should cost little: the target is a ratio of at least 0.95.

Both loads run against the same server process, with the same client (``CONNECTIONS`` threads
keeping their HTTP connections open, through ``lean_http``: the client shares the server's two
cores, and a TOTP sign-in is two requests to a password sign-in's one, so the client's own cost
per request lowers the ratio it reports), alternately: ``ROUNDS`` TOTP loads, each between two
password-only ones, the baseline weighted by the time each brackets (``bracketed_mean``), so that
the machine's speed drifting during the run (up to 10 % here) biases the ratio neither way.
Every sign-in comes from a browser its user signed in from before (the device cookie of a known
device, stored in the set-up), as in the password benchmark: a browser never seen before (a
record, an audit event, an e-mail) is the exception, and counting it on both sides would flatter
the ratio. Each TOTP code is accepted once per user and time step (the replay guard), so there
are enough TOTP users that none is needed twice within a step; a code refused as a replay would
count as a failed sign-in, not a fast one.
"""

from __future__ import annotations

import os
import secrets
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

from bench.harness import (
    CSRF_INPUT,
    HOST,
    Options,
    Result,
    ServerProcess,
    benchmark,
    bracketed_mean,
    figures,
)
from bench.lean_http import LeanConnection, cookie_header
from quivive.composition import Services, build_services
from quivive.config import load_settings
from quivive.protocols import totp
from quivive.services.accounts import NewAccount
from quivive.services.devices import DEVICE_ID_BYTES, MAX_DEVICES_PER_USER, device_hash
from quivive.storage.database import upgrade
from quivive.storage.known_devices import KnownDeviceRepository
from quivive.web.devices import DEVICE_COOKIE
from quivive.web.state import SESSION_COOKIE

NAME = "totp-login"
TARGET_RATIO = 0.95
ROUNDS = 3  # TOTP loads, each between two password-only loads
PASSWORD_USERS = 64
# Sign-ins per second stay under 100 on this machine's 2 cores (Argon2id): 100 x 30 s of users.
TOTP_USERS = 3000


@dataclass(frozen=True)
class Setup:
    env: dict[str, str]
    password: str
    password_users: tuple[str, ...]
    totp_users: tuple[tuple[str, str], ...]  # (username, base32 secret)
    devices: dict[str, str]  # username -> the device id its browser's cookie holds


@benchmark(NAME)
def totp_login(options: Options) -> list[Result]:
    with tempfile.TemporaryDirectory(prefix="quivive-bench-") as data_dir:
        setup = _prepare(Path(data_dir))
        server = ServerProcess("bench.apps:quivive_app", env=setup.env, ready_path="/login")
        one_round = replace(options, duration=options.duration / ROUNDS)
        # One hand-out across the rounds: a user signed in by one round within the same time
        # step would have their code refused as a replay by the next.
        users = _Users(setup.totp_users)
        with server:
            password_only = [_run(server, setup, one_round, None)]
            rounds: list[Outcome] = []
            for _ in range(ROUNDS):
                rounds.append(_run(server, setup, one_round, users))
                password_only.append(_run(server, setup, one_round, None))
    with_totp = Outcome.combined(rounds)
    rates = figures((outcome.rate for outcome in password_only), ",.1f")
    cpu = figures((outcome.cpu_ms for outcome in password_only), ".1f")
    return [
        Result(
            benchmark=NAME,
            figure=with_totp.rate,
            unit="logins/s",
            baseline=bracketed_mean(outcome.rate for outcome in password_only),
            baseline_name=f"password-only ({rates} in turn)",
            target=f"≥ {TARGET_RATIO:.2f}",
            detail=_detail(with_totp, options),
        ),
        Result(
            benchmark=f"{NAME}: CPU-bound",
            figure=with_totp.cpu_bound_rate,
            unit="logins/CPU-s",
            baseline=bracketed_mean(outcome.cpu_bound_rate for outcome in password_only),
            baseline_name=f"password-only ({cpu} ms CPU each)",
            target=f"≥ {TARGET_RATIO:.2f}",
            detail=f"{with_totp.cpu_ms:.1f} ms server CPU per password + TOTP sign-in",
        ),
    ]


def _detail(outcome: Outcome, options: Options) -> str:
    # Refusals are 429s from the per-address throttle when parallel attempts collide on its
    # counter: they hit both kinds of sign-in alike and are not counted as sign-ins.
    return f"{outcome.ok} ok, {outcome.failed} refused, {options.connections} connections"


def _prepare(data_dir: Path) -> Setup:
    env = {
        "QUIVIVE_DATA_DIR": str(data_dir),
        "QUIVIVE_CONFIG": "",
        # Every sign-in comes from 127.0.0.1: room on the per-address counter, so that this
        # measures the second factor's cost, not the address throttle.
        "QUIVIVE_THROTTLE_ADDRESS_FREE_ATTEMPTS": "10000",
    }
    settings = load_settings(env={**os.environ, **env})
    password = secrets.token_urlsafe(18)
    services = build_services(settings)
    now = services.clock.now()
    try:
        upgrade(services.engine)
        new = services.accounts.validate_new(NewAccount("bench.plain000", password))
        plain = tuple(f"bench.plain{n:03d}" for n in range(PASSWORD_USERS))
        known = KnownDeviceRepository(services.engine)
        devices = {}
        for username in plain:
            user = services.accounts.add_validated(replace(new, username=username), actor="bench")
            devices[username] = _known_device(known, user.id, now)
        enrolled = []
        for n in range(TOTP_USERS):
            # Straight to the repository: an audited account creation per user is set-up time.
            user = services.users.add(replace(new, username=f"bench.totp{n:05d}"), now=now)
            enrolled.append((user.username, enrol_totp(services, user.id, user.username)))
            devices[user.username] = _known_device(known, user.id, now)
    finally:
        services.close()
    return Setup(env, password, plain, tuple(enrolled), devices)


def _known_device(known: KnownDeviceRepository, user_id: int, now: datetime) -> str:
    """A device the user signed in from on an earlier day: its id, for the browser's cookie."""
    device_id = secrets.token_urlsafe(DEVICE_ID_BYTES)
    known.add(user_id, device_hash(user_id, device_id), now, keep=MAX_DEVICES_PER_USER)
    return device_id


def enrol_totp(services: Services, user_id: int, username: str) -> str:
    """A confirmed authenticator; retried once if a time step ended between code and check."""
    for _ in range(2):
        pending = services.totp.begin(user_id, username)
        # The previous step's code: the current step stays unused, free for the first sign-in.
        code = totp.code_at(pending.secret, totp.step_at(services.clock.now()) - 1)
        if services.totp.confirm(user_id, code, "bench") is not None:
            return pending.secret
    raise RuntimeError("bench TOTP enrolment refused")


@dataclass
class Outcome:
    rate: float
    ok: int
    failed: int
    cpu_ms: float  # the server's CPU time per successful sign-in

    @classmethod
    def combined(cls, rounds: Sequence[Outcome]) -> Outcome:
        """Rounds of equal length as one: the mean rate, the counts, the CPU per sign-in."""
        ok = sum(outcome.ok for outcome in rounds)
        cpu_ms = sum(outcome.cpu_ms * outcome.ok for outcome in rounds)
        return cls(
            rate=sum(outcome.rate for outcome in rounds) / len(rounds),
            ok=ok,
            failed=sum(outcome.failed for outcome in rounds),
            cpu_ms=cpu_ms / ok if ok else 0.0,
        )

    @property
    def cpu_bound_rate(self) -> float:
        """Sign-ins per CPU-second: what a quiet core would deliver (other load skews it less)."""
        return 1000 / self.cpu_ms if self.cpu_ms else 0.0


class _Users:
    """Hands out TOTP users so that no user signs in twice within one time step."""

    def __init__(self, users: tuple[tuple[str, str], ...]) -> None:
        self._users = users
        self._next = 0
        self._lock = threading.Lock()

    def take(self) -> tuple[str, str]:
        with self._lock:
            user = self._users[self._next % len(self._users)]
            self._next += 1
            return user


def _run(server: ServerProcess, setup: Setup, options: Options, users: _Users | None) -> Outcome:
    """Sign-ins for ``options.duration``: password + TOTP, the users handed out by ``users``, or
    password-only (``users`` None)."""
    deadline = time.monotonic() + options.duration
    counts = {"ok": 0, "failed": 0}
    lock = threading.Lock()

    def worker(index: int) -> None:
        client = _Client(server.port)
        plain = setup.password_users[index % len(setup.password_users)]
        ok = failed = 0
        while time.monotonic() < deadline:
            if users is not None:
                username, secret = users.take()
                success = client.sign_in(username, setup.password, secret, setup.devices[username])
            else:
                success = client.sign_in(plain, setup.password, None, setup.devices[plain])
            ok, failed = (ok + 1, failed) if success else (ok, failed + 1)
        client.close()
        with lock:
            counts["ok"] += ok
            counts["failed"] += failed

    started, cpu_before = time.monotonic(), server.cpu_seconds()
    _in_threads(worker, options.connections)
    elapsed, cpu = time.monotonic() - started, server.cpu_seconds() - cpu_before
    ok = counts["ok"]
    return Outcome(ok / elapsed, ok, counts["failed"], 1000 * cpu / max(ok, 1))


def _in_threads(worker: Callable[[int], None], count: int) -> None:
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


class _Client:
    """One browser: a keep-alive connection (``LeanConnection``), its CSRF cookie and token."""

    def __init__(self, port: int) -> None:
        self._connection = LeanConnection(HOST, port)
        page = self._connection.get("/login")
        token = CSRF_INPUT.search(page.body.decode())
        if page.status != 200 or token is None:
            raise RuntimeError(f"GET /login answered {page.status}")
        self._csrf_cookie = cookie_header(page.set_cookies)
        self._token = token[1]

    def sign_in(self, username: str, password: str, secret: str | None, device: str) -> bool:
        form = {"csrf_token": self._token, "username": username, "password": password}
        browser = f"{self._csrf_cookie}; {DEVICE_COOKIE}={device}"
        answer = self._connection.post_form("/login", urlencode(form), browser)
        session = answer.set_cookies.get(SESSION_COOKIE)
        if answer.status != 303 or session is None:
            return False
        if secret is None:
            return answer.headers.get("location") == "/account"
        code = totp.code_at(secret, totp.step_at(datetime.now(UTC)))
        form = {"csrf_token": self._token, "code": code, "next": "/account"}
        cookie = f"{browser}; {SESSION_COOKIE}={session}"
        answer = self._connection.post_form("/login/second-factor/totp", urlencode(form), cookie)
        return answer.status == 303 and answer.headers.get("location") == "/account"

    def close(self) -> None:
        self._connection.close()
