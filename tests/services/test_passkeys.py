from datetime import timedelta
from typing import Any

import pytest

from quivive.clock import FrozenClock
from quivive.composition import Services
from quivive.domain.alerts import Alert
from quivive.domain.passkeys import MAX_PASSKEYS_PER_USER
from quivive.domain.users import User
from quivive.errors import SignCountRegression, ValidationError, WebAuthnRejected
from quivive.protocols.webauthn import RelyingParty
from quivive.services.accounts import NewAccount
from quivive.services.mfa import Origin, SecondFactor
from quivive.services.passkeys import PasskeyFactor, PasskeyService, PasskeyStores
from quivive.storage.passkeys import PasskeyRepository
from quivive.storage.webauthn_challenges import CeremonyRepository
from support.quivive import RecordingAudit
from support.soft_authenticator import SoftAuthenticator

ORIGIN = Origin(source_address="192.0.2.7", user_agent="test", request_id="req-1")


@pytest.fixture
def passkeys(services: Services) -> PasskeyService:
    return services.passkeys


@pytest.fixture
def alice(services: Services) -> User:
    return services.accounts.create(NewAccount(username="alice"), actor="test")


def new_key(services: Services, **flags: Any) -> SoftAuthenticator:
    origin = services.settings.public_url
    return SoftAuthenticator(origin=origin, rp_id=services.settings.public_host, **flags)


def register(passkeys: PasskeyService, user: User, key: SoftAuthenticator, name: str = "") -> int:
    ceremony = passkeys.begin_registration(user)
    response = key.register(ceremony.options)
    return passkeys.finish_registration(user, ceremony.token, response, name, ORIGIN).id


def sign_in(passkeys: PasskeyService, key: SoftAuthenticator) -> tuple[str, ...]:
    ceremony = passkeys.begin_passwordless()
    return passkeys.finish_passwordless(ceremony.token, key.assertion(ceremony.options), ORIGIN).amr


def refused_reason(call: Any, *args: Any) -> str:
    with pytest.raises(WebAuthnRejected) as refused:
        call(*args)
    return refused.value.reason


def test_register_then_sign_in_without_password(
    services: Services, passkeys: PasskeyService, alice: User, audit: RecordingAudit
) -> None:
    key = new_key(services)
    register(passkeys, alice, key, "Bureau infirmier")

    ceremony = passkeys.begin_passwordless()
    signed_in = passkeys.finish_passwordless(
        ceremony.token, key.assertion(ceremony.options), ORIGIN
    )

    assert signed_in.user.id == alice.id
    assert signed_in.amr == ("hwk", "user")
    assert signed_in.passkey.name == "Bureau infirmier"
    assert ("factor.added", "success") in audit.actions()
    assert audit.actions()[-1] == ("login.passkey", "success")
    assert audit.events[-1].details["mode"] == "passwordless"


def test_use_updates_counter_and_last_use(
    services: Services, passkeys: PasskeyService, alice: User, clock: FrozenClock
) -> None:
    key = new_key(services)
    register(passkeys, alice, key)
    clock.advance(timedelta(hours=1))

    sign_in(passkeys, key)

    [stored] = passkeys.list_for_user(alice.id)
    assert stored.sign_count == 1
    assert stored.last_used_at == clock.now()
    assert stored.created_at == clock.now() - timedelta(hours=1)


def test_sign_count_regression_is_refused_and_audited(
    services: Services, passkeys: PasskeyService, alice: User, audit: RecordingAudit
) -> None:
    key = new_key(services, sign_count=10)
    register(passkeys, alice, key)
    sign_in(passkeys, key)  # stored counter: 11
    key.sign_count = 5  # a clone that started from an older copy

    with pytest.raises(SignCountRegression):
        sign_in(passkeys, key)

    regression = next(e for e in audit.events if e.action == "passkey.counter_regression")
    assert regression.subject == "alice"
    assert regression.details["stored"] == "11"
    assert regression.details["received"] == "6"
    assert audit.actions()[-1] == ("login.passkey", "failure")
    assert passkeys.list_for_user(alice.id)[0].sign_count == 11


