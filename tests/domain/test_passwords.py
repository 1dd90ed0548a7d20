import pytest
from hypothesis import given
from hypothesis import strategies as st

from quivive.domain.passwords import (
    DEFAULT_MIN_LENGTH,
    MAX_PASSWORD_LENGTH,
    MIN_LENGTH_FLOOR,
    PASSWORD_REASON_CODES,
    check_new_password,
    context_words_for,
    normalise_password,
)
from quivive.errors import ConfigError

NO_BLOCKLIST: frozenset[str] = frozenset()
FAKE_BLOCKLIST = frozenset({"password1234", "dupont"})
CONTEXT = context_words_for(
    "jdupont", "Jean-Pierre Dupont", "jean.dupont@chu-lyon.fr", "Centre Hospitalier Saint-Joseph"
)


def fullwidth(text: str) -> str:
    """The fullwidth form of printable ASCII, which NFKC maps back (ruff rightly flags literals)."""
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def check(
    password: str,
    min_length: int = DEFAULT_MIN_LENGTH,
    context: tuple[str, ...] = (),
    blocklist: frozenset[str] = NO_BLOCKLIST,
) -> tuple[str, ...]:
    return check_new_password(
        password, min_length=min_length, context_words=context, blocklist=blocklist
    )


def passphrase(length: int) -> str:
    return ("tulipe ardoise gravier " * 20)[:length]


def test_normalise_password_applies_nfkc() -> None:
    assert normalise_password(fullwidth("tulipe")) == "tulipe"
    assert normalise_password("e\u0301") == "\u00e9"
    assert normalise_password("ﬁ") == "fi"


@pytest.mark.parametrize(
    ("password", "short"),
    [
        (fullwidth("abcdefghijk"), True),  # fullwidth letters: one code point each after NFKC
        (fullwidth("abcdefghijkl"), False),
        ("e\u0301" * 11, True),  # 22 code points typed, 11 once composed
        ("e\u0301" * 12, False),
        ("q\u0301" * 6, False),  # no precomposed form: the mark is a code point of its own
        ("🔒" * 11, True),  # each emoji is one code point
        ("🔒" * 12, False),
    ],
)
def test_twelve_code_point_minimum_counts_after_nfkc(password: str, short: bool) -> None:
    assert ("too_short" in check(password)) is short


@pytest.mark.parametrize("length", [DEFAULT_MIN_LENGTH, 64, MAX_PASSWORD_LENGTH])
def test_lengths_up_to_the_maximum_are_accepted(length: int) -> None:
    assert check(passphrase(length)) == ()


def test_one_code_point_past_the_maximum_is_too_long() -> None:
    assert check(passphrase(MAX_PASSWORD_LENGTH + 1)) == ("too_long",)


def test_maximum_counts_after_nfkc() -> None:
    # U+FB01 "ﬁ" becomes two letters, so 200 of them are 400 code points.
    assert check("ﬁ" * 200) == ("too_long",)


@pytest.mark.parametrize(
    "password",
    [
        "Ça coûte 10 € à Zürich",
        "παράδειγμα κωδικός",
        "日本語のパスワードです!",
        "пароль для больницы",
    ],
)
def test_unicode_passwords_are_accepted(password: str) -> None:
    assert check(password) == ()


def test_min_length_floor_of_eight_can_be_configured() -> None:
    assert check("tulipe42", min_length=MIN_LENGTH_FLOOR) == ()
    assert check("tulipe4", min_length=MIN_LENGTH_FLOOR) == ("too_short",)


@pytest.mark.parametrize("min_length", [MIN_LENGTH_FLOOR - 1, MAX_PASSWORD_LENGTH + 1])
def test_min_length_out_of_range_is_a_config_error(min_length: int) -> None:
    with pytest.raises(ConfigError, match="min_length") as caught:
        check(passphrase(20), min_length=min_length)
    assert caught.value.details["key"] == "min_length"


@pytest.mark.parametrize("password", ["password1234", "PassWord1234", fullwidth("password1234")])
def test_blocklist_is_checked_after_nfkc_and_casefold(password: str) -> None:
    assert check(password, blocklist=FAKE_BLOCKLIST) == ("blocklisted",)


def test_every_broken_rule_is_reported_in_stable_order() -> None:
    reasons = check("Dupont", context=CONTEXT, blocklist=FAKE_BLOCKLIST)
    assert reasons == ("too_short", "blocklisted", "contains_context")


def test_reason_codes_list_every_code_once() -> None:
    assert len(set(PASSWORD_REASON_CODES)) == len(PASSWORD_REASON_CODES)
    assert set(PASSWORD_REASON_CODES) == {
        "invalid_characters",
        "too_short",
        "too_long",
        "blocklisted",
        "contains_context",
    }


def test_lone_surrogates_are_invalid_characters() -> None:
    assert check("tulipe ardoise \ud800") == ("invalid_characters",)


def test_context_words_cover_username_name_email_and_establishment() -> None:
    assert CONTEXT == (
        "jdupont",
        "jean",
        "pierre",
        "dupont",
        "lyon",  # "chu" is shorter than the minimum, "fr" is the top-level domain
        "centre",
        "hospitalier",
        "saint",
        "joseph",
    )


def test_email_top_level_domain_is_not_a_context_word() -> None:
    assert context_words_for("x", None, "a.martin@clinique.sante", None) == ("martin", "clinique")


@pytest.mark.parametrize(
    "password",
    [
        "mon-jdupont-a-moi",  # username
        "JEAN.DUPONT.2024!",  # e-mail local part, any case
        fullwidth("dupont") + " ardoise gravier",  # display name, fullwidth
        "chu de lyon forever",  # e-mail domain label
        "Saint Joseph 2024 !",  # establishment name
    ],
)
def test_passwords_containing_context_words_are_rejected(password: str) -> None:
    assert check(password, context=CONTEXT) == ("contains_context",)


def test_raw_context_values_are_tokenised_too() -> None:
    assert check("pierre ardoise gravier", context=("Jean-Pierre Dupont",)) == ("contains_context",)


def test_context_tokens_shorter_than_the_minimum_are_ignored() -> None:
    context = context_words_for("li", "Li Na", "li@na.fr", "CHU")
    assert context == ()
    assert check("linguistique nautique", context=context) == ()
    assert check("linguistique nautique", context=("Li", "Na")) == ()


@given(
    password=st.text(max_size=MAX_PASSWORD_LENGTH + 40),
    min_length=st.integers(MIN_LENGTH_FLOOR, MAX_PASSWORD_LENGTH),
)
def test_a_password_that_passes_has_its_length_within_bounds(
    password: str, min_length: int
) -> None:
    length = len(normalise_password(password))
    reasons = check(password, min_length=min_length)
    assert (reasons == ()) == (min_length <= length <= MAX_PASSWORD_LENGTH)
