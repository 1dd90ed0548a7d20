"""French and English for every page: negotiation and message catalogues (Babel .po files).

Messages are written in English in the code and templates; ``locales/fr/LC_MESSAGES/messages.po``
holds the French. The catalogue is read straight from the .po file at start-up, so there is no
compile step to forget.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

from babel.messages.pofile import read_po

SUPPORTED_LANGUAGES = ("fr", "en")
LANGUAGE_NAMES = {"fr": "Français", "en": "English"}
LANGUAGE_COOKIE = "quivive_lang"
# RFC 9110 section 12.4.2: qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
_QVALUE = re.compile(r"0(\.[0-9]{0,3})?|1(\.0{0,3})?")


def N_(message: str) -> str:  # noqa: N802 - the gettext convention marks strings for extraction
    """Mark a string for extraction without translating it yet."""
    return message


@dataclass(frozen=True, slots=True)
class Translations:
    language: str
    messages: dict[str, str]

    def gettext(self, message: str) -> str:
        return self.messages.get(message) or message

    def ngettext(self, singular: str, plural: str, count: int) -> str:
        chosen = singular if count == 1 else plural
        return self.messages.get(chosen) or chosen


def load_translations(language: str) -> Translations:
    if language == "en":
        return Translations(language, {})
    path = resources.files("quivive.web") / "locales" / language / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=language)
    messages = {
        str(message.id): str(message.string)
        for message in catalog
        if message.id and message.string and not message.fuzzy and isinstance(message.id, str)
    }
    return Translations(language, messages)


def negotiate_language(accept_language: str | None, cookie: str | None, default: str) -> str:
    """The explicit choice (cookie) wins, then Accept-Language by quality, then the default."""
    if cookie in SUPPORTED_LANGUAGES:
        return cookie
    best, best_quality = default, 0.0
    for item in (accept_language or "").split(",")[:20]:
        tag, _, params = item.strip().partition(";")
        primary = tag.strip().split("-")[0].lower()
        quality = _quality(params)
        # Strictly greater: earlier entries win ties, as browsers list preferences in order.
        if primary in SUPPORTED_LANGUAGES and quality > best_quality:
            best, best_quality = primary, quality
    return best


def _quality(params: str) -> float:
    for param in params.split(";"):
        name, _, value = param.strip().partition("=")
        if name.strip().lower() == "q":
            # float() would also take "nan", "inf" or "1e3"; anything but a qvalue is ignored.
            value = value.strip()
            return float(value) if _QVALUE.fullmatch(value) else 0.0
    return 1.0
