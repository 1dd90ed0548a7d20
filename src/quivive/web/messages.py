"""User-facing texts for error codes, marked for translation (French in locales/fr)."""

from __future__ import annotations

from quivive.web.i18n import N_

LOGIN_FAILED = N_("Incorrect username or password.")
FIELD_TOO_LONG = N_("A field is too long (at most 256 characters).")
FORM_INVALID = N_("The form could not be read. Please try again.")
INPUT_NUL = N_("The request contains a character that is not allowed (a NUL byte).")
CSRF_FAILED = N_("Your form expired or came from another site. Please try again.")
SIGNED_OUT = N_("You are signed out.")
SESSION_EXPIRED = N_("Your session has ended. Please sign in again.")
SETUP_DONE = N_("The administrator account is ready. You can now sign in.")
SETUP_LINK_INVALID = N_("This set-up link is unknown, already used or expired.")
PASSWORDS_DIFFER = N_("The two passwords are different.")
USERNAME_TAKEN = N_("This username is already taken.")
# Throttled sign-in: the same texts whether or not the account exists.
LOGIN_THROTTLED = N_("Too many failed attempts. Please wait {wait} before trying again.")
WAIT_SECONDS = N_("{count} s")
WAIT_MINUTES = N_("{count} min")
PASSWORD_ALONE_INSUFFICIENT = N_(
    "After too many failed attempts, a password alone can no longer open this account. Enter "
    "the code from your authenticator app with your password, sign in with a passkey, or ask "
    "your administrator to unblock it."
)

PASSWORD_REASONS = {
    "invalid_characters": N_("The password contains characters that cannot be used."),
    "too_short": N_("The password is too short."),
    "too_long": N_("The password is too long (at most 256 characters)."),
    "blocklisted": N_(
        "This password is among the most common or leaked passwords: choose another one."
    ),
    "contains_context": N_(
        "The password must not contain your username, your name, your e-mail or the "
        "establishment name."
    ),
}

FIELD_REASONS = {
    "empty": N_("The username is empty."),
    "too_long": N_("A field is too long (at most 256 characters)."),
    "charset": N_("The username must not contain spaces or control characters."),
    "format": N_("A field has an invalid format (check the e-mail address)."),
}

PAGE_TITLES = {
    400: N_("Invalid request"),
    403: N_("Access refused"),
    404: N_("Page not found"),
    405: N_("Method not allowed"),
    500: N_("Something went wrong"),
}

PAGE_MESSAGES = {
    400: N_("The request could not be understood."),
    403: N_("You are not allowed to do this."),
    404: N_("There is no page at this address."),
    405: N_("This address does not accept this kind of request."),
    500: N_("An unexpected error occurred. It has been logged; please try again."),
}

# Passkeys (routes.passkeys). One message for every refusal: the audit trail has the reason.
PASSKEY_FAILED = N_(
    "Your passkey could not be used. Please try again, or sign in with your password."
)
PASSKEY_ADDED = N_("Your passkey has been added.")
PASSKEY_DEFAULT_NAME = N_("Passkey")
PASSKEY_REASONS = {
    "failed": N_("The passkey could not be added. Please try again."),
    "already_registered": N_("This passkey is already registered."),
}

OIDC_REQUEST_INVALID = N_(
    "The application's sign-in request is invalid: unknown application or return address. "
    "Please contact the application's administrator."
)
# What each scope lets an application see, as the consent page lists it.
SCOPE_DESCRIPTIONS = {
    "openid": N_("Know who you are (an identifier that does not reveal your username)"),
    "profile": N_("Your name and username"),
    "email": N_("Your e-mail address"),
    "offline_access": N_("Stay connected when you are not using it"),
    "healthcare": N_("Your professional identifier (RPPS), your roles and the FINESS number"),
}

# --- multi-factor authentication -----------------------------------------------------------------

CODE_REJECTED = N_("This code is not valid, or it was already used. Please try again.")
CODES_THROTTLED = N_("Too many wrong codes. Please wait {wait} before trying again.")
CODES_EXHAUSTED = N_(
    "Too many wrong codes: codes are blocked on this account. Sign in with a passkey, or ask "
    "your IT helpdesk to unblock it."
)
RECOVERY_EMAIL_SUBJECT = "{name}: a recovery code was used / un code de secours a été utilisé"

# The label of each second factor, by its ``SecondFactor.name``; a new factor adds its own.
FACTOR_LABELS = {
    "totp": N_("Authenticator app (6-digit code)"),
    "recovery_code": N_("Recovery code"),
    "passkey": N_("Passkey or security key"),
}

# Audit actions shown in "recent sign-ins".
SIGN_IN_METHODS = {
    "login.password": N_("Password"),
    "login.totp": N_("Authenticator app"),
    "login.recovery_code": N_("Recovery code"),
    "login.passkey": N_("Passkey"),
}

ACCOUNT_NOTICES = {
    "factor_removed": N_("The method was removed."),
    "factor_renamed": N_("The method was renamed."),
    "last_factor": N_(
        "This is your last sign-in method and your establishment requires one: add another "
        "before removing it."
    ),
    "not_found": N_("This item no longer exists."),
    "no_factor": N_("Set up an authenticator app or a passkey first."),
    "session_revoked": N_("The session was ended."),
    "sessions_revoked": N_("Your other sessions were ended."),
}


def factor_label(name: str) -> str:
    return FACTOR_LABELS.get(name, name)


def recovery_code_email(establishment: str, when: str, remaining: int) -> str:
    """Bilingual: the address is known, the reader's language is not."""
    return (
        f"Un code de secours a été utilisé pour vous connecter à {establishment} le {when}. "
        f"Il vous reste {remaining} code(s).\n"
        "Si ce n'était pas vous, prévenez tout de suite le service informatique.\n\n"
        f"A recovery code was used to sign in to {establishment} on {when}. "
        f"You have {remaining} code(s) left.\n"
        "If this was not you, tell the IT department at once.\n"
    )
