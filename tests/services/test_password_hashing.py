import asyncio
import base64
import threading
from collections.abc import Iterator

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


def test_async_verify(hasher: PasswordHasher, encoded: str) -> None:
    async def both() -> list[bool]:
        return list(
            await asyncio.gather(hasher.verify(encoded, PASSWORD), hasher.verify(encoded, "nope"))
        )

    assert asyncio.run(both()) == [True, False]


def test_async_verifications_run_concurrently(monkeypatch: pytest.MonkeyPatch) -> None:
    hasher = PasswordHasher(max_workers=2)
    # Each call waits for the other at the barrier: run one after the other, they would break it.
    barrier = threading.Barrier(2, timeout=30)

    def meet_then_answer(encoded: str, password: str) -> bool:
        barrier.wait()
        return True

    monkeypatch.setattr(hasher, "verify_sync", meet_then_answer)

    async def both() -> list[bool]:
        return list(await asyncio.gather(hasher.verify("a", "b"), hasher.verify("c", "d")))

    try:
        assert asyncio.run(both()) == [True, True]
    finally:
        hasher.close()


def test_dummy_verify_completes(hasher: PasswordHasher) -> None:
    assert asyncio.run(hasher.dummy_verify(PASSWORD)) is None


def test_close_stops_the_pool() -> None:
    hasher = PasswordHasher(max_workers=1)
    hasher.close()
    with pytest.raises(RuntimeError):
        asyncio.run(hasher.verify("", PASSWORD))
