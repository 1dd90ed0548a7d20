"""Passkeys and security keys: registration, passwordless sign-in and use as a second factor.

Each ceremony is begun and finished by the same browser: ``begin_*`` stores a fresh challenge under
the SHA-256 of a random ceremony token (the web edge keeps the token in an HttpOnly cookie) and
returns the options JSON; ``finish_*`` consumes that challenge atomically, whatever the outcome, so
a response is checked against a challenge at most once.

What a passkey proves, as RFC 8176 ``amr`` (see ``domain.passkeys``): ``hwk`` (device-bound, BE=0)
or ``swk`` (synced, BE=1), plus ``user`` when the UV flag is set. Passwordless sign-in requires UV:
without it, the key would be the only factor, a possession with no proof of who holds it. As a
second factor after the password, a key without UV is accepted and counts as one factor.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from webauthn.helpers import base64url_to_bytes, bytes_to_base64url

from quivive.clock import Clock
from quivive.domain.alerts import Alert, AlertSink
from quivive.domain.assurance import Verification
from quivive.domain.audit import AuditEvent, AuditSink, Outcome
from quivive.domain.passkeys import (
    MAX_PASSKEYS_PER_USER,
    Passkey,
    clean_passkey_name,
    passkey_amr,
)
from quivive.domain.sessions import hash_token, new_session_token
from quivive.domain.users import User
from quivive.errors import (
    ConflictError,
    NotFoundError,
    SignCountRegression,
    ValidationError,
    WebAuthnRejected,
)
from quivive.protocols.webauthn import (
    CEREMONY_TIMEOUT,
    RelyingParty,
    StoredCredential,
    VerifiedAssertion,
    authentication_options,
    claimed_credential,
    new_challenge,
    new_user_handle,
    registration_options,
    verify_assertion,
    verify_registration,
)
from quivive.services.mfa import Credential, Origin
from quivive.storage.passkeys import PasskeyRepository
from quivive.storage.users import UserRepository
from quivive.storage.webauthn_challenges import CeremonyRepository, PendingCeremony

FACTOR_NAME = "passkey"
REGISTER = "register"
PASSWORDLESS = "login"
SECOND_FACTOR = "second_factor"
REAUTHENTICATION = "reauth"
WITNESS = "witness"  # a colleague confirming an emergency access on the requester's screen
DEFAULT_NAME = "Passkey"  # the web edge passes a translated default; this is the last resort


@dataclass(frozen=True, slots=True)
class Ceremony:
    """A begun ceremony: ``token`` goes to the browser's cookie, ``options`` to its script."""

    token: str
    options: str


@dataclass(frozen=True, slots=True)
class PasskeySignIn:
    """A passwordless sign-in that passed: whose, with which key, proving what."""

    user: User
    passkey: Passkey
    amr: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PasskeyStores:
    passkeys: PasskeyRepository
    ceremonies: CeremonyRepository
    users: UserRepository


