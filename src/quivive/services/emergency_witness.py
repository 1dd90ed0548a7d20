"""A colleague confirming an emergency access with their passkey, as the service's callable.

Kept apart so that ``EmergencyAccessService`` depends on one small function, not on the passkey
service (the composition root wires it).
"""

from __future__ import annotations

from quivive.domain.users import User
from quivive.errors import WebAuthnRejected
from quivive.services.emergency_access import PasskeyWitness
from quivive.services.mfa import Origin
from quivive.services.passkeys import PasskeyService


def passkey_witness(passkeys: PasskeyService) -> PasskeyWitness:
    """The colleague whose passkey signed the witness ceremony (user verification on), or None."""

    def check(token: str, response: str, origin: Origin) -> User | None:
        try:
            return passkeys.finish_witness(token, response, origin)
        except WebAuthnRejected:  # the refusal is audited by the passkey service
            return None

    return check
