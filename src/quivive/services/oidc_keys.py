"""Signing keys of the OIDC provider: first key on first use, rotation, and a per-node cache.

Every node reads the keys from the database (``storage.oidc_keys``): it reloads them every
``RELOAD_INTERVAL``, and at once (at most once a second) when it meets a ``kid`` it does not know,
so a key rotated on one node signs tokens that every other node verifies.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

from quivive.clock import Clock
from quivive.protocols.oidc.errors import InvalidToken
from quivive.protocols.oidc.jose_keys import (
    SUPPORTED_ALGS,
    KeyRing,
    SigningKey,
    generate_key,
    unverified_kid,
)
from quivive.storage.oidc_keys import SigningKeyRepository

# Short enough that a rotation reaches every node within a minute; long enough that the key
# table is not read on every request.
RELOAD_INTERVAL_S = 60.0
# An unknown kid triggers a reload, but a flood of forged kids must not hammer the database.
UNKNOWN_KID_RELOAD_S = 1.0


class KeyService:
    def __init__(
        self, keys: SigningKeyRepository, clock: Clock, *, longest_token_lifetime: timedelta
    ) -> None:
        self._keys = keys
        self._clock = clock
        self._longest = longest_token_lifetime
        self._lock = threading.Lock()
        self._ring: KeyRing | None = None
        self._loaded_at = 0.0
        self._unknown_reload_at = 0.0

    def ring(self) -> KeyRing:
        """The keys, read again from the database when a reload is due."""
        ring = self.fresh_ring()
        return ring if ring is not None else self.reload()

    def fresh_ring(self) -> KeyRing | None:
        """The keys if no reload is due, without touching the database; else None."""
        ring = self._ring
        if ring is None or time.monotonic() - self._loaded_at > RELOAD_INTERVAL_S:
            return None
        return ring

    def reload(self) -> KeyRing:
        """Read the keys again, creating a first key for any algorithm that has none."""
        with self._lock:
            records = self._keys.live(self._clock.now())
            missing = [alg for alg in SUPPORTED_ALGS if not _signs(records, alg)]
            for alg in missing:
                self._keys.add(generate_key(alg, self._clock.now()))
            if missing:
                records = self._keys.live(self._clock.now())
            self._ring = KeyRing(records, known=self._ring)
            self._loaded_at = time.monotonic()
            return self._ring

    def sign(self, claims: Mapping[str, Any], *, alg: str, typ: str) -> str:
        return self.ring().sign(claims, alg=alg, typ=typ)

    def verify(self, token: str, *, typs: Iterable[str]) -> dict[str, Any]:
        ring = self.ring()
        kid = unverified_kid(token)
        now = time.monotonic()
        if kid is not None and kid not in ring.kids and now > self._unknown_reload_at:
            self._unknown_reload_at = now + UNKNOWN_KID_RELOAD_S
            ring = self.reload()
        if kid is None or kid not in ring.kids:
            raise InvalidToken("token signed with an unknown key")
        return ring.verify(token, typs=typs)

    def rotate(self) -> list[SigningKey]:
        """New RS256 and ES256 keys sign from now on; the old ones verify until the longest
        token they may have signed has expired, then are removed."""
        now = self._clock.now()
        self._keys.purge(now)
        self._keys.retire_all(now, remove_after=now + self._longest)
        created = [generate_key(alg, now) for alg in SUPPORTED_ALGS]
        for key in created:
            self._keys.add(key)
        self.reload()
        return created

    def list(self) -> list[SigningKey]:
        """The keys in force, creating the first ones if there are none yet."""
        self.reload()
        return self._keys.live(self._clock.now())


def _signs(records: list[SigningKey], alg: str) -> bool:
    return any(record.alg == alg and record.retired_at is None for record in records)