class PasskeyService:
    def __init__(
        self,
        stores: PasskeyStores,
        rp: RelyingParty,
        audit: AuditSink,
        alerts: AlertSink,
        clock: Clock,
    ) -> None:
        self._passkeys = stores.passkeys
        self._ceremonies = stores.ceremonies
        self._users = stores.users
        self._rp = rp
        self._audit = audit
        self._alerts = alerts
        self._clock = clock

    # --- registration ---------------------------------------------------------------------------

    def begin_registration(self, user: User) -> Ceremony:
        """Options for a new key; the caller has checked the recent re-authentication."""
        existing = self._passkeys.for_user(user.id)
        if len(existing) >= MAX_PASSKEYS_PER_USER:
            raise ValidationError("too many passkeys", field="passkey", reason="too_many")
        handle = existing[0].user_handle if existing else new_user_handle()
        challenge = new_challenge()
        options = registration_options(
            self._rp,
            challenge=challenge,
            user_handle=handle,
            username=user.username,
            display_name=user.display_name,
            exclude=[passkey.credential_id for passkey in existing],
        )
        return self._begin(REGISTER, user.id, challenge, options, handle)

    def finish_registration(
        self,
        user: User,
        token: str,
        response: str | Mapping[str, Any],
        name: str | None,
        origin: Origin,
    ) -> Passkey:
        try:
            passkey = self._register(user, token, response, name)
        except WebAuthnRejected as refused:
            details = {"factor": FACTOR_NAME}
            self._record(
                "factor.added", Outcome.FAILURE, user.username, origin, details, refused.reason
            )
            raise
        self._record("factor.added", Outcome.SUCCESS, user.username, origin, _describe(passkey))
        return passkey

    def _register(
        self, user: User, token: str, response: str | Mapping[str, Any], name: str | None
    ) -> Passkey:
        pending = self._consume(token, REGISTER, user.id)
        if pending.user_handle is None:
            raise WebAuthnRejected("ceremony_unknown")
        challenge = base64url_to_bytes(pending.challenge)
        new = verify_registration(self._rp, response, challenge=challenge)
        try:
            return self._passkeys.add(
                user.id,
                new,
                user_handle=base64url_to_bytes(pending.user_handle),
                name=clean_passkey_name(name, fallback=DEFAULT_NAME),
                now=self._clock.now(),
            )
        except ConflictError as exc:
            raise WebAuthnRejected("already_registered") from exc

    # --- passwordless sign-in -------------------------------------------------------------------

    def begin_passwordless(self) -> Ceremony:
        """Options for a discoverable key, UV required (it must stand alone as two factors)."""
        challenge = new_challenge()
        options = authentication_options(self._rp, challenge=challenge, require_uv=True)
        return self._begin(PASSWORDLESS, None, challenge, options)

    def finish_passwordless(
        self, token: str, response: str | Mapping[str, Any], origin: Origin
    ) -> PasskeySignIn:
        try:
            pending = self._consume(token, PASSWORDLESS, None)
            passkey, user = self._claimed(response)
        except WebAuthnRejected as refused:
            self._record("login.passkey", Outcome.FAILURE, None, origin, {}, refused.reason)
            raise
        details = {**_describe(passkey), "mode": "passwordless"}
        verified = self._verify(pending, response, passkey, user, origin, details, require_uv=True)
        if not user.is_active:
            self._record(
                "login.passkey", Outcome.FAILURE, user.username, origin, details, "disabled"
            )
            raise WebAuthnRejected("disabled")
        self._users.record_login(user.id, self._clock.now())
        amr = passkey_amr(
            backup_eligible=passkey.backup_eligible, user_verified=verified.user_verified
        )
        self._record("login.passkey", Outcome.SUCCESS, user.username, origin, details)
        return PasskeySignIn(user, passkey, amr)

    # --- second factor after the password -------------------------------------------------------

    def begin_second_factor(self, user: User) -> Ceremony:
        """Options listing the user's keys; UV preferred, not required (see the module text)."""
        return self._begin_for_own_keys(SECOND_FACTOR, user, require_uv=False)

    def finish_second_factor(
        self, user: User, token: str, response: str | Mapping[str, Any], origin: Origin
    ) -> Verification:
        """The proof for ``MfaService.upgrade``, which audits the success as ``login.passkey``."""
        details = {"mode": "second_factor"}
        pending, passkey = self._claim_own(token, SECOND_FACTOR, user, response, origin, details)
        details = {**_describe(passkey), **details}
        verified = self._verify(pending, response, passkey, user, origin, details, require_uv=False)
        amr = passkey_amr(
            backup_eligible=passkey.backup_eligible, user_verified=verified.user_verified
        )
        return Verification(factor=FACTOR_NAME, amr=amr, credential_id=str(passkey.id))

    # --- re-authentication before a factor change -----------------------------------------------

    def begin_reauthentication(self, user: User) -> Ceremony:
        """Options for proving "still me" with one of the user's own keys, user verification on.

        Re-authentication stands in for the password here (ASVS 7.5.1), so it needs what a
        passwordless sign-in needs: the key and the PIN or biometric that unlocks it.
        """
        return self._begin_for_own_keys(REAUTHENTICATION, user, require_uv=True)

    def finish_reauthentication(
        self, user: User, token: str, response: str | Mapping[str, Any], origin: Origin
    ) -> None:
        """Raise ``WebAuthnRejected`` unless one of ``user``'s keys signed the challenge with UV."""
        details = {"mode": "reauthentication"}
        pending, passkey = self._claim_own(token, REAUTHENTICATION, user, response, origin, details)
        details = {**_describe(passkey), **details}
        self._verify(pending, response, passkey, user, origin, details, require_uv=True)

    # --- a colleague confirming an emergency access ----------------------------------------------

    def begin_witness(self) -> Ceremony:
        """Options for any user's discoverable key, user verification on.

        The colleague is found from their key, so nobody types a name to probe; their key and
        the PIN or biometric that unlocks it prove they are the one present. The ceremony has
        its own purpose: its assertion can never be replayed as a sign-in.
        """
        challenge = new_challenge()
        options = authentication_options(self._rp, challenge=challenge, require_uv=True)
        return self._begin(WITNESS, None, challenge, options)

    def finish_witness(self, token: str, response: str | Mapping[str, Any], origin: Origin) -> User:
        """The user whose key signed the witness challenge with UV, or ``WebAuthnRejected``."""
        details = {"mode": "witness"}
        try:
            pending = self._consume(token, WITNESS, None)
            passkey, user = self._claimed(response)
        except WebAuthnRejected as refused:
            self._record("login.passkey", Outcome.FAILURE, None, origin, details, refused.reason)
            raise
        details = {**_describe(passkey), **details}
        self._verify(pending, response, passkey, user, origin, details, require_uv=True)
        return user

    # --- the account page -----------------------------------------------------------------------

    def list_for_user(self, user_id: int) -> list[Passkey]:
        return self._passkeys.for_user(user_id)

    def rename(self, user_id: int, passkey_id: int, name: str) -> bool:
        return self._passkeys.rename(
            user_id, passkey_id, clean_passkey_name(name, fallback=DEFAULT_NAME)
        )

    def remove(self, user_id: int, passkey_id: int) -> bool:
        """Remove one key; the caller checks re-authentication and the last-factor rule."""
        return self._passkeys.remove(user_id, passkey_id)

    def remove_all(self, user_id: int) -> int:
        return sum(self.remove(user_id, passkey.id) for passkey in self.list_for_user(user_id))

    # --- internals ------------------------------------------------------------------------------

    def _begin_for_own_keys(self, purpose: str, user: User, *, require_uv: bool) -> Ceremony:
        """A ceremony for ``purpose`` that only ``user``'s own registered keys can answer."""
        allow = [passkey.credential_id for passkey in self._passkeys.for_user(user.id)]
        if not allow:
            raise NotFoundError("no passkey registered")
        challenge = new_challenge()
        options = authentication_options(
            self._rp, challenge=challenge, allow=allow, require_uv=require_uv
        )
        return self._begin(purpose, user.id, challenge, options)

    def _begin(
        self,
        purpose: str,
        user_id: int | None,
        challenge: bytes,
        options: str,
        handle: bytes | None = None,
    ) -> Ceremony:
        token, token_hash = new_session_token()
        now = self._clock.now()
        pending = PendingCeremony(
            purpose=purpose,
            user_id=user_id,
            challenge=bytes_to_base64url(challenge),
            expires_at=now + CEREMONY_TIMEOUT,
            user_handle=None if handle is None else bytes_to_base64url(handle),
        )
        self._ceremonies.add(token_hash, pending, now=now)
        return Ceremony(token=token, options=options)

    def _consume(self, token: str, purpose: str, user_id: int | None) -> PendingCeremony:
        pending = None
        if token and len(token) <= 128:
            pending = self._ceremonies.consume(hash_token(token), purpose, now=self._clock.now())
        # Unknown, used, expired or begun for someone else: one answer, "start again".
        if pending is None or pending.user_id != user_id:
            raise WebAuthnRejected("ceremony_unknown")
        return pending

    def _claim_own(
        self,
        token: str,
        purpose: str,
        user: User,
        response: str | Mapping[str, Any],
        origin: Origin,
        details: dict[str, str],
    ) -> tuple[PendingCeremony, Passkey]:
        """The live ceremony begun for ``user`` and the key it names, which must be theirs."""
        try:
            pending = self._consume(token, purpose, user.id)
            passkey, owner = self._claimed(response)
            if owner.id != user.id:
                raise WebAuthnRejected("unknown_credential")
        except WebAuthnRejected as refused:
            self._record(
                "login.passkey", Outcome.FAILURE, user.username, origin, details, refused.reason
            )
            raise
        return pending, passkey

    def _claimed(self, response: str | Mapping[str, Any]) -> tuple[Passkey, User]:
        passkey = self._passkeys.find(claimed_credential(response).credential_id)
        if passkey is None:
            raise WebAuthnRejected("unknown_credential")
        try:
            return passkey, self._users.get(passkey.user_id)
        except NotFoundError as exc:
            raise WebAuthnRejected("unknown_credential") from exc

    def _verify(
        self,
        pending: PendingCeremony,
        response: str | Mapping[str, Any],
        passkey: Passkey,
        user: User,
        origin: Origin,
        details: dict[str, str],
        *,
        require_uv: bool,
    ) -> VerifiedAssertion:
        try:
            verified = verify_assertion(
                self._rp,
                response,
                challenge=base64url_to_bytes(pending.challenge),
                stored=_stored(passkey),
                require_uv=require_uv,
                user_identified=pending.user_id is not None,
            )
            self._store_counter(passkey, verified)
        except SignCountRegression as regression:
            self._record_regression(passkey, user, origin, details, regression)
            raise
        except WebAuthnRejected as refused:
            self._record(
                "login.passkey", Outcome.FAILURE, user.username, origin, details, refused.reason
            )
            raise
        return verified

    def _store_counter(self, passkey: Passkey, verified: VerifiedAssertion) -> None:
        stored = self._passkeys.record_use(
            passkey.id,
            sign_count=verified.sign_count,
            backup_state=verified.backup_state,
            now=self._clock.now(),
        )
        if not stored:
            # Another request stored this counter (or a higher one) since we read the record.
            raise SignCountRegression(passkey.sign_count, verified.sign_count)

    def _record_regression(
        self,
        passkey: Passkey,
        user: User,
        origin: Origin,
        details: dict[str, str],
        regression: SignCountRegression,
    ) -> None:
        counts = {"stored": str(regression.stored), "received": str(regression.received)}
        self._record(
            "passkey.counter_regression",
            Outcome.FAILURE,
            user.username,
            origin,
            {**details, **counts},
            "possible_cloned_authenticator",
        )
        self._record(
            "login.passkey", Outcome.FAILURE, user.username, origin, details, regression.reason
        )
        # A key answering with an old counter may have been copied: someone should look now.
        self._alerts.send(
            Alert(
                kind="passkey.counter_regression",
                at=self._clock.now(),
                summary=f"Passkey signature counter went backwards for {user.username}: "
                "possible cloned authenticator",
                source_address=origin.source_address,
                details={**details, **counts},
            )
        )

    def _record(
        self,
        action: str,
        outcome: Outcome,
        username: str | None,
        origin: Origin,
        details: dict[str, str],
        reason: str | None = None,
    ) -> None:
        self._audit.record(
            AuditEvent(
                action=action,
                outcome=outcome,
                at=self._clock.now(),
                actor=username,
                subject=username,
                reason=reason,
                source_address=origin.source_address,
                user_agent=origin.user_agent,
                request_id=origin.request_id,
                details=details,
            )
        )


