import pytest

from quivive.domain.passwords import MIN_LENGTH_FLOOR, check_new_password
from quivive.storage.password_blocklist import BAD_PASSWORDS_MIN_LENGTH, ShippedBlocklist


@pytest.fixture(scope="module")
def blocklist() -> ShippedBlocklist:
    return ShippedBlocklist()


@pytest.mark.parametrize(
    "password",
    [
        "password1234",
        "azertyuiop123",
        "motdepasse123",
        "qwertyuiop",
        "marseille13",  # long list (bad-passwords)
        "azerty12",
        "password",
        "soleil",
        "iloveyou2",  # short list (zxcvbn)
    ],
)
def test_common_passwords_are_listed(blocklist: ShippedBlocklist, password: str) -> None:
    assert password in blocklist


@pytest.mark.parametrize(
    "password",
    [
        "Zq8#vL2!",  # short: bad-passwords would answer True (and warn) for anything here
        "éééééééé1",  # 9 code points but 17 UTF-8 bytes
        "tulipe ardoise gravier",
        "",
    ],
)
def test_uncommon_passwords_are_not_listed(blocklist: ShippedBlocklist, password: str) -> None:
    # pytest turns warnings into errors, so a leaked bad-passwords warning fails this too.
    assert password not in blocklist


def test_lookup_is_case_sensitive_the_policy_casefolds(blocklist: ShippedBlocklist) -> None:
    assert "AZERTY12" not in blocklist
    reasons = check_new_password(
        "AZERTY12", min_length=MIN_LENGTH_FLOOR, context_words=(), blocklist=blocklist
    )
    assert reasons == ("blocklisted",)


def test_short_list_applies_with_the_eight_character_floor(blocklist: ShippedBlocklist) -> None:
    assert len("azerty12") < BAD_PASSWORDS_MIN_LENGTH
    reasons = check_new_password(
        "azerty12", min_length=MIN_LENGTH_FLOOR, context_words=(), blocklist=blocklist
    )
    assert reasons == ("blocklisted",)


@pytest.mark.parametrize("value", [None, 1234567890, b"password1234", "lone \ud800 surrogate"])
def test_values_without_a_utf8_string_form_are_not_listed(
    blocklist: ShippedBlocklist, value: object
) -> None:
    assert value not in blocklist