def test_keys_that_do_not_count_are_accepted(
    services: Services, passkeys: PasskeyService, alice: User
) -> None:
    key = new_key(services, counts=False)
    register(passkeys, alice, key)

    assert sign_in(passkeys, key) == ("hwk", "user")
    assert sign_in(passkeys, key) == ("hwk", "user")


def test_wrong_origin_is_refused(
    services: Services, passkeys: PasskeyService, alice: User, audit: RecordingAudit
) -> None:
    key = new_key(services)
    register(passkeys, alice, key)
    key.origin = "http://localhost.evil.example:8080"

    assert refused_reason(sign_in, passkeys, key) == "wrong_origin"
    assert audit.events[-1].reason == "wrong_origin"


def test_wrong_rp_id_is_refused_at_registration(
    services: Services, passkeys: PasskeyService, alice: User, audit: RecordingAudit
) -> None:
    key = new_key(services)
    key.rp_id = "evil.example"

    assert refused_reason(register, passkeys, alice, key) == "wrong_rp_id"
    assert passkeys.list_for_user(alice.id) == []
    assert audit.actions()[-1] == ("factor.added", "failure")
    assert audit.events[-1].reason == "wrong_rp_id"


def test_passwordless_without_user_verification_is_refused(
    services: Services, passkeys: PasskeyService, alice: User, audit: RecordingAudit
) -> None:
    # Alone, a key without UV proves possession only: one factor. Passwordless sign-in must be
    # multi-factor, so the server asks for UV ("required") and refuses an assertion without it.
    key = new_key(services, user_verified=False)
    register(passkeys, alice, key)

    assert refused_reason(sign_in, passkeys, key) == "user_not_verified"
    assert audit.events[-1].reason == "user_not_verified"


def test_second_factor_without_user_verification_counts_as_one_factor(
    services: Services, passkeys: PasskeyService, alice: User
) -> None:
    # After the password, possession is the missing second factor: accepted, as "hwk" alone.
    key = new_key(services, user_verified=False)
    register(passkeys, alice, key)

    ceremony = passkeys.begin_second_factor(alice)
    proof = passkeys.finish_second_factor(
        alice, ceremony.token, key.assertion(ceremony.options), ORIGIN
    )

    assert proof.factor == "passkey"
    assert proof.amr == ("hwk",)


def test_second_factor_with_user_verification_adds_user(
    services: Services, passkeys: PasskeyService, alice: User
) -> None:
    key = new_key(services)
    passkey_id = register(passkeys, alice, key)

    ceremony = passkeys.begin_second_factor(alice)
    proof = passkeys.finish_second_factor(
        alice, ceremony.token, key.assertion(ceremony.options), ORIGIN
    )

    assert proof.amr == ("hwk", "user")
    assert proof.credential_id == str(passkey_id)


def test_second_factor_refuses_another_users_key(
    services: Services, passkeys: PasskeyService, alice: User
) -> None:
    bob = services.accounts.create(NewAccount(username="bob"), actor="test")
    register(passkeys, alice, new_key(services))
    bobs_key = new_key(services)
    register(passkeys, bob, bobs_key)

    ceremony = passkeys.begin_second_factor(alice)
    response = bobs_key.assertion(ceremony.options)

    assert (
        refused_reason(passkeys.finish_second_factor, alice, ceremony.token, response, ORIGIN)
        == "unknown_credential"
    )


def test_replayed_response_is_refused(
    services: Services, passkeys: PasskeyService, alice: User
) -> None:
    key = new_key(services, counts=False)  # so only the single-use challenge can stop it
    register(passkeys, alice, key)
    ceremony = passkeys.begin_passwordless()
    response = key.assertion(ceremony.options)
    passkeys.finish_passwordless(ceremony.token, response, ORIGIN)

    assert (
        refused_reason(passkeys.finish_passwordless, ceremony.token, response, ORIGIN)
        == "ceremony_unknown"
    )


