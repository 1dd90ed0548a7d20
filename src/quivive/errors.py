"""The one error tree of Quivive.

Each class carries a stable string ``code``; no HTTP status lives here. The edges (web routes,
OIDC endpoints, CLI) translate codes into responses, pages or exit codes.
"""

from __future__ import annotations

from datetime import datetime


class QuiviveError(Exception):
    """Base of every error Quivive raises on purpose."""

    code = "quivive_error"

    def __init__(self, message: str = "", **details: object) -> None:
        super().__init__(message or self.code)
        self.message = message or self.code
        self.details = details


class ConfigError(QuiviveError):
    """A configuration key is missing, malformed or out of range; the message names the key."""

    code = "config_error"


class StorageError(QuiviveError):
    """The database is unreachable or refused an operation."""

    code = "storage_error"


class NotFoundError(QuiviveError):
    code = "not_found"


class ConflictError(QuiviveError):
    """A unique value (username, ...) is already taken."""

    code = "conflict"


class ValidationError(QuiviveError):
    """Input that the user can fix: the message is safe to show."""

    code = "invalid_input"


class PasswordRejected(ValidationError):
    """A new password breaks the policy; ``reasons`` holds the rule codes it broke."""

    code = "password_rejected"

    def __init__(self, reasons: tuple[str, ...]) -> None:
        super().__init__("password rejected: " + ", ".join(reasons))
        self.reasons = reasons


class AuthenticationFailed(QuiviveError):
    """Unknown user, wrong password or disabled account: deliberately indistinguishable."""

    code = "authentication_failed"


class SessionInvalid(QuiviveError):
    """Missing, expired or revoked session."""

    code = "session_invalid"


class SetupTokenInvalid(QuiviveError):
    """The one-time set-up link is unknown, used or expired."""

    code = "setup_token_invalid"


class WebAuthnRejected(QuiviveError):
    """A passkey response failed a WebAuthn check; ``reason`` is a stable code for the audit."""

    code = "webauthn_rejected"

    def __init__(self, reason: str, message: str = "") -> None:
        super().__init__(message or reason, reason=reason)
        self.reason = reason


class SignCountRegression(WebAuthnRejected):
    """The authenticator's signature counter did not grow: a possible cloned key."""

    code = "sign_count_regression"

    def __init__(self, stored: int, received: int) -> None:
        super().__init__("sign_count_regression", f"sign count {received} not above {stored}")
        self.stored = stored
        self.received = received


class ReauthenticationRequired(QuiviveError):
    """The last authentication is too old for this change (factors, recovery codes): ASVS V7."""

    code = "reauthentication_required"


class LastFactorRequired(QuiviveError):
    """Removing this factor would leave the user below what the MFA policy requires."""

    code = "last_factor_required"


class FactorRejected(QuiviveError):
    """A second-factor proof (code, recovery code, assertion) was wrong, replayed or expired."""

    code = "factor_rejected"


class PermissionDenied(QuiviveError):
    """The signed-in administrator's roles do not allow this action (admin console and API)."""

    code = "forbidden"


class EmergencyRefused(QuiviveError):
    """An emergency access ("bris de glace") request was refused; ``reason`` says why.

    Reason codes are stable (audit trail, pages): see ``domain.emergency.Refusal``.
    """

    code = "emergency_refused"

    def __init__(self, reason: str) -> None:
        super().__init__(f"emergency access refused: {reason}")
        self.reason = reason


class CodesThrottled(QuiviveError):
    """Too many wrong one-time codes on this account: wait until ``not_before``, or, when
    ``exhausted``, use another factor or have an administrator clear the throttle."""

    code = "codes_throttled"

    def __init__(self, *, not_before: datetime | None, exhausted: bool) -> None:
        super().__init__("too many wrong codes")
        self.not_before = not_before
        self.exhausted = exhausted
