"""Fill a fresh installation with the demo establishment (``quivive demo``).

Everything goes through the real services, so what the console, the report and the sample app
show is what a real establishment would produce: accounts through ``AccountService``, TOTP
enrolled and confirmed with a code, passkeys registered by a software authenticator through the
WebAuthn ceremony, MFA rules through the policy service, the sample app as an OIDC client, then
a month of sign-ins (``demo_history``) with two emergency accesses (``demo_emergency``). Time
is a ``FrozenClock`` moved forward step by step, so the audit chain, the sign-in lists and the
rules carry believable dates.

Two shortcuts keep seeding to a few seconds, both honest: every account gets the same demo
password, hashed once with the configured Argon2id parameters; and the sign-in history replays
successful sign-ins without recomputing that hash (see ``demo_history``).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from quivive.clock import FrozenClock
from quivive.composition import Services
from quivive.domain.demo_establishment import (
    DEFAULT_SEED,
    DEMO_PASSWORD,
    DemoFactor,
    DemoPerson,
    mfa_rules,
    roster,
)
from quivive.domain.users import NewUser, User, clean_display_name, normalise_username
from quivive.protocols import totp
from quivive.protocols.soft_authenticator import SoftAuthenticator
from quivive.services.demo_emergency import planned_emergencies
from quivive.services.demo_history import DemoAccount, replay_history
from quivive.services.mfa import Origin
from quivive.services.oidc_clients import NewClient

ACTOR = "demo"
SET_UP_DAYS_AGO = 400  # the establishment adopted Quivive a little over a year ago
APP_NAME = "Dossier patient (démo)"
APP_SCOPES = ("openid", "profile", "email", "healthcare")
OFFICE = Origin(source_address="10.12.0.10", user_agent="Mozilla/5.0 (Windows NT 10.0) Firefox")


@dataclass(frozen=True, slots=True)
class DemoClient:
    client_id: str
    client_secret: str
    redirect_uri: str


@dataclass(slots=True)
class DemoSeed:
    accounts: list[DemoAccount]
    client: DemoClient | None
    password: str = DEMO_PASSWORD

    def account(self, username: str) -> DemoAccount:
        return next(item for item in self.accounts if item.person.username == username)


def seed_demo(
    services: Services,
    clock: FrozenClock,
    *,
    app_url: str | None,
    seed: int = DEFAULT_SEED,
    history: bool = True,
) -> DemoSeed:
    """Seed ``services`` (a fresh, migrated database whose clock is ``clock``) up to its now."""
    now = clock.now()
    rng = random.Random(seed)  # noqa: S311 - reproducible fiction, not secrets
    clock.set(now - timedelta(days=SET_UP_DAYS_AGO))
    accounts = _create_accounts(services, clock, roster(seed))
    for rule in mfa_rules(now.date()):
        services.mfa_policy.set_rule(rule, actor=_admin_name(accounts))
    client = _register_app(services, app_url) if app_url else None
    _enrol_factors(services, clock, accounts)
    if history:
        emergencies = planned_emergencies(services, accounts, now)
        replay_history(services, clock, accounts, rng, until=now, extra=emergencies)
    clock.set(now)
    return DemoSeed(accounts, client)


def _admin_name(accounts: Sequence[DemoAccount]) -> str:
    return next(item.user.username for item in accounts if item.user.is_admin)


def _create_accounts(
    services: Services, clock: FrozenClock, people: Sequence[DemoPerson]
) -> list[DemoAccount]:
    password_hash = services.hasher.hash(DEMO_PASSWORD)  # one real Argon2id hash, shared
    accounts = []
    for person in people:
        clock.advance(timedelta(minutes=7))
        user = services.accounts.add_validated(_new_user(person, password_hash), actor=ACTOR)
        accounts.append(DemoAccount(person, user))
    return accounts


def _new_user(person: DemoPerson, password_hash: str) -> NewUser:
    username = normalise_username(person.username)
    return NewUser(
        username=username,
        display_name=clean_display_name(person.display_name, fallback=username),
        email=person.email,
        roles=(person.role,),
        professional_id=person.rpps,
        password_hash=password_hash,
    )


def _register_app(services: Services, app_url: str) -> DemoClient:
    redirect_uri = app_url.rstrip("/") + "/callback"
    new = NewClient(
        name=APP_NAME,
        redirect_uris=(redirect_uri,),
        post_logout_redirect_uris=(app_url.rstrip("/") + "/",),
        scopes=APP_SCOPES,
        first_party=True,  # the establishment's own app: no consent page
    )
    client, secret = services.oidc.clients.register(new, actor=ACTOR)
    if secret is None:
        raise RuntimeError("a confidential client must get a secret")
    return DemoClient(client.client_id, secret, redirect_uri)


def _enrol_factors(services: Services, clock: FrozenClock, accounts: list[DemoAccount]) -> None:
    for account in accounts:
        clock.advance(timedelta(hours=3))
        factors = account.person.factors
        if DemoFactor.TOTP in factors:
            account.totp_secret = _enrol_totp(services, clock, account.user)
        if DemoFactor.PASSKEY in factors:
            account.authenticator = _enrol_passkey(services, account.user)
        if DemoFactor.RECOVERY in factors:
            services.recovery_codes.generate(account.user.id)
            services.mfa.record_factor_change(
                "recovery_codes.generated", account.user, "recovery_code", "codes", OFFICE
            )


def _enrol_totp(services: Services, clock: FrozenClock, user: User) -> str:
    pending = services.totp.begin(user.id, user.username)
    code = totp.code_at(pending.secret, totp.step_at(clock.now()))
    credential = services.totp.confirm(user.id, code, "Téléphone")
    if credential is None:
        raise RuntimeError(f"TOTP enrolment of {user.username} refused its own code")
    services.mfa.record_factor_change("factor.added", user, "totp", credential, OFFICE)
    return pending.secret


def _enrol_passkey(services: Services, user: User) -> SoftAuthenticator:
    settings = services.settings
    origin = settings.public_url.rstrip("/")
    authenticator = SoftAuthenticator(origin=origin, rp_id=settings.public_host)
    ceremony = services.passkeys.begin_registration(user)
    response = authenticator.register(ceremony.options)
    services.passkeys.finish_registration(user, ceremony.token, response, "Clé du poste", OFFICE)
    return authenticator
