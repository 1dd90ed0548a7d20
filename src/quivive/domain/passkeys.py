"""Passkeys and security keys: the WebAuthn credentials a user registered, and what each proves.

A passkey is a possession factor. With the UV flag (the key checked a PIN or a biometric) it is
two factors on its own: possession and user verification (NIST SP 800-63B-4 multi-factor
cryptographic authenticator). Backup-eligible keys (BE flag) can be synced across devices; only
device-bound keys can reach AAL3 (REQUIREMENTS.md, "Factors and assurance levels").
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime

MAX_PASSKEY_NAME_LENGTH = 64
MAX_PASSKEYS_PER_USER = 20  # bounds the allowCredentials list and the account page

# RFC 8176 §2: "hwk" is "proof-of-possession of a hardware-secured key", "swk" of a
# "software-secured key". A synced passkey's private key leaves the device (to the platform's
# cloud keychain), so it is not hardware-bound: swk. A device-bound key (BE=0) never leaves its
# authenticator: hwk. RFC 8176 "user" stands for the WebAuthn UV flag: the RP cannot tell a PIN
# from a fingerprint, so neither "pin" nor "fpt" can be claimed honestly.
AMR_DEVICE_BOUND = "hwk"
AMR_SYNCED = "swk"
AMR_USER_VERIFIED = "user"


@dataclass(frozen=True, slots=True)
class Passkey:
    """A credential record (WebAuthn Level 3 §4) with the user's name for it."""

    id: int
    user_id: int
    credential_id: bytes
    user_handle: bytes
    public_key: bytes
    sign_count: int
    aaguid: str
    transports: tuple[str, ...]
    user_verified: bool  # UV at registration (credentialRecord.uvInitialized)
    backup_eligible: bool
    backup_state: bool
    name: str
    created_at: datetime
    last_used_at: datetime | None

    @property
    def synced(self) -> bool:
        return self.backup_eligible


def passkey_amr(*, backup_eligible: bool, user_verified: bool) -> tuple[str, ...]:
    """The RFC 8176 values one passkey assertion proves (``mfa`` is added by the assessment)."""
    key = AMR_SYNCED if backup_eligible else AMR_DEVICE_BOUND
    return (key, AMR_USER_VERIFIED) if user_verified else (key,)


def clean_passkey_name(raw: str | None, fallback: str) -> str:
    """A name to show: NFKC, without control characters, cut at 64 code points; never empty.

    Lenient on purpose (as TOTP names are): a name is a label the user chose, not a security value,
    and refusing it would cost them a passkey ceremony to redo.
    """
    name = unicodedata.normalize("NFKC", raw or "")
    name = "".join(char for char in name if unicodedata.category(char)[0] != "C").strip()
    return name[:MAX_PASSKEY_NAME_LENGTH].strip() or fallback
