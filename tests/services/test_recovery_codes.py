import re
from functools import partial

from sqlalchemy import text

from quivive.composition import Services
from quivive.services.accounts import NewAccount
from quivive.services.recovery_codes import CODE_COUNT
from support.race import race

PARALLEL = 8


def test_ten_codes_of_80_bits_stored_hashed(services: Services) -> None:
    user = services.accounts.create(NewAccount("alice"), actor="test")

    codes = services.recovery_codes.generate(user.id)

    assert len(codes) == CODE_COUNT == len(set(codes))
    assert all(re.fullmatch(r"[A-Z2-7]{4}(-[A-Z2-7]{4}){3}", code) for code in codes)
    with services.engine.connect() as conn:
        stored = " ".join(conn.execute(text("SELECT code_hash FROM recovery_codes")).scalars())
    assert all(code.replace("-", "") not in stored for code in codes)
    assert services.recovery_codes.status(user.id).remaining == CODE_COUNT


def test_a_code_works_once_and_typing_slips_are_forgiven(services: Services) -> None:
    user = services.accounts.create(NewAccount("alice"), actor="test")
    code = services.recovery_codes.generate(user.id)[0]
    typed = code.lower().replace("-", " ")

    assert services.recovery_codes.use(user.id, typed) is not None
    assert services.recovery_codes.use(user.id, code) is None
    assert services.recovery_codes.status(user.id).remaining == CODE_COUNT - 1


def test_a_code_is_consumed_once_in_parallel(services: Services) -> None:
    user = services.accounts.create(NewAccount("alice"), actor="test")
    code = services.recovery_codes.generate(user.id)[0]
    results = race([partial(services.recovery_codes.use, user.id, code)] * PARALLEL)

    assert len(results) == PARALLEL
    assert sum(result is not None for result in results) == 1


def test_regenerating_invalidates_the_old_codes(services: Services) -> None:
    user = services.accounts.create(NewAccount("alice"), actor="test")
    old = services.recovery_codes.generate(user.id)

    services.recovery_codes.generate(user.id)

    assert services.recovery_codes.use(user.id, old[0]) is None


def test_codes_of_another_user_do_not_work(services: Services) -> None:
    alice = services.accounts.create(NewAccount("alice"), actor="test")
    bob = services.accounts.create(NewAccount("bob"), actor="test")
    code = services.recovery_codes.generate(alice.id)[0]
    services.recovery_codes.generate(bob.id)

    assert services.recovery_codes.use(bob.id, code) is None
