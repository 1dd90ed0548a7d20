"""A small establishment for the posture report tests, seeded through the real services.

``chained_services`` builds Quivive with the real hash-chained audit sink (``running_services``
records events in memory instead), so the throttle events land in ``audit_records`` where the
report counts them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert

from quivive.clock import FrozenClock
from quivive.composition import Services, build_services
from quivive.domain.mfa_policy import MfaRule
from quivive.domain.users import User
from quivive.errors import QuiviveError
from quivive.protocols import totp
from quivive.services.accounts import NewAccount
from quivive.services.mfa import Origin
from quivive.storage.database import upgrade
from quivive.storage.tables import emergency_accesses
from support.quivive import make_settings, postgres_schema, postgres_url
from support.soft_authenticator import SoftAuthenticator

PASSWORD = "correct horse battery staple 42"
WEAK_PASSWORD = "password1234"  # on the shipped blocklist; set as a hash, as an old import would
# After the RIE date, so "password alone" is no longer compliant.
SEEDED_AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
GOOGLE_PASSWORD_MANAGER = bytes.fromhex("ea9b8d664d011d213ce4b6b48cb575d4")
ORIGIN = Origin(source_address="192.0.2.7", user_agent="test", request_id="req-posture")


@contextmanager
def chained_services(data_dir: Path, backend: str, clock: FrozenClock) -> Iterator[Services]:
    """Services with the real audit chain, on a migrated database of ``backend``."""
    if backend == "sqlite":
        with _built(data_dir, clock, None, {}) as services:
            yield services
        return
    with (
        postgres_schema() as schema,
        _built(data_dir, clock, schema, {"database_url": postgres_url()}) as services,
    ):
        yield services


@contextmanager
def _built(
    data_dir: Path, clock: FrozenClock, schema: str | None, overrides: dict[str, str]
) -> Iterator[Services]:
    services = build_services(make_settings(data_dir, **overrides), clock=clock, schema=schema)
    try:
        upgrade(services.engine)
        yield services
    finally:
        services.close()


@dataclass(frozen=True, slots=True)
class Establishment:
    users: dict[str, User]


def add(services: Services, username: str, *roles: str) -> User:
    return services.accounts.create(NewAccount(username, PASSWORD, roles=roles), actor="test")


def enrol_totp(services: Services, user: User, clock: FrozenClock) -> None:
    pending = services.totp.begin(user.id, user.username)
    code = totp.code_at(pending.secret, totp.step_at(clock.now()))
    if services.totp.confirm(user.id, code, "Phone") is None:
        raise AssertionError("TOTP enrolment failed")


def add_passkey(services: Services, user: User, *, synced: bool, aaguid: bytes = bytes(16)) -> None:
    key = SoftAuthenticator(
        origin=services.settings.public_url,
        rp_id=services.settings.public_host,
        backup_eligible=synced,
        backup_state=synced,
        aaguid=aaguid,
    )
    ceremony = services.passkeys.begin_registration(user)
    response = key.register(ceremony.options)
    services.passkeys.finish_registration(user, ceremony.token, response, "Key", ORIGIN)


def sign_in(services: Services, username: str, password: str = PASSWORD) -> None:
    asyncio.run(
        services.authenticator.authenticate(username, password, source_address="198.51.100.4")
    )


def fail_sign_in(services: Services, username: str, address: str = "203.0.113.9") -> None:
    with suppress(QuiviveError):
        asyncio.run(
            services.authenticator.authenticate(
                username, "wrong password entirely", source_address=address
            )
        )


def add_emergency(services: Services, user: User, started: datetime, status: str) -> None:
    """A row as the emergency-access service writes it, at any date (its requests happen now)."""
    row = {
        "user_id": user.id,
        "started_at": started,
        "expires_at": started + timedelta(hours=2),
        "reason": "patient_care",
        "justification": "Urgence vitale, téléphone oublié",
        "review_status": status,
    }
    with services.engine.begin() as conn:
        conn.execute(insert(emergency_accesses).values(**row))


def seed(services: Services, clock: FrozenClock) -> Establishment:
    """Users created 100 days before SEEDED_AT, then a morning of activity at SEEDED_AT.

    - root (admin): device-bound security key; root2 (admin): TOTP only, no passkey
    - nina (nurse): password only, nurse rule passed; noah (nurse): TOTP
    - dora (doctor): password only, doctor rule still in grace; dan (doctor): synced passkey
    - sam (secretary): password only, no rule, never signs in again: dormant
    - weak (nurse, TOTP): signs in with a blocklisted password
    """
    clock.set(SEEDED_AT - timedelta(days=100))
    users = {
        name: add(services, name, role)
        for name, role in [
            ("root", "admin"),
            ("root2", "admin"),
            ("nina", "nurse"),
            ("noah", "nurse"),
            ("dora", "doctor"),
            ("dan", "doctor"),
            ("sam", "secretary"),
            ("weak", "nurse"),
        ]
    }
    add_passkey(services, users["root"], synced=False)
    add_passkey(services, users["dan"], synced=True, aaguid=GOOGLE_PASSWORD_MANAGER)
    for name in ("root2", "noah", "weak"):
        enrol_totp(services, users[name], clock)
    services.mfa_policy.set_rule(MfaRule("nurse", date(2026, 1, 1)), actor="test")
    services.mfa_policy.set_rule(MfaRule("doctor", date(2026, 6, 1)), actor="test")
    services.mfa_policy.set_rule(MfaRule("admin", date(2026, 1, 1)), actor="test")
    clock.set(SEEDED_AT)
    for name in ("root", "root2", "noah", "dora", "dan"):
        sign_in(services, name)
    services.users.set_password_hash(users["weak"].id, services.hasher.hash(WEAK_PASSWORD))
    sign_in(services, "weak", WEAK_PASSWORD)
    for _ in range(7):  # past the 5 free attempts: throttle.triggered
        fail_sign_in(services, "noah")
    add_emergency(services, users["noah"], SEEDED_AT - timedelta(days=10), "pending")
    add_emergency(services, users["noah"], SEEDED_AT - timedelta(days=1), "pending")
    add_emergency(services, users["dora"], SEEDED_AT - timedelta(days=3), "justified")
    add_emergency(services, users["dora"], SEEDED_AT - timedelta(days=2), "unjustified")
    return Establishment(users)
