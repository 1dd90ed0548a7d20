import json

import pytest

from quivive.errors import SignCountRegression, WebAuthnRejected
from quivive.protocols.webauthn import (
    NewCredential,
    RelyingParty,
    StoredCredential,
    VerifiedAssertion,
    authentication_options,
    check_sign_count,
    claimed_credential,
    new_challenge,
    new_user_handle,
    registration_options,
    verify_assertion,
    verify_registration,
)
from support.soft_authenticator import SoftAuthenticator

RP = RelyingParty(id="auth.chu.example", name="CHU", origin="https://auth.chu.example")


@pytest.fixture
def key() -> SoftAuthenticator:
    return SoftAuthenticator(origin=RP.origin, rp_id=RP.id)


def register(key: SoftAuthenticator) -> tuple[NewCredential, bytes]:
    challenge, handle = new_challenge(), new_user_handle()
    options = registration_options(
        RP, challenge=challenge, user_handle=handle, username="alice", display_name="Alice"
    )
    return verify_registration(RP, key.register(options), challenge=challenge), handle


def stored(new: NewCredential, handle: bytes) -> StoredCredential:
    return StoredCredential(
        credential_id=new.credential_id,
        public_key=new.public_key,
        sign_count=new.sign_count,
        backup_eligible=new.backup_eligible,
        user_handle=handle,
    )


def authenticate(
    key: SoftAuthenticator, record: StoredCredential, *, require_uv: bool = True
) -> VerifiedAssertion:
    challenge = new_challenge()
    options = authentication_options(RP, challenge=challenge, require_uv=require_uv)
    return verify_assertion(
        RP,
        key.assertion(options),
        challenge=challenge,
        stored=record,
        require_uv=require_uv,
        user_identified=False,
    )


def test_registration_options_name_the_rp_and_prefer_a_discoverable_key() -> None:
    options = json.loads(
        registration_options(
            RP, challenge=b"c" * 32, user_handle=b"h" * 32, username="alice", display_name="A"
        )
    )

    assert options["rp"] == {"id": "auth.chu.example", "name": "CHU"}
    assert options["authenticatorSelection"]["residentKey"] == "preferred"
    assert options["attestation"] == "none"
    assert options["timeout"] == 300_000


def test_passwordless_options_require_user_verification_and_allow_any_key() -> None:
    options = json.loads(authentication_options(RP, challenge=b"c" * 32, require_uv=True))

    assert options["userVerification"] == "required"
    assert options["allowCredentials"] == []


def test_registration_records_flags_and_aaguid(key: SoftAuthenticator) -> None:
    key.backup_eligible = key.backup_state = True
    key.aaguid = bytes(range(16))

    new, _ = register(key)

    assert new.credential_id == key.credential_id
    assert (new.user_verified, new.backup_eligible, new.backup_state) == (True, True, True)
    assert new.aaguid == "00010203-0405-0607-0809-0a0b0c0d0e0f"
    assert new.transports == ("internal",)


def test_assertion_verifies_and_reports_the_new_counter(key: SoftAuthenticator) -> None:
    new, handle = register(key)

    verified = authenticate(key, stored(new, handle))

    assert verified.sign_count == 1
    assert verified.user_verified is True
    assert verified.credential_id == key.credential_id


def test_claimed_credential_names_id_and_user_handle(key: SoftAuthenticator) -> None:
    _, handle = register(key)
    options = authentication_options(RP, challenge=new_challenge(), require_uv=True)

    claimed = claimed_credential(key.assertion(options))

    assert (claimed.credential_id, claimed.user_handle) == (key.credential_id, handle)


@pytest.mark.parametrize(
    ("attribute", "value", "reason"),
    [
        ("origin", "https://evil.example", "wrong_origin"),
        ("origin", "http://auth.chu.example", "wrong_origin"),
        ("rp_id", "evil.example", "wrong_rp_id"),
        ("user_present", False, "user_not_present"),
    ],
)
def test_registration_refused(
    key: SoftAuthenticator, attribute: str, value: object, reason: str
) -> None:
    setattr(key, attribute, value)

    with pytest.raises(WebAuthnRejected) as refused:
        register(key)

    assert refused.value.reason == reason


