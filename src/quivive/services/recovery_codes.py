"""Recovery codes: ten single-use codes, shown once, for when the authenticator is lost.

Each code is 16 base32 characters = 80 bits of entropy. ASVS 5.0 6.6.3 accepts a fast hash for
look-up secrets of at least 64 bits ("or rate limited"), and NIST SP 800-63B 5.1.2.2 asks for a
salted hash when they have 112 bits or less: each is stored as SHA-256(salt || user id || code)
with a random per-code salt, so a stolen table gives nothing to replay, and no Argon2 is needed.
Using one is a sign-in by itself on the second-factor page, so it is audited and the user is told
by e-mail (a thief holding the password and a code must not go unnoticed).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from quivive.clock import Clock
from quivive.services.mfa import Credential
from quivive.storage.recovery_codes import CodeStatus, RecoveryCodeRepository

CODE_COUNT = 10
CODE_BYTES = 10  # 80 bits, 16 base32 characters
GROUP = 4  # shown as XXXX-XXXX-XXXX-XXXX
SALT_BYTES = 16
# Characters people type for base32 ones (base32 has no 0, 1 or 8).
_LOOKALIKES = str.maketrans({"0": "O", "1": "I", "8": "B"})


@dataclass(frozen=True, slots=True)
class RecoveryStatus:
    remaining: int
    generated: bool


def new_code() -> str:
    raw = base64.b32encode(secrets.token_bytes(CODE_BYTES)).decode("ascii")
    return "-".join(raw[i : i + GROUP] for i in range(0, len(raw), GROUP))


def normalise(code: str) -> str:
    kept = "".join(ch for ch in code.upper() if ch.isalnum())
    return kept.translate(_LOOKALIKES)


def code_hash(salt: str, user_id: int, code: str) -> str:
    data = f"{salt}:{user_id}:{normalise(code)}".encode()
    return hashlib.sha256(data).hexdigest()


class RecoveryCodeFactor:
    """Implements ``services.mfa.SecondFactor`` (a backup one: not an enrolment on its own)."""

    name = "recovery_code"
    amr_values = frozenset({"otp"})
    phishing_resistant = False
    is_backup = True
    verify_path = "/login/second-factor/recovery-code"
    enrol_path: str | None = None

    def __init__(self, repository: RecoveryCodeRepository, clock: Clock) -> None:
        self._repository = repository
        self._clock = clock

    def generate(self, user_id: int) -> list[str]:
        """A new set of codes (the old ones stop working); returned once, never stored in clear."""
        codes = [new_code() for _ in range(CODE_COUNT)]
        hashed = []
        for code in codes:
            salt = secrets.token_hex(SALT_BYTES)
            hashed.append((salt, code_hash(salt, user_id, code)))
        self._repository.replace(user_id, hashed, self._clock.now())
        return codes

    def use(self, user_id: int, code: str) -> str | None:
        """Consume ``code``; the id of the code used, or None (unknown, already used, raced)."""
        if len(normalise(code)) != CODE_BYTES * 8 // 5:
            return None
        for stored in self._repository.unused(user_id):
            expected = code_hash(stored.salt, user_id, code)
            if hmac.compare_digest(expected, stored.code_hash):
                consumed = self._repository.consume(stored.id, self._clock.now())
                return str(stored.id) if consumed else None
        return None

    def status(self, user_id: int) -> CodeStatus:
        return self._repository.status(user_id)

    # --- SecondFactor ---------------------------------------------------------------------------

    def credentials(self, user_id: int) -> list[Credential]:
        status = self._repository.status(user_id)
        if not status.remaining or status.created_at is None:
            return []
        name = f"{status.remaining}"
        return [Credential(self.name, "codes", name, status.created_at, None)]

    def rename(self, user_id: int, credential_id: str, name: str) -> bool:
        return False

    def remove(self, user_id: int, credential_id: str) -> bool:
        return self._repository.remove_all(user_id) > 0

    def remove_all(self, user_id: int) -> int:
        return self._repository.remove_all(user_id)
