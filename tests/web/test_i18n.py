"""French and English: the catalogue is complete, and the language is negotiated sensibly."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from quivive.domain.passwords import PASSWORD_REASON_CODES
from quivive.web import messages
from quivive.web.i18n import load_translations, negotiate_language

ROOT = Path(__file__).resolve().parents[2]
PO_FILE = ROOT / "src/quivive/web/locales/fr/LC_MESSAGES/messages.po"
# The keywords scripts/update_translations.py extracts, besides those babel.cfg names.
KEYWORDS = {"N_": None, "_": None, "gettext": None, "ngettext": (1, 2)}
PLACEHOLDER = re.compile(r"%\(\w+\)s")


def extracted_messages() -> dict[str, str]:
    """msgid -> where it was found, as Babel extracts them from src/ with babel.cfg."""
    with (ROOT / "babel.cfg").open() as handle:
        method_map, options_map = parse_mapping_cfg(handle)  # type: ignore[no-untyped-call]
    found: dict[str, str] = {}
    for filename, line, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=KEYWORDS
    ):
        ids = message if isinstance(message, tuple) else (message,)
        for msgid in ids:
            if msgid:
                found.setdefault(msgid, f"{filename}:{line}")
    return found


def french_catalogue() -> Catalog:
    with PO_FILE.open("rb") as handle:
        return read_po(handle, locale="fr")


def translation(catalogue: Catalog, msgid: str) -> Message | None:
    message = catalogue.get(msgid)
    return message if isinstance(message, Message) else None


def test_extraction_finds_the_messages_of_code_and_templates() -> None:
    found = extracted_messages()

    assert messages.LOGIN_FAILED in found  # python, N_()
    assert "Sign in" in found  # jinja2, _()
    assert len(found) > 40


def test_every_message_has_a_french_translation() -> None:
    catalogue = french_catalogue()

    missing = [
        f"{msgid!r} ({where})"
        for msgid, where in extracted_messages().items()
        if (found := translation(catalogue, msgid)) is None or not found.string or found.fuzzy
    ]

    assert missing == [], "run scripts/update_translations.py and translate:\n" + "\n".join(missing)


def test_translations_keep_the_placeholders() -> None:
    for message in french_catalogue():
        if message.id and message.string:
            original, french = str(message.id), str(message.string)
            assert sorted(PLACEHOLDER.findall(original)) == sorted(PLACEHOLDER.findall(french)), (
                original
            )


def test_the_catalogue_has_no_stale_entries() -> None:
    found = extracted_messages()

    stale = [message.id for message in french_catalogue() if message.id and message.id not in found]
    assert stale == [], "no longer used; run scripts/update_translations.py"


def test_password_reasons_cover_every_policy_code() -> None:
    assert set(messages.PASSWORD_REASONS) == set(PASSWORD_REASON_CODES)


def test_every_error_status_has_a_title_and_a_message() -> None:
    assert set(messages.PAGE_TITLES) == set(messages.PAGE_MESSAGES)


def test_loaded_french_translates_user_facing_texts() -> None:
    french = load_translations("fr")
    english = load_translations("en")

    for text in (*messages.PASSWORD_REASONS.values(), *messages.PAGE_TITLES.values()):
        assert french.gettext(text) != text
        assert english.gettext(text) == text


@pytest.mark.parametrize(
    ("header", "cookie", "default", "expected"),
    [
        (None, None, "fr", "fr"),
        (None, None, "en", "en"),
        ("", None, "fr", "fr"),
        ("en-US,en;q=0.9", None, "fr", "en"),
        ("fr-FR,fr;q=0.9,en;q=0.8", None, "en", "fr"),
        ("EN-gb", None, "fr", "en"),
        # quality decides, not order
        ("en;q=0.5, fr;q=0.8", None, "en", "fr"),
        ("fr;q=0.1, en", None, "fr", "en"),
        ("fr;q=0.300, en;q=0.299", None, "en", "fr"),
        # ties go to the earlier entry, wherever the tie is
        ("en;q=0.5, fr;q=0.5", None, "fr", "en"),
        ("de, en;q=0.9, fr;q=0.9", None, "fr", "en"),
        ("de-DE, fr;q=0.8, en;q=0.8", None, "en", "fr"),
        # unsupported languages are skipped
        ("de-DE,de;q=0.9,en;q=0.8", None, "fr", "en"),
        ("de, es, it", None, "fr", "fr"),
        ("*", None, "en", "en"),
        ("english, french", None, "fr", "fr"),
        # q=0 means "not acceptable"
        ("en;q=0, de", None, "fr", "fr"),
        ("fr;q=0", None, "en", "en"),
        # garbage is ignored rather than trusted
        ("en;q=abc", None, "fr", "fr"),
        ("en;q=nan, fr;q=0.1", None, "en", "fr"),
        ("en;q=inf, fr;q=0.1", None, "en", "fr"),
        ("en;q=1e3, fr;q=0.1", None, "en", "fr"),
        ("en;q=-1", None, "fr", "fr"),
        (";;;,,,;q=,=", None, "fr", "fr"),
        ("\x00\xff", None, "en", "en"),
        ("fr;q=0.1, " + "de, " * 30 + "en", None, "fr", "fr"),  # only the first 20 entries count
        # the explicit choice (cookie) wins
        ("en-US,en;q=0.9", "fr", "fr", "fr"),
        ("fr", "en", "fr", "en"),
        ("en", "de", "fr", "en"),
        ("en", "", "fr", "en"),
    ],
)
def test_negotiate_language(
    header: str | None, cookie: str | None, default: str, expected: str
) -> None:
    assert negotiate_language(header, cookie, default) == expected