def test_challenge_of_another_ceremony_is_refused(
    services: Services, passkeys: PasskeyService, alice: User
) -> None:
    key = new_key(services)
    register(passkeys, alice, key)
    first, second = passkeys.begin_passwordless(), passkeys.begin_passwordless()

    response = key.assertion(first.options)

    assert (
        refused_reason(passkeys.finish_passwordless, second.token, response, ORIGIN)
        == "wrong_challenge"
    )


def test_expired_challenge_is_refused(
    services: Services, passkeys: PasskeyService, alice: User, clock: FrozenClock
) -> None:
    key = new_key(services)
    register(passkeys, alice, key)
    ceremony = passkeys.begin_passwordless()
    response = key.assertion(ceremony.options)
    clock.advance(timedelta(minutes=5, seconds=1))

    assert (
        refused_reason(passkeys.finish_passwordless, ceremony.token, response, ORIGIN)
        == "ceremony_unknown"
    )


def test_challenge_just_inside_its_lifetime_is_accepted(
    services: Services, passkeys: PasskeyService, alice: User, clock: FrozenClock
) -> None:
    key = new_key(services)
    register(passkeys, alice, key)
    ceremony = passkeys.begin_passwordless()
    clock.advance(timedelta(minutes=4, seconds=59))

    passkeys.finish_passwordless(ceremony.token, key.assertion(ceremony.options), ORIGIN)


def test_registration_ceremony_is_bound_to_its_user(
    services: Services, passkeys: PasskeyService, alice: User
) -> None:
    bob = services.accounts.create(NewAccount(username="bob"), actor="test")
    ceremony = passkeys.begin_registration(alice)
    response = new_key(services).register(ceremony.options)

    assert (
        refused_reason(passkeys.finish_registration, bob, ceremony.token, response, "", ORIGIN)
        == "ceremony_unknown"
    )


def test_synced_passkey_records_backup_flags_and_proves_swk(
    services: Services, passkeys: PasskeyService, alice: User
) -> None:
    key = new_key(services, backup_eligible=True, backup_state=True, aaguid=bytes(range(16)))
    register(passkeys, alice, key)

    [stored] = passkeys.list_for_user(alice.id)
    assert (stored.backup_eligible, stored.backup_state, stored.synced) == (True, True, True)
    assert stored.aaguid == "00010203-0405-0607-0809-0a0b0c0d0e0f"
    assert sign_in(passkeys, key) == ("swk", "user")


def test_backup_state_change_is_stored(
    services: Services, passkeys: PasskeyService, alice: User
) -> None:
    key = new_key(services, backup_eligible=True, backup_state=False)
    register(passkeys, alice, key)
    key.backup_state = True

    sign_in(passkeys, key)

    assert passkeys.list_for_user(alice.id)[0].backup_state is True


def test_several_passkeys_per_user(
    services: Services, passkeys: PasskeyService, alice: User
) -> None:
    phone, usb_key = new_key(services, backup_eligible=True), new_key(services)
    register(passkeys, alice, phone, "Téléphone")
    register(passkeys, alice, usb_key, "Clé USB")

    names = [passkey.name for passkey in passkeys.list_for_user(alice.id)]
    assert names == ["Téléphone", "Clé USB"]
    assert phone.user_handle == usb_key.user_handle  # one account, one handle
    assert sign_in(passkeys, phone) == ("swk", "user")
    assert sign_in(passkeys, usb_key) == ("hwk", "user")


def test_registration_excludes_keys_already_registered(
    services: Services, passkeys: PasskeyService, alice: User
) -> None:
    key = new_key(services)
    register(passkeys, alice, key)

    ceremony = passkeys.begin_registration(alice)

    assert key.register(ceremony.options)["id"] in ceremony.options
    assert (
        refused_reason(
            passkeys.finish_registration,
            alice,
            ceremony.token,
            key.register(ceremony.options),
            "",
            ORIGIN,
        )
        == "already_registered"
    )


