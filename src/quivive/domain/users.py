"""Users: identity, status and the normalisation that makes usernames unique."""

from __future__ import annotations

import enum
import unicodedata
from dataclasses import dataclass
from datetime import datetime

from quivive.errors import ValidationError

# Long enough for "firstname.lastname@establishment.example"; anything longer is hostile input.
MAX_USERNAME_LENGTH = 256
MAX_DISPLAY_NAME_LENGTH = 256
MAX_EMAIL_LENGTH = 320  # RFC 5321: 64 local part + @ + 255 domain
MAX_ROLE_LENGTH = 64
# RPPS numbers have 11 digits; ADELI 9. Keep room for other national identifiers.
MAX_PROFESSIONAL_ID_LENGTH = 32

ADMIN_ROLE = "admin"


class UserStatus(enum.StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"


@dataclass(frozen=True, slots=True)
class User:
    id: int
    subject: str  # stable, opaque identifier for relying parties; never the username
    username: str
    display_name: str
    email: str | None
    roles: tuple[str, ...]
    professional_id: str | None
    status: UserStatus
    password_hash: str | None
    created_at: datetime
    last_login_at: datetime | None
    # When an administrator reset the user's factors; None once a factor is enrolled again.
    enrolment_required_at: datetime | None = None

    @property
    def must_enrol(self) -> bool:
        """The user must enrol a second factor at next sign-in, whatever their role's rule."""
        return self.enrolment_required_at is not None

    @property
    def is_active(self) -> bool:
        return self.status is UserStatus.ACTIVE

    @property
    def is_admin(self) -> bool:
        return ADMIN_ROLE in self.roles


@dataclass(frozen=True, slots=True)
class NewUser:
    """A validated request to create a user (the password, if any, is already hashed)."""

    username: str
    display_name: str
    email: str | None
    roles: tuple[str, ...]
    professional_id: str | None
    password_hash: str | None


def _has_control_or_space(text: str) -> bool:
    return any(unicodedata.category(ch)[0] in ("C", "Z") for ch in text)


def normalise_username(raw: str) -> str:
    """NFKC then casefold, so "Élise", "ÉLISE" and its full-width form name one account.

    Whitespace around the input is dropped (a pasted identifier often carries it); whitespace or
    control characters inside are refused rather than silently kept.
    """
    name = unicodedata.normalize("NFKC", raw).strip().casefold()
    name = unicodedata.normalize(
        "NFKC", name
    )  # casefold can denormalise (e.g. "ß" -> "ss" is fine)
    if not name:
        raise ValidationError("username is empty", field="username", reason="empty")
    if len(name) > MAX_USERNAME_LENGTH:
        raise ValidationError("username is too long", field="username", reason="too_long")
    if _has_control_or_space(name):
        raise ValidationError(
            "username contains spaces or control characters", field="username", reason="charset"
        )
    return name


def clean_display_name(raw: str | None, fallback: str) -> str:
    name = unicodedata.normalize("NFKC", raw or "").strip()
    if len(name) > MAX_DISPLAY_NAME_LENGTH:
        raise ValidationError("display name is too long", field="name", reason="too_long")
    if any(unicodedata.category(ch)[0] == "C" for ch in name):
        raise ValidationError("display name has control characters", field="name", reason="charset")
    return name or fallback


def clean_email(raw: str | None) -> str | None:
    """A light syntax check: the address is used for notifications only, never as a factor."""
    if raw is None or not raw.strip():
        return None
    email = raw.strip()
    local, at, domain = email.rpartition("@")
    if (
        not at
        or not local
        or "." not in domain
        or len(email) > MAX_EMAIL_LENGTH
        or _has_control_or_space(email)
    ):
        raise ValidationError(f"not an e-mail address: {email!r}", field="email", reason="format")
    return f"{local}@{domain.lower()}"


def clean_roles(raw: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Roles are free strings, compared case-insensitively; duplicates collapse."""
    roles: list[str] = []
    for item in raw:
        role = unicodedata.normalize("NFKC", item).strip().casefold()
        if not role:
            continue
        if len(role) > MAX_ROLE_LENGTH or _has_control_or_space(role):
            raise ValidationError(f"invalid role: {item!r}", field="role", reason="format")
        if role not in roles:
            roles.append(role)
    return tuple(sorted(roles))


def clean_professional_id(raw: str | None) -> str | None:
    if raw is None or not raw.strip():
        return None
    value = raw.strip()
    if len(value) > MAX_PROFESSIONAL_ID_LENGTH or not value.isalnum():
        raise ValidationError(
            f"invalid professional identifier: {value!r}", field="rpps", reason="format"
        )
    return value
