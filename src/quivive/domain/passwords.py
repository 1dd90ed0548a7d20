"""Password policy for new passwords: length, blocklist and context words.

Implements NIST SP 800-63B-4 §3.1.1.2 (password verifiers), OWASP ASVS 5.0 V6.2 and CNIL
délibération 2022-100: no composition rules and no periodic expiry, only the checks below. Each
broken rule is reported as a stable reason code that the web layer translates.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from typing import Protocol

from quivive.errors import ConfigError

# NIST 800-63B-4: verifiers SHOULD permit at least 64 characters; 256 code points leaves room for
# long passphrases while bounding the work one attempt can cost us.
MAX_PASSWORD_LENGTH = 256
# NIST 800-63B-4 §3.1.1.2: 8 characters when the password is only part of MFA (15 when it is the
# only factor), so going this low is for deployments where the policy requires a second factor.
MIN_LENGTH_FLOOR = 8
# ANSSI and CNIL 2022-100 case 2 (password plus access throttling, 50 bits): 12 without
# composition rules, as REQUIREMENTS.md asks.
DEFAULT_MIN_LENGTH = 12
# Shorter tokens ("Li", "de", initials, "chu") would reject too many unrelated passwords; NIST asks
# for context words, not syllables.
MIN_CONTEXT_WORD_LENGTH = 4
# OWASP Password Storage Cheat Sheet, Argon2id minimum: m=19456 KiB (19 MiB), t=2, p=1. The hasher
# refuses weaker parameters and the settings refuse to configure them.
MIN_MEMORY_KIB = 19456
MIN_TIME_COST = 2
MIN_PARALLELISM = 1

INVALID_CHARACTERS = "invalid_characters"
TOO_SHORT = "too_short"
TOO_LONG = "too_long"
BLOCKLISTED = "blocklisted"
CONTAINS_CONTEXT = "contains_context"
# Every reason check_new_password can give, in the order it gives them; the codes are stable.
PASSWORD_REASON_CODES = (INVALID_CHARACTERS, TOO_SHORT, TOO_LONG, BLOCKLISTED, CONTAINS_CONTEXT)

# Letters, combining marks and digits of any script make tokens; anything else ("." "-" "@" "_",
# spaces) separates them.
_TOKEN_CATEGORIES = frozenset("LMN")


class Blocklist(Protocol):
    """A set of common or breached passwords; compared as given (callers casefold as needed)."""

    def __contains__(self, password: object) -> bool: ...


def normalise_password(raw: str) -> str:
    """NFKC, as NIST 800-63B-4 asks before hashing, so equivalent spellings give one password."""
    return unicodedata.normalize("NFKC", raw)


def check_new_password(
    password: str, *, min_length: int, context_words: Iterable[str], blocklist: Blocklist
) -> tuple[str, ...]:
    """The reason codes that ``password`` breaks, in PASSWORD_REASON_CODES order; () when fine.

    Length counts code points after NFKC ("each Unicode code point SHALL be counted as a single
    character", NIST 800-63B-4). ``context_words`` may be raw values or context_words_for output.
    """
    _check_min_length(min_length)
    normalised = normalise_password(password)
    broken = {
        INVALID_CHARACTERS: not _is_encodable(normalised),
        TOO_SHORT: len(normalised) < min_length,
        TOO_LONG: len(normalised) > MAX_PASSWORD_LENGTH,
        BLOCKLISTED: _is_blocklisted(normalised, blocklist),
        CONTAINS_CONTEXT: _contains_context(normalised, context_words),
    }
    return tuple(code for code in PASSWORD_REASON_CODES if broken[code])


def is_blocklisted(password: str, blocklist: Blocklist) -> bool:
    """Whether a password in use is on the blocklist (checked at sign-in for the posture report)."""
    return _is_blocklisted(normalise_password(password), blocklist)


def context_words_for(
    username: str,
    display_name: str | None = None,
    email: str | None = None,
    establishment_name: str | None = None,
) -> tuple[str, ...]:
    """Casefolded tokens a password must not contain, first occurrence first, without repeats.

    The e-mail gives its local part and its domain labels except the top-level one ("fr").
    """
    values = [username, display_name or "", *_email_parts(email or ""), establishment_name or ""]
    return tuple(dict.fromkeys(token for value in values for token in _tokens(value)))


def _email_parts(email: str) -> list[str]:
    local, _, domain = email.rpartition("@")
    return [local, *domain.split(".")[:-1]]


def _check_min_length(min_length: int) -> None:
    if not MIN_LENGTH_FLOOR <= min_length <= MAX_PASSWORD_LENGTH:
        raise ConfigError(
            f"min_length must be between {MIN_LENGTH_FLOOR} and {MAX_PASSWORD_LENGTH}, "
            f"got {min_length}",
            key="min_length",
        )


def _is_blocklisted(normalised: str, blocklist: Blocklist) -> bool:
    return normalised in blocklist or normalised.casefold() in blocklist


def _contains_context(normalised: str, context_words: Iterable[str]) -> bool:
    folded = normalised.casefold()
    return any(token in folded for word in context_words for token in _tokens(word))


def _is_encodable(normalised: str) -> bool:
    # Lone surrogates come from JSON "\ud800" escapes; with no UTF-8 form they cannot be hashed.
    try:
        normalised.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _tokens(value: str) -> list[str]:
    folded = normalise_password(value).casefold()
    spaced = "".join(c if unicodedata.category(c)[0] in _TOKEN_CATEGORIES else " " for c in folded)
    return [token for token in spaced.split() if len(token) >= MIN_CONTEXT_WORD_LENGTH]
