"""TOTP as a second factor: enrolment with a QR code, verification with the atomic replay guard."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from quivive.clock import Clock
from quivive.protocols import totp
from quivive.services.mfa import MAX_CREDENTIAL_NAME_LENGTH, Credential
from quivive.services.secret_box import SecretBox
from quivive.storage.totp import TotpRecord, TotpRepository

DEFAULT_NAME = "Authenticator"


@dataclass(frozen=True, slots=True)
class PendingTotp:
    """An enrolment in progress: what the page shows (QR code, key, URI)."""

    credential_id: int
    secret: str
    uri: str


class TotpFactor:
    """Implements ``services.mfa.SecondFactor``."""

    name = "totp"
    amr_values = frozenset({"otp"})
    phishing_resistant = False
    is_backup = False
    verify_path = "/login/second-factor/totp"
    enrol_path: str | None = "/account/totp/enrol"

    def __init__(
        self, repository: TotpRepository, box: SecretBox, issuer: str, clock: Clock
    ) -> None:
        self._repository = repository
        self._box = box
        self._issuer = issuer
        self._clock = clock

    # --- enrolment ----------------------------------------------------------------------------

    def begin(self, user_id: int, account: str) -> PendingTotp:
        secret = totp.new_secret()
        sealed = self._box.encrypt(secret, _context(user_id))
        credential_id = self._repository.add_pending(
            user_id, DEFAULT_NAME, sealed, self._clock.now()
        )
        return PendingTotp(
            credential_id, secret, totp.provisioning_uri(secret, account, self._issuer)
        )

    def pending(self, user_id: int, account: str) -> PendingTotp | None:
        record = self._repository.pending(user_id)
        if record is None:
            return None
        secret = self._box.decrypt(record.secret, _context(user_id))
        return PendingTotp(record.id, secret, totp.provisioning_uri(secret, account, self._issuer))

    def confirm(self, user_id: int, code: str, name: str) -> str | None:
        """Confirm the pending authenticator with a valid code; its id, or None if refused."""
        record = self._repository.pending(user_id)
        if record is None:
            return None
        secret = self._box.decrypt(record.secret, _context(user_id))
        now = self._clock.now()
        step = totp.matching_step(secret, code, now)
        if step is None or not self._repository.confirm(record.id, user_id, step, now):
            return None
        if name.strip():
            self._repository.rename(user_id, record.id, _clean_name(name))
        return str(record.id)

    # --- sign-in ------------------------------------------------------------------------------

    def verify(self, user_id: int, code: str) -> str | None:
        """The id of the authenticator that accepts ``code`` now, once; None otherwise."""
        now = self._clock.now()
        for record in self._repository.confirmed(user_id):
            step = totp.matching_step(
                self._box.decrypt(record.secret, _context(user_id)), code, now
            )
            # Replay: a step at or below the last accepted one is refused by the compare-and-set.
            if step is not None and self._repository.claim_step(record.id, step, now):
                return str(record.id)
        return None

    # --- SecondFactor ---------------------------------------------------------------------------

    def credentials(self, user_id: int) -> list[Credential]:
        return [_credential(record) for record in self._repository.confirmed(user_id)]

    def rename(self, user_id: int, credential_id: str, name: str) -> bool:
        key = _key(credential_id)
        return key is not None and self._repository.rename(user_id, key, _clean_name(name))

    def remove(self, user_id: int, credential_id: str) -> bool:
        key = _key(credential_id)
        return key is not None and self._repository.remove(user_id, key) == 1

    def remove_all(self, user_id: int) -> int:
        return self._repository.remove(user_id)

    # --- key rotation ---------------------------------------------------------------------------

    def reencrypt_all(self) -> tuple[str, int]:
        """Re-encrypt every stored secret under a new key (``quivive keys rotate-secrets``)."""

        def rewrite(convert: Callable[[str, str], str]) -> int:
            count = 0
            for credential_id, user_id, sealed in self._repository.all_secrets():
                fresh = convert(sealed, _context(user_id))
                count += self._repository.replace_secret(credential_id, sealed, fresh)
            return count

        return self._box.rotate(rewrite)


def _context(user_id: int) -> str:
    return f"totp:{user_id}"


def _key(credential_id: str) -> int | None:
    return int(credential_id) if credential_id.isascii() and credential_id.isdigit() else None


def _clean_name(name: str) -> str:
    cleaned = "".join(ch for ch in name.strip() if ch.isprintable())
    return cleaned[:MAX_CREDENTIAL_NAME_LENGTH] or DEFAULT_NAME


def _credential(record: TotpRecord) -> Credential:
    return Credential("totp", str(record.id), record.name, record.created_at, record.last_used_at)
