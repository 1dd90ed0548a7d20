from datetime import timedelta
from functools import partial

import pytest
from sqlalchemy import text

from quivive.clock import FrozenClock
from quivive.composition import Services
from quivive.domain.users import User
from quivive.protocols import totp
from quivive.services.accounts import NewAccount
from quivive.services.secret_box import key_id
from support.race import race

PASSWORD = "correct horse battery staple 42"
PARALLEL = 8


def make_user(services: Services, name: str = "alice") -> User:
    return services.accounts.create(NewAccount(name, PASSWORD), actor="test")


def enrol(services: Services, user: User, clock: FrozenClock) -> str:
    """A confirmed authenticator; returns its base32 secret."""
    pending = services.totp.begin(user.id, user.username)
    step = totp.step_at(services.clock.now())
    clock.advance(timedelta(seconds=30))
    assert services.totp.confirm(user.id, totp.code_at(pending.secret, step + 1), "Phone")
    # Two steps on, so that neither the current nor the previous step was used yet.
    clock.advance(timedelta(seconds=60))
    return pending.secret


def current_code(services: Services, secret: str) -> str:
    return totp.code_at(secret, totp.step_at(services.clock.now()))


def test_enrolment_needs_a_valid_code(services: Services) -> None:
    user = make_user(services)
    pending = services.totp.begin(user.id, user.username)

    assert services.totp.confirm(user.id, "000000", "x") is None
    assert services.totp.credentials(user.id) == []
    assert services.totp.confirm(user.id, current_code(services, pending.secret), "Phone")
    assert [c.name for c in services.totp.credentials(user.id)] == ["Phone"]


def test_a_code_is_accepted_once_sequentially(services: Services, clock: FrozenClock) -> None:
    user = make_user(services)
    secret = enrol(services, user, clock)
    code = current_code(services, secret)

    assert services.totp.verify(user.id, code) is not None
    assert services.totp.verify(user.id, code) is None


def test_a_code_is_accepted_once_in_parallel(services: Services, clock: FrozenClock) -> None:
    user = make_user(services)
    secret = enrol(services, user, clock)
    code = current_code(services, secret)
    results = race([partial(services.totp.verify, user.id, code)] * PARALLEL)

    assert len(results) == PARALLEL
    assert sum(result is not None for result in results) == 1


def test_an_older_step_is_refused_after_a_newer_one(services: Services, clock: FrozenClock) -> None:
    user = make_user(services)
    secret = enrol(services, user, clock)
    previous = totp.code_at(secret, totp.step_at(services.clock.now()) - 1)

    assert services.totp.verify(user.id, current_code(services, secret)) is not None
    assert services.totp.verify(user.id, previous) is None


def test_previous_step_accepted_but_not_two_back_or_next(
    services: Services, clock: FrozenClock
) -> None:
    user = make_user(services)
    secret = enrol(services, user, clock)
    step = totp.step_at(services.clock.now())

    assert services.totp.verify(user.id, totp.code_at(secret, step + 1)) is None
    assert services.totp.verify(user.id, totp.code_at(secret, step - 2)) is None
    assert services.totp.verify(user.id, totp.code_at(secret, step - 1)) is not None


def test_secret_is_stored_encrypted(services: Services, clock: FrozenClock) -> None:
    user = make_user(services)
    secret = enrol(services, user, clock)

    with services.engine.connect() as conn:
        stored = conn.execute(text("SELECT secret FROM totp_credentials")).scalars().all()

    assert len(totp.secret_bytes(secret)) >= 20
    assert len(stored) == 1
    assert secret not in stored[0]
    assert secret.lower() not in stored[0].lower()
    assert stored[0].startswith(f"v1.{key_id(services.settings.secrets_key_file.read_bytes())}.")


def test_rotate_secrets_reencrypts_and_codes_still_verify(
    services: Services, clock: FrozenClock
) -> None:
    user = make_user(services)
    secret = enrol(services, user, clock)
    key_file = services.settings.secrets_key_file
    old_key = key_file.read_bytes()
    with services.engine.connect() as conn:
        before = conn.execute(text("SELECT secret FROM totp_credentials")).scalar_one()

    new_id, count = services.totp.reencrypt_all()

    with services.engine.connect() as conn:
        after = conn.execute(text("SELECT secret FROM totp_credentials")).scalar_one()
    assert count == 1
    assert key_file.read_bytes() != old_key
    assert new_id == key_id(key_file.read_bytes())
    assert after != before
    assert after.startswith(f"v1.{new_id}.")
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    assert services.totp.verify(user.id, current_code(services, secret)) is not None


def test_key_file_is_private(services: Services) -> None:
    make_user(services)

    assert oct(services.settings.secrets_key_file.stat().st_mode & 0o777) == "0o600"


@pytest.mark.parametrize("name", ["", "   "])
def test_blank_name_falls_back_to_a_default(services: Services, name: str) -> None:
    user = make_user(services)
    pending = services.totp.begin(user.id, user.username)

    assert services.totp.confirm(user.id, current_code(services, pending.secret), name)
    assert services.totp.credentials(user.id)[0].name == "Authenticator"