@pytest.mark.parametrize(
    ("attribute", "value", "reason"),
    [
        ("origin", "https://evil.example", "wrong_origin"),
        ("rp_id", "chu.example", "wrong_rp_id"),
        ("user_verified", False, "user_not_verified"),
        ("backup_eligible", True, "backup_eligibility_changed"),
    ],
)
def test_assertion_refused(
    key: SoftAuthenticator, attribute: str, value: object, reason: str
) -> None:
    new, handle = register(key)
    setattr(key, attribute, value)

    with pytest.raises(WebAuthnRejected) as refused:
        authenticate(key, stored(new, handle))

    assert refused.value.reason == reason


def test_assertion_without_uv_passes_when_uv_is_not_required(key: SoftAuthenticator) -> None:
    new, handle = register(key)
    key.user_verified = False

    verified = authenticate(key, stored(new, handle), require_uv=False)

    assert verified.user_verified is False


def test_backup_state_without_eligibility_is_refused(key: SoftAuthenticator) -> None:
    key.backup_state = True

    with pytest.raises(WebAuthnRejected) as refused:
        register(key)

    assert refused.value.reason == "invalid_backup_flags"


def test_assertion_for_another_challenge_is_refused(key: SoftAuthenticator) -> None:
    new, handle = register(key)
    options = authentication_options(RP, challenge=new_challenge(), require_uv=True)

    with pytest.raises(WebAuthnRejected) as refused:
        verify_assertion(
            RP,
            key.assertion(options),
            challenge=new_challenge(),
            stored=stored(new, handle),
            require_uv=True,
            user_identified=False,
        )

    assert refused.value.reason == "wrong_challenge"


def test_signature_by_another_key_is_refused(key: SoftAuthenticator) -> None:
    new, handle = register(key)
    impostor = SoftAuthenticator(
        origin=RP.origin, rp_id=RP.id, credential_id=key.credential_id, user_handle=handle
    )

    with pytest.raises(WebAuthnRejected) as refused:
        authenticate(impostor, stored(new, handle))

    assert refused.value.reason == "bad_signature"


def test_registration_response_is_not_an_assertion(key: SoftAuthenticator) -> None:
    challenge = new_challenge()
    options = json.loads(authentication_options(RP, challenge=challenge, require_uv=True))
    options["user"] = {"id": "aGFuZGxl"}
    new, handle = register(key)
    registration = key.register(options)
    registration["response"] |= {"authenticatorData": "AA", "signature": "AA"}

    with pytest.raises(WebAuthnRejected) as refused:
        verify_assertion(
            RP,
            registration,
            challenge=challenge,
            stored=stored(new, handle),
            require_uv=True,
            user_identified=True,
        )

    assert refused.value.reason == "wrong_ceremony_type"


def test_user_handle_must_match_the_credential_owner(key: SoftAuthenticator) -> None:
    new, _ = register(key)

    with pytest.raises(WebAuthnRejected) as refused:
        authenticate(key, stored(new, new_user_handle()))

    assert refused.value.reason == "user_handle_mismatch"


def test_passwordless_needs_a_user_handle(key: SoftAuthenticator) -> None:
    new, handle = register(key)
    key.user_handle = None

    with pytest.raises(WebAuthnRejected) as refused:
        authenticate(key, stored(new, handle))

    assert refused.value.reason == "user_handle_missing"


@pytest.mark.parametrize(("stored_count", "received"), [(0, 0), (0, 1), (5, 6), (5, 500)])
def test_sign_count_accepted(stored_count: int, received: int) -> None:
    check_sign_count(stored_count, received)


@pytest.mark.parametrize(("stored_count", "received"), [(5, 5), (5, 4), (5, 0), (1, 0)])
def test_sign_count_regression_refused(stored_count: int, received: int) -> None:
    with pytest.raises(SignCountRegression):
        check_sign_count(stored_count, received)


def test_malformed_response_is_refused() -> None:
    with pytest.raises(WebAuthnRejected) as refused:
        verify_registration(RP, '{"id": 1}', challenge=new_challenge())

    assert refused.value.reason == "malformed_response"
