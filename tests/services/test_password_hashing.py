import asyncio
import base64
import threading
import time
from collections.abc import Iterator

import argon2
import pytest

from quivive.errors import ConfigError
from quivive.services.password_hashing import (
    MIN_MEMORY_KIB,
    MIN_PARALLELISM,
    MIN_TIME_COST,
    PasswordHasher,
)

PASSWORD = "tulipe ardoise gravier"


@pytest.fixture(scope="module")
def hasher() -> Iterator[PasswordHasher]:
    hasher = PasswordHasher(max_workers=2)
    yield hasher
    hasher.close()


@pytest.fixture(scope="module")
def encoded(hasher: PasswordHasher) -> str:
    return hasher.hash(PASSWORD)


def encoded_with(
    kind: str = "argon2id",
    version: int = 19,
    memory_kib: int = MIN_MEMORY_KIB,
    time_cost: int = MIN_TIME_COST,
    parallelism: int = MIN_PARALLELISM,
) -> str:
    """A well-formed hash string with the given parameters, for tests that only parse it."""
    salt = base64.b64encode(bytes(16)).decode().rstrip("=")
    tag = base64.b64encode(bytes(32)).decode().rstrip("=")
    params = f"m={memory_kib},t={time_cost},p={parallelism}"
    return f"${kind}$v={version}${params}${salt}${tag}"


def test_hash_is_argon2id_with_the_parameters_stored(encoded: str) -> None:
    assert encoded.startswith(f"$argon2id$v=19$m={MIN_MEMORY_KIB},t={MIN_TIME_COST},p=1$")


def test_round_trip(hasher: PasswordHasher, encoded: str) -> None:
    assert hasher.verify_sync(encoded, PASSWORD)


def test_verification_normalises_like_hashing(hasher: PasswordHasher, encoded: str) -> None:
    fullwidth = "".join(chr(ord(c) + 0xFEE0) for c in "tulipe")  # NFKC maps it back to ASCII
    assert hasher.verify_sync(encoded, fullwidth + " ardoise gravier")


def test_wrong_password_is_false(hasher: PasswordHasher, encoded: str) -> None:
    assert not hasher.verify_sync(encoded, "tulipe ardoise graviers")


def test_password_without_utf8_form_is_false(hasher: PasswordHasher, encoded: str) -> None:
    assert not hasher.verify_sync(encoded, "tulipe \ud800")


@pytest.mark.parametrize(
    "malformed",
    ["", "not a hash", "$argon2id$v=19$m=abc", "$argon2id$", "é", encoded_with()[:-20]],
)
def test_malformed_hash_is_false(hasher: PasswordHasher, malformed: str) -> None:
    assert not hasher.verify_sync(malformed, PASSWORD)


def test_truncated_real_hash_is_false(hasher: PasswordHasher, encoded: str) -> None:
    assert not hasher.verify_sync(encoded[:-8], PASSWORD)


def test_fresh_hash_needs_no_rehash(hasher: PasswordHasher, encoded: str) -> None:
    assert not hasher.needs_rehash(encoded)


def test_raising_memory_asks_for_a_rehash(encoded: str) -> None:
    stronger = PasswordHasher(memory_kib=MIN_MEMORY_KIB + 1024, max_workers=1)
    try:
        assert stronger.needs_rehash(encoded)
    finally:
        stronger.close()


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        (encoded_with(), False),
        (encoded_with(memory_kib=MIN_MEMORY_KIB * 2, time_cost=3), False),  # stronger is kept
        (encoded_with(memory_kib=MIN_MEMORY_KIB - 1), True),
        (encoded_with(time_cost=1), True),
        (encoded_with(parallelism=4), True),
        (encoded_with(kind="argon2i"), True),
        (encoded_with(version=16), True),
        ("not a hash", True),
    ],
)
def test_needs_rehash_when_stored_parameters_are_weaker(
    hasher: PasswordHasher, stored: str, expected: bool
) -> None:
    assert hasher.needs_rehash(stored) is expected


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("memory_kib", MIN_MEMORY_KIB - 1),
        ("time_cost", MIN_TIME_COST - 1),
        ("parallelism", MIN_PARALLELISM - 1),
        ("max_workers", 0),
    ],
)
def test_parameters_below_the_floor_are_a_config_error(key: str, value: int) -> None:
    kwargs = {"max_workers": 1, key: value}
    with pytest.raises(ConfigError, match=key) as caught:
        PasswordHasher(**kwargs)
    assert caught.value.details["key"] == key


def test_verify_in_the_pool(hasher: PasswordHasher, encoded: str) -> None:
    async def both() -> list[bool]:
        return list(
            await asyncio.gather(
                hasher.run(lambda: hasher.verify_sync(encoded, PASSWORD)),
                hasher.run(lambda: hasher.verify_sync(encoded, "nope")),
            )
        )

    assert asyncio.run(both()) == [True, False]


def test_verifications_in_the_pool_run_concurrently(monkeypatch: pytest.MonkeyPatch) -> None:
    hasher = PasswordHasher(max_workers=2)
    # Each call waits for the other at the barrier: run one after the other, they would break it.
    barrier = threading.Barrier(2, timeout=30)

    def meet_then_answer(encoded: str, password: str) -> bool:
        barrier.wait()
        return True

    monkeypatch.setattr(hasher, "verify_sync", meet_then_answer)

    async def both() -> list[bool]:
        return list(
            await asyncio.gather(
                hasher.run(lambda: hasher.verify_sync("a", "b")),
                hasher.run(lambda: hasher.verify_sync("c", "d")),
            )
        )

    try:
        assert asyncio.run(both()) == [True, True]
    finally:
        hasher.close()


def test_no_more_verifications_at_once_than_max_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    # The pool has more threads than Argon2 slots (a sign-in's database work runs there too), but
    # the memory cap holds: at most max_workers verifications at once, however many are asked.
    hasher = PasswordHasher(max_workers=2)
    running, most = 0, 0
    lock = threading.Lock()

    def slow_verify(_argon2: object, encoded: str, password: str) -> bool:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.05)
        with lock:
            running -= 1
        return True

    monkeypatch.setattr(argon2.PasswordHasher, "verify", slow_verify)

    async def many() -> list[bool]:
        return list(
            await asyncio.gather(
                *(hasher.run(lambda: hasher.verify_sync("a", "b")) for _ in range(8))
            )
        )

    try:
        assert asyncio.run(many()) == [True] * 8
    finally:
        hasher.close()
    assert most == 2


def test_dummy_verify_completes(hasher: PasswordHasher) -> None:
    hasher.dummy_verify_sync(PASSWORD)  # a full verification against the dummy hash, no error


def test_close_stops_the_pool() -> None:
    hasher = PasswordHasher(max_workers=1)
    hasher.close()
    with pytest.raises(RuntimeError):
        asyncio.run(hasher.run(lambda: hasher.verify_sync("", PASSWORD)))
