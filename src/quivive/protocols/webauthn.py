"""W3C Web Authentication Level 3, relying-party side: ceremony options and response checks.

Wraps py_webauthn (which parses CBOR, COSE keys and attestation statements and verifies the
signatures) and adds the checks it leaves to the relying party, each quoted from WebAuthn Level 3
§7.1 "Registering a New Credential" and §7.2 "Verifying an Authentication Assertion". The
client-data and authenticator-data checks are made here first, so each refusal carries a stable
reason code for the audit trail (py_webauthn only raises with an English message).

No I/O: challenges come in as arguments, and storing them (single use, with an expiry) and the
compare-and-set of the signature counter belong to the caller.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import (
    bytes_to_base64url,
    parse_attestation_object,
    parse_authentication_credential_json,
    parse_authenticator_data,
    parse_registration_credential_json,
)
from webauthn.helpers.cose import COSEAlgorithmIdentifier
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticationCredential,
    AuthenticatorDataFlags,
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    RegistrationCredential,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from quivive.errors import SignCountRegression, WebAuthnRejected

# §13.4.3: "challenges SHOULD therefore be at least 16 bytes long"; 32 leaves a wide margin.
CHALLENGE_BYTES = 32
# §14.6.1: "It is RECOMMENDED to let the user handle be 64 random bytes" (no personal data in it).
USER_HANDLE_BYTES = 64
# §15.1 recommends 300000 to 600000 ms when user verification is required: five minutes is the
# floor of that range and also how long a stored challenge stays usable.
CEREMONY_TIMEOUT = timedelta(minutes=5)
# §7.1 step 25: "Verify that the credentialId is ≤ 1023 bytes."
MAX_CREDENTIAL_ID_BYTES = 1023
# EdDSA, ES256, RS256: what platform authenticators and security keys use (py_webauthn default).
SUPPORTED_ALGORITHMS = (
    COSEAlgorithmIdentifier.EDDSA,
    COSEAlgorithmIdentifier.ECDSA_SHA_256,
    COSEAlgorithmIdentifier.RSASSA_PKCS1_v1_5_SHA_256,
)
# A credential JSON from navigator.credentials is a few KiB; anything far larger is hostile.
MAX_RESPONSE_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class RelyingParty:
    """Who we are to the authenticator: the RP ID is the public host, the origin its URL's."""

    id: str
    name: str
    origin: str


@dataclass(frozen=True, slots=True)
class NewCredential:
    """A verified registration, ready to store as a credential record (§4 "credential record")."""

    credential_id: bytes
    public_key: bytes  # COSE_Key, as the authenticator gave it
    sign_count: int
    aaguid: str
    transports: tuple[str, ...]
    user_verified: bool  # credentialRecord.uvInitialized
    backup_eligible: bool  # BE: may be synced to other devices (a "synced passkey")
    backup_state: bool  # BS: is currently backed up


@dataclass(frozen=True, slots=True)
class StoredCredential:
    """The parts of a credential record an assertion is checked against."""

    credential_id: bytes
    public_key: bytes
    sign_count: int
    backup_eligible: bool
    user_handle: bytes


@dataclass(frozen=True, slots=True)
class ClaimedCredential:
    """What an assertion says about itself before it is verified: only for looking it up."""

    credential_id: bytes
    user_handle: bytes | None


@dataclass(frozen=True, slots=True)
class VerifiedAssertion:
    credential_id: bytes
    sign_count: int
    user_verified: bool
    backup_eligible: bool
    backup_state: bool


def new_challenge() -> bytes:
    return secrets.token_bytes(CHALLENGE_BYTES)


def new_user_handle() -> bytes:
    return secrets.token_bytes(USER_HANDLE_BYTES)


def registration_options(
    rp: RelyingParty,
    *,
    challenge: bytes,
    user_handle: bytes,
    username: str,
    display_name: str,
    exclude: Sequence[bytes] = (),
) -> str:
    """``PublicKeyCredentialCreationOptionsJSON`` for ``parseCreationOptionsFromJSON``.

    A discoverable credential is preferred (so it also works without a username), user
    verification preferred (security keys without a PIN still make a second factor).
    """
    options = generate_registration_options(
        rp_id=rp.id,
        rp_name=rp.name,
        user_id=user_handle,
        user_name=username,
        user_display_name=display_name,
        challenge=challenge,
        timeout=_milliseconds(CEREMONY_TIMEOUT),
        attestation=AttestationConveyancePreference.NONE,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
        exclude_credentials=[PublicKeyCredentialDescriptor(id=cid) for cid in exclude],
        supported_pub_key_algs=list(SUPPORTED_ALGORITHMS),
    )
    return options_to_json(options)