class PasskeyFactor:
    """The passkey as a ``services.mfa.SecondFactor`` for the sign-in flow and account page."""

    name = FACTOR_NAME
    label = "Passkey or security key"  # the web edge shows web.messages.FACTOR_LABELS["passkey"]
    amr_values = frozenset({"hwk", "swk", "user"})
    phishing_resistant = True
    is_backup = False
    verify_path = "/login/second-factor/passkey"
    enrol_path: str | None = "/account/passkeys"

    def __init__(self, passkeys: PasskeyService) -> None:
        self._passkeys = passkeys

    def credentials(self, user_id: int) -> list[Credential]:
        return [
            Credential(FACTOR_NAME, str(key.id), key.name, key.created_at, key.last_used_at)
            for key in self._passkeys.list_for_user(user_id)
        ]

    def rename(self, user_id: int, credential_id: str, name: str) -> bool:
        return credential_id.isdigit() and self._passkeys.rename(user_id, int(credential_id), name)

    def remove(self, user_id: int, credential_id: str) -> bool:
        return credential_id.isdigit() and self._passkeys.remove(user_id, int(credential_id))

    def remove_all(self, user_id: int) -> int:
        return self._passkeys.remove_all(user_id)


def _stored(passkey: Passkey) -> StoredCredential:
    return StoredCredential(
        credential_id=passkey.credential_id,
        public_key=passkey.public_key,
        sign_count=passkey.sign_count,
        backup_eligible=passkey.backup_eligible,
        user_handle=passkey.user_handle,
    )


def _describe(passkey: Passkey) -> dict[str, str]:
    """Audit details: which key and what kind; never key material."""
    return {
        "factor": FACTOR_NAME,
        "credential": str(passkey.id),
        "aaguid": passkey.aaguid,
        "synced": "yes" if passkey.backup_eligible else "no",
        "user_verified": "yes" if passkey.user_verified else "no",
    }
