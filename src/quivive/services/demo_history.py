"""A month of sign-ins for the demo establishment, replayed through the real services.

Each sign-in is planned first (who, when, from where, how), then all are replayed in time order
with the clock set to each moment, so the audit chain stays in order and every record, session
and counter carries the planned time.

- A successful sign-in does what the sign-in routes do after the password check: the session at
  AAL1, ``login.password``, the last-login time, then the second factor proved for real (a TOTP
  code computed for that moment, or a passkey assertion signed by the account's software key)
  and the session upgraded. Only the Argon2id verify of the right password is skipped: it would
  cost ~20 ms per sign-in and change nothing that is recorded.
- Failures, the throttled burst and the password-spraying night go through
  ``PasswordAuthenticator`` itself (real verifies, real throttle counters and attack detection).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta

import anyio

from quivive.clock import FrozenClock
from quivive.composition import Services
from quivive.domain.assurance import Verification, assess
from quivive.domain.audit import AuditEvent, Outcome
from quivive.domain.demo_establishment import DEMO_PASSWORD, DemoPerson
from quivive.domain.sessions import AssuranceLevel
from quivive.domain.throttling import LoginThrottled, PasswordAloneInsufficient
from quivive.domain.users import User
from quivive.errors import AuthenticationFailed
from quivive.protocols import totp
from quivive.protocols.soft_authenticator import SoftAuthenticator
from quivive.services.mfa import Origin

HISTORY_DAYS = 30
# A sample of a month, not every sign-in of it: enough for the console's charts and lists while
# seeding stays within a few seconds.
WORKDAY_SHARE = 0.3
SECOND_SIGN_IN_SHARE = 0.1
TYPO_SHARE = 0.04
SHIFT_STARTS = (time(6, 45), time(8, 30), time(13, 45), time(20, 45))
BROWSERS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Firefox/128.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/126.0 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64) Firefox/115.0",
)
# RFC 5737 documentation addresses stand in for the attackers.
SPRAYER = "203.0.113.45"
HAMMERER = "198.51.100.23"
SPRAYED_PASSWORD = "Valmont2026!"  # noqa: S105 - the attacker's guess, refused by every account
SPRAYED_NAMES = ("admin", "direction", "accueil", "test", "pharmacie")  # names with no account
SPRAYING_DAYS_AGO = 6
BURST_MINUTES_AGO = 25  # within throttle.forget_after: the throttle page still lists it
BURST_ATTEMPTS = 14
# Nothing in the last minutes: a TOTP step used by the history must not be the one a person
# signing in right after seeding needs (the replay guard would refuse their code).
QUIET_BEFORE_NOW = timedelta(minutes=2)


@dataclass(slots=True)
class DemoAccount:
    person: DemoPerson
    user: User
    totp_secret: str | None = None
    authenticator: SoftAuthenticator | None = None  # the passkey, for the sign-in history


@dataclass(frozen=True, slots=True)
class Planned:
    at: datetime
    run: Callable[[], None]


def replay_history(
    services: Services,
    clock: FrozenClock,
    accounts: Sequence[DemoAccount],
    rng: random.Random,
    *,
    until: datetime,
    extra: Sequence[Planned] = (),
) -> int:
    """Plan and replay the sign-ins, and ``extra`` events, up to ``until``; returns how many
    events were replayed."""
    player = _Player(services, clock)
    plan = list(extra)
    plan += _daily_sign_ins(player, accounts, rng, until)
    plan += _dormant_sign_ins(player, accounts, rng, until)
    plan += _spraying(player, accounts, rng, until)
    plan += _burst(player, accounts, rng, until)
    plan.sort(key=lambda item: item.at)
    replayed = [item for item in plan if item.at < until - QUIET_BEFORE_NOW]
    for item in replayed:
        clock.set(max(item.at, clock.now()))  # a TOTP step may have moved it on: never back
        item.run()
    return len(replayed)


def _daily_sign_ins(
    player: _Player, accounts: Sequence[DemoAccount], rng: random.Random, until: datetime
) -> list[Planned]:
    plan: list[Planned] = []
    active = [a for a in accounts if not a.person.dormant and not a.person.disabled]
    first_day = until.date() - timedelta(days=HISTORY_DAYS)
    for offset in range(HISTORY_DAYS + 1):
        day = first_day + timedelta(days=offset)
        for account in active:
            if rng.random() > WORKDAY_SHARE:
                continue
            start = datetime.combine(day, rng.choice(SHIFT_STARTS), tzinfo=until.tzinfo)
            at = start + timedelta(minutes=rng.randrange(-10, 25), seconds=rng.randrange(60))
            origin = _workstation(account, rng)
            typo = rng.random() < TYPO_SHARE
            if typo:
                plan.append(Planned(at, player.typo(account, origin)))
                at += timedelta(seconds=rng.randrange(8, 40))
            plan.append(Planned(at, player.sign_in(account, origin, after_failure=typo)))
            if rng.random() < SECOND_SIGN_IN_SHARE:
                later = at + timedelta(hours=rng.randrange(2, 7), minutes=rng.randrange(60))
                plan.append(Planned(later, player.sign_in(account, origin)))
    return plan


def _dormant_sign_ins(
    player: _Player, accounts: Sequence[DemoAccount], rng: random.Random, until: datetime
) -> list[Planned]:
    """The dormant accounts (and those disabled since) last signed in long ago."""
    plan = []
    for account in accounts:
        if account.person.dormant or account.person.disabled:
            at = until - timedelta(days=rng.randrange(100, 240), hours=rng.randrange(24))
            plan.append(Planned(at, player.sign_in(account, _workstation(account, rng))))
        if account.person.disabled:
            left = until - timedelta(days=rng.randrange(35, 80))
            plan.append(Planned(left, player.disable(account)))
    return plan


def _spraying(
    player: _Player, accounts: Sequence[DemoAccount], rng: random.Random, until: datetime
) -> list[Planned]:
    """One night, one common password against many names from one address, every 20 s."""
    night = datetime.combine(
        until.date() - timedelta(days=SPRAYING_DAYS_AGO), time(3, 12), tzinfo=until.tzinfo
    )
    names = [a.person.username for a in rng.sample(list(accounts), 12)] + list(SPRAYED_NAMES)
    rng.shuffle(names)
    origin = Origin(source_address=SPRAYER, user_agent="python-requests/2.31.0")
    return [
        Planned(
            night + timedelta(seconds=20 * index), player.attempt(name, SPRAYED_PASSWORD, origin)
        )
        for index, name in enumerate(names)
    ]


def _burst(
    player: _Player, accounts: Sequence[DemoAccount], rng: random.Random, until: datetime
) -> list[Planned]:
    """Someone hammering one account a moment ago: the throttle slows them down."""
    target = rng.choice([a for a in accounts if a.person.role == "aide-soignant"])
    start = until - timedelta(minutes=BURST_MINUTES_AGO)
    origin = Origin(source_address=HAMMERER, user_agent="curl/8.5.0")
    guesses = [f"{target.person.username.split('.')[0]}{n}" for n in range(BURST_ATTEMPTS)]
    return [
        Planned(start + timedelta(seconds=3 * n), player.attempt(target.user.username, g, origin))
        for n, g in enumerate(guesses)
    ]


def _workstation(account: DemoAccount, rng: random.Random) -> Origin:
    return Origin(
        source_address=f"10.12.{rng.randrange(1, 40)}.{rng.randrange(2, 250)}",
        user_agent=rng.choice(BROWSERS),
    )


class _Player:
    """What each planned event does, bound to the services and the clock."""

    def __init__(self, services: Services, clock: FrozenClock) -> None:
        self._services = services
        self._clock = clock

    def sign_in(
        self, account: DemoAccount, origin: Origin, *, after_failure: bool = False
    ) -> Callable[[], None]:
        return lambda: self._sign_in(account, origin, after_failure)

    def typo(self, account: DemoAccount, origin: Origin) -> Callable[[], None]:
        wrong = DEMO_PASSWORD[:-1]  # the last key missed
        return self.attempt(account.user.username, wrong, origin)

    def attempt(self, name: str, password: str, origin: Origin) -> Callable[[], None]:
        return lambda: anyio.run(self._attempt, name, password, origin)

    def disable(self, account: DemoAccount) -> Callable[[], None]:
        def run() -> None:
            self._services.accounts.disable(account.user.username, actor="demo")

        return run

    async def _attempt(self, name: str, password: str, origin: Origin) -> None:
        try:
            await self._services.authenticator.authenticate(
                name, password, source_address=origin.source_address
            )
        except (AuthenticationFailed, LoginThrottled, PasswordAloneInsufficient):
            return
        raise RuntimeError(f"the demo's wrong password opened {name}")

    def _sign_in(self, account: DemoAccount, origin: Origin, after_failure: bool) -> None:
        if account.authenticator is not None:
            self._passwordless(account, account.authenticator, origin)
            return
        services, user = self._services, account.user
        if after_failure:  # the success clears the typo's count, as a real sign-in does
            attempt = services.throttle.admit(user.username, origin.source_address)
            services.throttle.succeeded(attempt)
        token = services.sessions.start(
            user,
            amr=("pwd",),
            aal=AssuranceLevel.AAL1,
            source_address=origin.source_address,
            user_agent=origin.user_agent,
        )
        services.users.record_login(user.id, self._clock.now())
        self._record_password(user, origin)
        if account.totp_secret is not None:
            self._totp(user, account.totp_secret, token, origin)

    def _record_password(self, user: User, origin: Origin) -> None:
        self._services.audit.record(
            AuditEvent(
                action="login.password",
                outcome=Outcome.SUCCESS,
                at=self._clock.now(),
                actor=user.username,
                subject=user.username,
                source_address=origin.source_address,
                user_agent=origin.user_agent,
            )
        )

    def _totp(self, user: User, secret: str, token: str, origin: Origin) -> None:
        self._clock.advance(timedelta(seconds=31))  # a new time step: never a replayed code
        code = totp.code_at(secret, totp.step_at(self._clock.now()))
        credential = self._services.totp.verify(user.id, code)
        if credential is None:
            raise RuntimeError(f"the TOTP code of {user.username} was refused")
        verification = Verification("totp", ("otp",), credential)
        self._services.mfa.upgrade(token, user, verification, origin)

    def _passwordless(
        self, account: DemoAccount, authenticator: SoftAuthenticator, origin: Origin
    ) -> None:
        passkeys = self._services.passkeys
        ceremony = passkeys.begin_passwordless()
        signed_in = passkeys.finish_passwordless(
            ceremony.token, authenticator.assertion(ceremony.options), origin
        )
        assurance = assess(signed_in.amr)
        self._services.sessions.start(
            signed_in.user,
            amr=assurance.amr,
            aal=assurance.level,
            source_address=origin.source_address,
            user_agent=origin.user_agent,
        )
