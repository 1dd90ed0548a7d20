"""Argon2id password hashing, with parameters stored in each hash and upgraded on next login.

Follows the OWASP Password Storage Cheat Sheet and RFC 9106. Verification runs in a thread pool
owned by the hasher: argon2-cffi releases the GIL. At most ``max_workers`` verifications run at
once, which caps memory (each holds ``memory_kib`` KiB); the pool has twice as many threads, so that
a sign-in's database work (``run``) never keeps a core's Argon2 waiting.
"""

from __future__ import annotations

import asyncio
import contextvars
import secrets
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import argon2
from argon2.exceptions import InvalidHashError, VerificationError

from quivive.domain.passwords import (
    MIN_MEMORY_KIB,
    MIN_PARALLELISM,
    MIN_TIME_COST,
    normalise_password,
)
from quivive.errors import ConfigError

# Defaults sit at the floor so a small server copes; raise them in settings when the hardware
# allows, and needs_rehash upgrades stored hashes at each user's next login.
DEFAULT_MEMORY_KIB = MIN_MEMORY_KIB
DEFAULT_TIME_COST = MIN_TIME_COST
DEFAULT_PARALLELISM = MIN_PARALLELISM
# RFC 9106 §4: a 128-bit salt is enough for all applications; a 256-bit tag.
SALT_BYTES = 16
HASH_BYTES = 32
# Threads of the pool per Argon2 slot: while one thread of a sign-in waits for the database or
# does its bookkeeping, another can verify.
THREADS_PER_SLOT = 2

T = TypeVar("T")


class PasswordHasher:
    def __init__(
        self,
        *,
        memory_kib: int = DEFAULT_MEMORY_KIB,
        time_cost: int = DEFAULT_TIME_COST,
        parallelism: int = DEFAULT_PARALLELISM,
        max_workers: int,
    ) -> None:
        _check_floor("memory_kib", memory_kib, MIN_MEMORY_KIB)
        _check_floor("time_cost", time_cost, MIN_TIME_COST)
        _check_floor("parallelism", parallelism, MIN_PARALLELISM)
        _check_floor("max_workers", max_workers, 1)
        self._argon2 = argon2.PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_kib,
            parallelism=parallelism,
            hash_len=HASH_BYTES,
            salt_len=SALT_BYTES,
            type=argon2.Type.ID,
        )
        # Unknown users are verified against this, so they cost what known users cost (ASVS 6.3.8).
        self._dummy_hash = self.hash(secrets.token_urlsafe(16))
        self._slots = threading.BoundedSemaphore(max_workers)
        self._pool = ThreadPoolExecutor(
            max_workers * THREADS_PER_SLOT, thread_name_prefix="quivive-argon2"
        )

    def hash(self, password: str) -> str:
        """The encoded Argon2id hash of the NFKC-normalised password, with a fresh random salt.

        Check the password with ``check_new_password`` first: one it rejects as
        ``invalid_characters`` has no UTF-8 form and raises UnicodeEncodeError here.
        """
        return self._argon2.hash(normalise_password(password))

    def verify_sync(self, encoded: str, password: str) -> bool:
        """Whether ``password`` matches; False, never an exception, for a malformed hash.

        Waits for one of the ``max_workers`` slots: callable from any thread.
        """
        try:
            with self._slots:
                return self._argon2.verify(encoded, normalise_password(password))
        except (VerificationError, InvalidHashError, UnicodeEncodeError):
            return False

    def dummy_verify_sync(self, password: str) -> None:
        """Spend the time of a real verification, for a user that does not exist."""
        self.verify_sync(self._dummy_hash, password)

    async def run(self, work: Callable[[], T]) -> T:
        """``work()`` in the hasher's pool (in a copy of the caller's context, as anyio's worker
        threads run theirs), so the event loop keeps serving meanwhile: a whole sign-in around
        its verify, in one thread trip."""
        context = contextvars.copy_context()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, context.run, work)

    def needs_rehash(self, encoded: str) -> bool:
        """Whether ``encoded`` has weaker or other-shaped parameters than the current ones.

        Only weaker costs count, so lowering settings (within the floor) rehashes nobody; a
        different parallelism counts, as it decides how many threads one verification takes.
        """
        try:
            stored = argon2.extract_parameters(encoded)
        except InvalidHashError:
            return True
        current = self._argon2
        return (
            stored.type is not argon2.Type.ID
            or stored.version < argon2.low_level.ARGON2_VERSION
            or stored.memory_cost < current.memory_cost
            or stored.time_cost < current.time_cost
            or stored.parallelism != current.parallelism
            or stored.salt_len < current.salt_len
            or stored.hash_len < current.hash_len
        )

    def close(self) -> None:
        """Wait for running verifications, then stop the pool's threads."""
        self._pool.shutdown(wait=True)


def _check_floor(key: str, value: int, floor: int) -> None:
    if value < floor:
        raise ConfigError(f"{key} must be at least {floor}, got {value}", key=key)
