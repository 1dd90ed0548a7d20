"""Second-factor credentials in a chosen state, stored straight through the repositories.

``arrange(engine, user_id, holdings, now)`` stores, for each name in ``holdings``: ``passkey`` (one
passkey), ``totp_pending`` (a TOTP authenticator whose enrolment was never confirmed), ``totp``
(a confirmed one), ``codes_used`` (recovery codes, every one used) or ``codes`` (recovery codes,
one of two used). ``HOLDINGS`` pairs each case worth checking with the factors it makes usable.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Engine

from quivive.protocols.webauthn import NewCredential
from quivive.storage.passkeys import PasskeyRepository
from quivive.storage.recovery_codes import RecoveryCodeRepository
from quivive.storage.totp import TotpRepository

HOLDINGS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "nothing": (frozenset(), frozenset()),
    "a passkey only": (frozenset({"passkey"}), frozenset({"passkey"})),
    "an unconfirmed totp": (frozenset({"totp_pending"}), frozenset()),
    "a confirmed totp": (frozenset({"totp"}), frozenset({"totp"})),
    "recovery codes all used": (frozenset({"codes_used"}), frozenset()),
    "recovery codes some unused": (frozenset({"codes"}), frozenset({"recovery_code"})),
    "several at once": (
        frozenset({"passkey", "totp", "codes"}),
        frozenset({"passkey", "totp", "recovery_code"}),
    ),
    "confirmed and pending totp, codes used": (
        frozenset({"totp", "totp_pending", "codes_used"}),
        frozenset({"totp"}),
    ),
}


def arrange(engine: Engine, user_id: int, holdings: Iterable[str], now: datetime) -> None:
    wanted = set(holdings)
    if "passkey" in wanted:
        _add_passkey(engine, user_id, now)
    if "totp" in wanted:
        _add_totp(engine, user_id, now, confirmed=True)
    if "totp_pending" in wanted:
        _add_totp(engine, user_id, now, confirmed=False)
    if "codes" in wanted or "codes_used" in wanted:
        _add_codes(engine, user_id, now, keep_one="codes" in wanted)


def _add_passkey(engine: Engine, user_id: int, now: datetime) -> None:
    credential = NewCredential(
        credential_id=user_id.to_bytes(4, "big") * 4,
        public_key=b"cose",
        sign_count=0,
        aaguid="00000000-0000-0000-0000-000000000000",
        transports=("usb",),
        user_verified=True,
        backup_eligible=False,
        backup_state=False,
    )
    PasskeyRepository(engine).add(user_id, credential, user_handle=b"h" * 32, name="Clé", now=now)


def _add_totp(engine: Engine, user_id: int, now: datetime, *, confirmed: bool) -> None:
    repository = TotpRepository(engine)
    credential_id = repository.add_pending(user_id, "Téléphone", "sealed-secret", now)
    if confirmed:
        assert repository.confirm(credential_id, user_id, 1, now)


def _add_codes(engine: Engine, user_id: int, now: datetime, *, keep_one: bool) -> None:
    repository = RecoveryCodeRepository(engine)
    repository.replace(user_id, [("salt-1", "hash-1"), ("salt-2", "hash-2")], now)
    codes = repository.unused(user_id)
    for code in codes[1:] if keep_one else codes:
        assert repository.consume(code.id, now)