def test_rename_and_remove(services: Services, passkeys: PasskeyService, alice: User) -> None:
    passkey_id = register(passkeys, alice, new_key(services))

    assert passkeys.rename(alice.id, passkey_id, "  Poste de soins 3 ")
    assert passkeys.list_for_user(alice.id)[0].name == "Poste de soins 3"
    assert not passkeys.remove(alice.id + 1, passkey_id)
    assert passkeys.remove(alice.id, passkey_id)
    assert passkeys.list_for_user(alice.id) == []


def test_removed_passkey_no_longer_signs_in(
    services: Services, passkeys: PasskeyService, alice: User
) -> None:
    key = new_key(services)
    passkeys.remove(alice.id, register(passkeys, alice, key))

    assert refused_reason(sign_in, passkeys, key) == "unknown_credential"


def test_disabled_account_cannot_sign_in_with_its_passkey(
    services: Services, passkeys: PasskeyService, alice: User
) -> None:
    key = new_key(services)
    register(passkeys, alice, key)
    services.accounts.disable("alice", actor="admin")

    assert refused_reason(sign_in, passkeys, key) == "disabled"


def test_factor_plugs_into_the_mfa_flow(
    services: Services, passkeys: PasskeyService, alice: User
) -> None:
    factor: SecondFactor = PasskeyFactor(passkeys)
    passkey_id = register(passkeys, alice, new_key(services), "Clé")

    [credential] = factor.credentials(alice.id)
    assert (credential.factor, credential.id, credential.name) == (
        "passkey",
        str(passkey_id),
        "Clé",
    )
    assert factor.rename(alice.id, credential.id, "Clé bleue")
    assert not factor.remove(alice.id, "not-a-number")
    assert factor.remove_all(alice.id) == 1


class RecordingAlerts:
    def __init__(self) -> None:
        self.alerts: list[Alert] = []

    def send(self, alert: Alert) -> None:
        self.alerts.append(alert)


def test_sign_count_regression_alerts_the_security_officer(
    services: Services, alice: User, audit: RecordingAudit, clock: FrozenClock
) -> None:
    alerts = RecordingAlerts()
    rp = RelyingParty(services.settings.public_host, "CHU", services.settings.public_url)
    stores = PasskeyStores(
        PasskeyRepository(services.engine), CeremonyRepository(services.engine), services.users
    )
    passkeys = PasskeyService(stores, rp, audit, alerts, clock)
    key = new_key(services, sign_count=3)
    register(passkeys, alice, key)
    key.sign_count = 1

    with pytest.raises(SignCountRegression):
        sign_in(passkeys, key)

    [alert] = alerts.alerts
    assert alert.kind == "passkey.counter_regression"
    assert "alice" in alert.summary
    assert alert.source_address == ORIGIN.source_address


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("  Clé\u0000 bleue\n", "Clé bleue"),
        ("x" * 100, "x" * 64),
        ("\u200b", "Passkey"),
        ("ﬁole", "fiole"),  # NFKC
    ],
)
def test_names_are_tidied_not_refused(
    services: Services, passkeys: PasskeyService, alice: User, given: str, kept: str
) -> None:
    passkey_id = register(passkeys, alice, new_key(services), given)
    assert passkeys.list_for_user(alice.id)[0].name == kept

    assert passkeys.rename(alice.id, passkey_id, given)
    assert passkeys.list_for_user(alice.id)[0].name == kept


def test_registrations_stop_at_the_per_user_limit(
    services: Services, passkeys: PasskeyService, alice: User
) -> None:
    for _ in range(MAX_PASSKEYS_PER_USER):
        register(passkeys, alice, new_key(services))

    with pytest.raises(ValidationError) as refused:
        passkeys.begin_registration(alice)

    assert refused.value.details["reason"] == "too_many"