def authentication_options(
    rp: RelyingParty, *, challenge: bytes, allow: Sequence[bytes] = (), require_uv: bool
) -> str:
    """``PublicKeyCredentialRequestOptionsJSON``; an empty ``allow`` asks for a discoverable key."""
    options = generate_authentication_options(
        rp_id=rp.id,
        challenge=challenge,
        timeout=_milliseconds(CEREMONY_TIMEOUT),
        allow_credentials=[PublicKeyCredentialDescriptor(id=cid) for cid in allow],
        user_verification=(
            UserVerificationRequirement.REQUIRED
            if require_uv
            else UserVerificationRequirement.PREFERRED
        ),
    )
    return options_to_json(options)


def verify_registration(
    rp: RelyingParty, response: str | Mapping[str, Any], *, challenge: bytes
) -> NewCredential:
    """Checks §7.1 steps 7-25 (step 26, "not yet registered for any user", needs storage)."""
    credential = _parse_registration(response)
    raw_client_data = credential.response.client_data_json
    _check_client_data(raw_client_data, "webauthn.create", challenge, rp.origin)
    try:
        auth_data = parse_attestation_object(credential.response.attestation_object).auth_data
    except Exception as exc:  # CBOR or structure errors of many kinds
        raise WebAuthnRejected("malformed_response") from exc
    _check_authenticator_flags(auth_data.rp_id_hash, auth_data.flags, rp.id, require_uv=False)
    try:
        verified = verify_registration_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp.id,
            expected_origin=rp.origin,
            supported_pub_key_algs=list(SUPPORTED_ALGORITHMS),
        )
    except WebAuthnException as exc:
        raise WebAuthnRejected("invalid_attestation", str(exc)) from exc
    # §7.1 step 25: "Verify that the credentialId is ≤ 1023 bytes. Credential IDs larger than
    # this many bytes SHOULD cause the RP to fail this registration ceremony."
    if len(verified.credential_id) > MAX_CREDENTIAL_ID_BYTES:
        raise WebAuthnRejected("credential_id_too_long")
    return NewCredential(
        credential_id=verified.credential_id,
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        aaguid=verified.aaguid,
        transports=_transports(credential),
        user_verified=auth_data.flags.uv,
        backup_eligible=auth_data.flags.be,
        backup_state=auth_data.flags.bs,
    )


def claimed_credential(response: str | Mapping[str, Any]) -> ClaimedCredential:
    """The credential ID and user handle an assertion names, to find its credential record."""
    credential = _parse_assertion(response)
    return ClaimedCredential(credential.raw_id, credential.response.user_handle)


def verify_assertion(
    rp: RelyingParty,
    response: str | Mapping[str, Any],
    *,
    challenge: bytes,
    stored: StoredCredential,
    require_uv: bool,
    user_identified: bool,
) -> VerifiedAssertion:
    """Checks §7.2 steps 5-22; the caller still stores the new counter with a compare-and-set.

    ``user_identified`` is False for a passwordless sign-in, where the user handle names the user.
    """
    credential = _parse_assertion(response)
    _check_credential_and_user(credential, stored, user_identified=user_identified)
    _check_client_data(credential.response.client_data_json, "webauthn.get", challenge, rp.origin)
    try:
        auth_data = parse_authenticator_data(credential.response.authenticator_data)
    except Exception as exc:
        raise WebAuthnRejected("malformed_response") from exc
    _check_authenticator_flags(auth_data.rp_id_hash, auth_data.flags, rp.id, require_uv=require_uv)
    _check_backup_eligibility(stored.backup_eligible, auth_data.flags.be)
    try:
        # The counter rule is ours (below), so py_webauthn is handed 0 and skips its own.
        verify_authentication_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp.id,
            expected_origin=rp.origin,
            credential_public_key=stored.public_key,
            credential_current_sign_count=0,
            require_user_verification=require_uv,
        )
    except WebAuthnException as exc:
        raise WebAuthnRejected("bad_signature", str(exc)) from exc
    check_sign_count(stored.sign_count, auth_data.sign_count)
    return VerifiedAssertion(
        credential_id=credential.raw_id,
        sign_count=auth_data.sign_count,
        user_verified=auth_data.flags.uv,
        backup_eligible=auth_data.flags.be,
        backup_state=auth_data.flags.bs,
    )


def check_sign_count(stored: int, received: int) -> None:
    """§7.2 step 22, with the cloned-authenticator signal treated as a failure.

    "If authData.signCount is nonzero or credentialRecord.signCount is nonzero, then run the
    following sub-step: If authData.signCount is greater than credentialRecord.signCount: The
    signature counter is valid. If authData.signCount is less than or equal to
    credentialRecord.signCount: This is a signal, but not proof, that the authenticator may be
    cloned [...] Relying Party-specific behavior." Many passkeys never count (0 then 0): allowed.
    """
    if (received or stored) and received <= stored:
        raise SignCountRegression(stored, received)


