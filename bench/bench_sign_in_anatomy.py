"""Where a sign-in's CPU goes outside Argon2id, one sign-in at a time, with no load around it.

The password-login and totp-login benchmarks measure rates under load, where the machine's other
work (the load generator, the second core's Argon2 streaming 19 MiB through the shared cache)
swings their figures by several hundredths from run to run. This one asks what the code itself
costs: it drives the real app in this process, straight through ASGI on uvloop (as uvicorn runs
it, less the socket and the HTTP parsing), one request after another, and splits each sign-in's
CPU time three ways: Argon2id (the thread CPU of ``argon2.PasswordHasher.verify``, metered around
the library's own method), the event loop (this thread), and the worker threads outside Argon2
(the rest of the process).

Its ratios are ceilings: what the load benchmarks would report on a machine with nothing else to
do and no cost to sharing it. ``password`` is Argon2's share of a password sign-in (password-login
compares with a bare Argon2id endpoint, which adds a little of its own); ``totp`` is a password
sign-in's CPU over a password + TOTP sign-in's, the users signing in as totp-login's do. When a
ceiling is below a target, no tuning of threads or load reaches it: the code outside Argon2 must
shrink.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import wraps
from itertools import cycle
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import argon2
import uvloop

from bench import bench_password_login, bench_totp_login
from bench.harness import CSRF_INPUT, Options, Result, benchmark
from bench.lean_http import Reply, cookie_header, split_headers
from quivive.composition import Services, build_services
from quivive.config import load_settings
from quivive.protocols import totp
from quivive.services.accounts import NewAccount
from quivive.storage.database import upgrade
from quivive.web.app import create_app
from quivive.web.devices import DEVICE_COOKIE
from quivive.web.state import SESSION_COOKIE

NAME = "sign-in-anatomy"
PASSWORD_USERS = 64
ROUND = 10  # sign-ins of each kind in turn, so that a drift of the machine's speed hits both
WARM_UP = 20  # sign-ins of each kind before the count: first-use costs are not a sign-in's

Headers = list[tuple[bytes, bytes]]  # ASGI's


@dataclass
class Cpu:
    """CPU seconds spent by one kind of sign-in, split by where, and per sign-in."""

    sign_ins: int = 0
    argon2_s: float = 0.0
    loop_s: float = 0.0
    process_s: float = 0.0

    @property
    def total_ms(self) -> float:
        return self._per_sign_in_ms(self.process_s)

    @property
    def argon2_ms(self) -> float:
        return self._per_sign_in_ms(self.argon2_s)

    @property
    def loop_ms(self) -> float:
        return self._per_sign_in_ms(self.loop_s)

    @property
    def workers_ms(self) -> float:
        """The worker threads' CPU outside Argon2: the process's, less the loop's and Argon2's."""
        return self._per_sign_in_ms(self.process_s - self.loop_s - self.argon2_s)

    def _per_sign_in_ms(self, seconds: float) -> float:
        return 1000 * seconds / self.sign_ins if self.sign_ins else 0.0


@dataclass
class Argon2Meter:
    """Thread CPU spent inside ``argon2.PasswordHasher.verify``, in whichever thread it runs."""

    seconds: float = 0.0
    calls: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, seconds: float) -> None:
        with self._lock:
            self.seconds += seconds
            self.calls += 1


@contextmanager
def metered_argon2() -> Iterator[Argon2Meter]:
    """Meter every Argon2id verify of this process while the block runs, then put the method back.

    The library's own method is wrapped, so Quivive's hasher is measured as it runs, unchanged.
    """
    meter = Argon2Meter()
    original = argon2.PasswordHasher.verify

    @wraps(original)
    def verify(self: argon2.PasswordHasher, hash: str | bytes, password: str | bytes) -> Any:
        started = time.thread_time()
        try:
            return original(self, hash, password)
        finally:
            meter.add(time.thread_time() - started)

    argon2.PasswordHasher.verify = verify  # type: ignore[method-assign]
    try:
        yield meter
    finally:
        argon2.PasswordHasher.verify = original  # type: ignore[method-assign]


class InProcessBrowser:
    """Requests straight into the ASGI app, with one CSRF cookie and token, as a browser has."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self._app = app
        self.csrf_cookie = ""
        self.token = ""

    async def open_login_page(self) -> None:
        page = await self.request("GET", "/login")
        token = CSRF_INPUT.search(page.body.decode())
        if page.status != 200 or token is None or not page.set_cookies:
            raise RuntimeError(f"GET /login gave no CSRF cookie and token ({page.status})")
        self.csrf_cookie = cookie_header(page.set_cookies)
        self.token = token[1]

    async def post_form(self, path: str, form: dict[str, str], cookies: list[str]) -> Reply:
        headers = [
            (b"content-type", b"application/x-www-form-urlencoded"),
            (b"cookie", "; ".join([self.csrf_cookie, *cookies]).encode()),
            (b"user-agent", b"quivive bench (in process)"),
        ]
        body = urlencode({"csrf_token": self.token, **form}).encode()
        return await self.request("POST", path, body, headers)

    async def request(
        self, method: str, path: str, body: bytes = b"", headers: Headers | None = None
    ) -> Reply:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": headers or [],
            "client": ("127.0.0.1", 40000),
            "server": ("127.0.0.1", 8080),
            "state": {},
        }
        messages = [{"type": "http.request", "body": body, "more_body": False}]
        started: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def receive() -> dict[str, Any]:
            if messages:
                return messages.pop()
            await asyncio.Event().wait()  # the client never disconnects
            raise AssertionError("unreachable")

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                started.update(message)
            else:
                chunks.append(message.get("body", b""))

        await self._app(scope, receive, send)
        raw = (
            (name.decode("latin-1"), value.decode("latin-1")) for name, value in started["headers"]
        )
        answer_headers, cookies = split_headers(raw)
        return Reply(started["status"], answer_headers, cookies, b"".join(chunks))


