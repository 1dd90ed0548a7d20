"""Chromium's CDP virtual authenticator, as DESIGN.md's passkey recipe sets it up."""

from __future__ import annotations

# A platform passkey that holds resident keys and verifies its user (UV) without a prompt.
VIRTUAL_AUTHENTICATOR = {
    "protocol": "ctap2",
    "transport": "internal",
    "hasResidentKey": True,
    "hasUserVerification": True,
    "isUserVerified": True,
    "automaticPresenceSimulation": True,
}

# As in a browser without passkey autofill: otherwise the virtual authenticator answers the
# login page's autofill request at once and signs in before the test can act.
NO_AUTOFILL = "PublicKeyCredential.isConditionalMediationAvailable = () => Promise.resolve(false);"