def _check_credential_and_user(
    credential: AuthenticationCredential, stored: StoredCredential, *, user_identified: bool
) -> None:
    # §7.2 step 5: "If options.allowCredentials is not empty, verify that credential.id identifies
    # one of the public key credentials listed in options.allowCredentials." The caller looked the
    # record up by this ID among the allowed ones; it must be the one presented.
    if credential.raw_id != stored.credential_id:
        raise WebAuthnRejected("unknown_credential")
    # §7.2 step 6: "If response.userHandle is present, verify that it equals the user handle of
    # the user account" [...] "If the user was not identified before the authentication ceremony
    # was initiated, verify that response.userHandle is present".
    handle = credential.response.user_handle
    if handle is None and not user_identified:
        raise WebAuthnRejected("user_handle_missing")
    if handle is not None and not secrets.compare_digest(handle, stored.user_handle):
        raise WebAuthnRejected("user_handle_mismatch")


def _check_client_data(raw: bytes, ceremony: str, challenge: bytes, origin: str) -> None:
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise WebAuthnRejected("malformed_client_data") from exc
    if not isinstance(data, dict):
        raise WebAuthnRejected("malformed_client_data")
    # §7.1 step 7 / §7.2 step 11: "Verify that the value of C.type is webauthn.create" (resp.
    # "the string webauthn.get"): a signature made for one ceremony is never accepted in another.
    if data.get("type") != ceremony:
        raise WebAuthnRejected("wrong_ceremony_type")
    # §7.1 step 8 / §7.2 step 12: "Verify that the value of C.challenge equals the base64url
    # encoding of pkOptions.challenge."
    if not secrets.compare_digest(str(data.get("challenge", "")), bytes_to_base64url(challenge)):
        raise WebAuthnRejected("wrong_challenge")
    # §7.1 step 9 / §7.2 step 13: "Verify that the value of C.origin is an origin expected by the
    # Relying Party." Only the public URL's origin is: this is what makes passkeys unphishable.
    if data.get("origin") != origin:
        raise WebAuthnRejected("wrong_origin")
    # §7.1 step 10 / §7.2 step 14: "If C.topOrigin is present: Verify that the Relying Party
    # expects this credential to be used within an iframe that is not same-origin with its
    # ancestors." We never do (frame-ancestors 'none').
    if "topOrigin" in data or data.get("crossOrigin") is True:
        raise WebAuthnRejected("cross_origin")


def _check_authenticator_flags(
    rp_id_hash: bytes, flags: AuthenticatorDataFlags, rp_id: str, *, require_uv: bool
) -> None:
    # §7.1 step 13 / §7.2 step 15: "Verify that the rpIdHash in authData is the SHA-256 hash of the
    # RP ID expected by the Relying Party."
    if not secrets.compare_digest(rp_id_hash, hashlib.sha256(rp_id.encode()).digest()):
        raise WebAuthnRejected("wrong_rp_id")
    # §7.1 step 14 / §7.2 step 16: "Verify that the UP bit of the flags in authData is set."
    if not flags.up:
        raise WebAuthnRejected("user_not_present")
    # §7.1 step 15 / §7.2 step 17: "If user verification was determined to be required, verify
    # that the UV bit of the flags in authData is set. Otherwise, ignore the value of the UV flag."
    if require_uv and not flags.uv:
        raise WebAuthnRejected("user_not_verified")
    # §7.1 step 16 / §7.2 step 18: "If the BE bit of the flags in authData is not set, verify that
    # the BS bit is not set."
    if flags.bs and not flags.be:
        raise WebAuthnRejected("invalid_backup_flags")


def _check_backup_eligibility(stored_be: bool, current_be: bool) -> None:
    # §7.2 step 19: "If credentialRecord.backupEligible is set, verify that currentBe is set. If
    # credentialRecord.backupEligible is not set, verify that currentBe is not set." Eligibility is
    # fixed at creation; a change means another authenticator, and device-bound keys are what
    # AAL3 rests on.
    if stored_be != current_be:
        raise WebAuthnRejected("backup_eligibility_changed")


def _parse_registration(response: str | Mapping[str, Any]) -> RegistrationCredential:
    _check_size(response)
    try:
        return parse_registration_credential_json(
            response if isinstance(response, str) else dict(response)
        )
    except (WebAuthnException, ValueError, TypeError) as exc:  # bad base64url and the like
        raise WebAuthnRejected("malformed_response") from exc


def _parse_assertion(response: str | Mapping[str, Any]) -> AuthenticationCredential:
    _check_size(response)
    try:
        return parse_authentication_credential_json(
            response if isinstance(response, str) else dict(response)
        )
    except (WebAuthnException, ValueError, TypeError) as exc:
        raise WebAuthnRejected("malformed_response") from exc


def _check_size(response: str | Mapping[str, Any]) -> None:
    if isinstance(response, str) and len(response) > MAX_RESPONSE_BYTES:
        raise WebAuthnRejected("malformed_response")


def _transports(credential: RegistrationCredential) -> tuple[str, ...]:
    found: list[AuthenticatorTransport] = credential.response.transports or []
    return tuple(transport.value for transport in found)


def _milliseconds(duration: timedelta) -> int:
    return int(duration.total_seconds() * 1000)