@dataclass(frozen=True)
class Population:
    password: str
    plain: tuple[str, ...]
    with_totp: tuple[tuple[str, str], ...]  # (username, base32 secret), each signs in once


def _populate(services: Services, sign_ins: int) -> Population:
    password = secrets.token_urlsafe(18)
    new = services.accounts.validate_new(NewAccount("bench.plain000", password))
    now = services.clock.now()
    plain = tuple(f"bench.plain{n:03d}" for n in range(PASSWORD_USERS))
    for username in plain:
        services.users.add(replace(new, username=username), now=now)
    enrolled = []
    for n in range(sign_ins):
        user = services.users.add(replace(new, username=f"bench.totp{n:05d}"), now=now)
        enrolled.append(
            (user.username, bench_totp_login.enrol_totp(services, user.id, user.username))
        )
    return Population(password, plain, tuple(enrolled))


class SignIns:
    """Password and password + TOTP sign-ins from browsers each user signed in from before."""

    def __init__(self, browser: InProcessBrowser, population: Population) -> None:
        self._browser = browser
        self._population = population
        self._devices: dict[str, str] = {}  # username -> the device cookie of its browser

    async def password(self, username: str) -> Reply:
        form = {"username": username, "password": self._population.password, "next": "/account"}
        cookies = [self._devices[username]] if username in self._devices else []
        answer = await self._browser.post_form("/login", form, cookies)
        if answer.status != 303 or SESSION_COOKIE not in answer.set_cookies:
            raise RuntimeError(f"a password sign-in of {username} answered {answer.status}")
        device = answer.set_cookies.get(DEVICE_COOKIE)
        if device is not None:
            self._devices[username] = f"{DEVICE_COOKIE}={device}"
        return answer

    async def second_factor(self, username: str, secret: str, first: Reply) -> None:
        session = f"{SESSION_COOKIE}={first.set_cookies[SESSION_COOKIE]}"
        code = totp.code_at(secret, totp.step_at(datetime.now(UTC)))
        form = {"code": code, "next": "/account"}
        cookies = [self._devices[username], session]
        answer = await self._browser.post_form("/login/second-factor/totp", form, cookies)
        if answer.status != 303 or answer.headers.get("location") != "/account":
            raise RuntimeError(f"a TOTP step of {username} answered {answer.status}")

    async def known_browsers(self) -> None:
        """Each user's first sign-in, which registers its browser: not what is measured."""
        for username in self._population.plain:
            await self.password(username)
        for username, _ in self._population.with_totp:
            await self.password(username)


async def _measure(services: Services, population: Population, duration: float) -> list[Cpu]:
    """[password, password + TOTP]: CPU per kind, in rounds in turn for ``duration`` seconds."""
    browser = InProcessBrowser(create_app(services))
    await browser.open_login_page()
    sign_ins = SignIns(browser, population)
    await sign_ins.known_browsers()
    plain = cycle(population.plain)
    with_totp = iter(population.with_totp)
    kinds = [Cpu(), Cpu()]

    async def password_only() -> None:
        await sign_ins.password(next(plain))

    async def password_then_totp() -> None:
        username, secret = next(with_totp)
        await sign_ins.second_factor(username, secret, await sign_ins.password(username))

    with metered_argon2() as argon2_meter:
        for _ in range(WARM_UP):
            await password_only()
            await password_then_totp()
        deadline = time.monotonic() + duration
        for _ in range((len(population.with_totp) - WARM_UP) // ROUND):
            for kind, sign_in in zip(kinds, (password_only, password_then_totp), strict=True):
                argon2_before, loop_before = argon2_meter.seconds, time.thread_time()
                process_before = time.process_time()
                for _ in range(ROUND):
                    await sign_in()
                kind.process_s += time.process_time() - process_before
                kind.loop_s += time.thread_time() - loop_before
                kind.argon2_s += argon2_meter.seconds - argon2_before
                kind.sign_ins += ROUND
            if time.monotonic() > deadline:
                break
    return kinds


def _target(ratio: float, benchmark: str) -> str:
    return f"≥ {ratio:.2f} ({benchmark})"


def _split(loop_ms: float, workers_ms: float) -> str:
    return (
        f"{loop_ms + workers_ms:.2f} ms CPU ({loop_ms:.2f} ms event loop + "
        f"{workers_ms:.2f} ms worker threads)"
    )


@benchmark(NAME)
def sign_in_anatomy(options: Options) -> list[Result]:
    with tempfile.TemporaryDirectory(prefix="quivive-bench-") as data_dir:
        env = {**os.environ, "QUIVIVE_DATA_DIR": str(Path(data_dir)), "QUIVIVE_CONFIG": ""}
        services = build_services(load_settings(env=env))
        try:
            upgrade(services.engine)
            # Each TOTP user signs in once (no code replayed): enough of them for the duration,
            # at about 70 ms per pair of sign-ins here.
            population = _populate(services, sign_ins=WARM_UP + int(options.duration * 20))
            measured = _measure(services, population, options.duration)
            password, with_totp = uvloop.run(measured)
        finally:
            services.close()
    added = _split(with_totp.loop_ms - password.loop_ms, with_totp.workers_ms - password.workers_ms)
    return [
        Result(
            benchmark=f"{NAME}: password",
            figure=1000 / password.total_ms,
            unit="sign-ins/CPU-s",
            baseline=1000 / password.argon2_ms,
            baseline_name="Argon2id verifies/CPU-s, in the same sign-ins",
            target=_target(bench_password_login.TARGET_RATIO, bench_password_login.NAME),
            detail=(
                f"{_split(password.loop_ms, password.workers_ms)} outside Argon2id, "
                f"Argon2id {password.argon2_ms:.1f} ms; {password.sign_ins} sign-ins, one at a time"
            ),
        ),
        Result(
            benchmark=f"{NAME}: TOTP",
            figure=1000 / with_totp.total_ms,
            unit="sign-ins/CPU-s",
            baseline=1000 / password.total_ms,
            baseline_name="password sign-ins/CPU-s",
            target=_target(bench_totp_login.TARGET_RATIO, bench_totp_login.NAME),
            detail=f"the second factor adds {added}; {with_totp.sign_ins} sign-ins, one at a time",
        ),
    ]
