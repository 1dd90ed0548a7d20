import pytest

from quivive.domain.assurance import assess, combine
from quivive.domain.sessions import AssuranceLevel

AAL1, AAL2, AAL3 = AssuranceLevel.AAL1, AssuranceLevel.AAL2, AssuranceLevel.AAL3


@pytest.mark.parametrize(
    ("amr", "level", "normalised"),
    [
        (("pwd",), AAL1, ("pwd",)),
        (("otp",), AAL1, ("otp",)),
        (("pwd", "otp"), AAL2, ("pwd", "otp", "mfa")),  # password + TOTP or recovery code
        (("pwd", "swk"), AAL2, ("pwd", "swk", "mfa")),  # password + synced passkey without UV
        (("pwd", "hwk"), AAL2, ("pwd", "hwk", "mfa")),  # security key without UV: not AAL3
        (("swk", "user"), AAL2, ("swk", "user", "mfa")),  # synced passkey with UV
        (("pwd", "swk", "user"), AAL2, ("pwd", "swk", "user", "mfa")),  # synced: at most AAL2
        (("hwk", "user"), AAL3, ("hwk", "user", "mfa")),  # device-bound passkey with UV
        (("hwk", "pin"), AAL3, ("pin", "hwk", "mfa")),
        (("pwd", "hwk", "user"), AAL3, ("pwd", "hwk", "user", "mfa")),
        (("pwd", "pin"), AAL1, ("pwd", "pin")),  # two things known are one factor
        (("pwd", "mfa"), AAL1, ("pwd",)),  # a claimed "mfa" proves nothing
        (("hwk",), AAL1, ("hwk",)),
        ((), AAL1, ()),
        (("pwd", "otp", "xyz"), AAL2, ("pwd", "otp", "mfa", "xyz")),  # unknown kept, no weight
    ],
)
def test_assurance_level_table(
    amr: tuple[str, ...], level: AssuranceLevel, normalised: tuple[str, ...]
) -> None:
    assurance = assess(amr)

    assert assurance.level is level
    assert assurance.amr == normalised


def test_combining_adds_the_new_factor_once() -> None:
    assurance = combine(("pwd",), ("otp",))

    assert assurance.level is AAL2
    assert combine(assurance.amr, ("otp",)).amr == ("pwd", "otp", "mfa")


def test_meets_and_phishing_resistance() -> None:
    assert assess(("pwd", "otp")).meets(AAL2)
    assert not assess(("pwd", "otp")).meets(AAL3)
    assert not assess(("pwd", "otp")).phishing_resistant
    assert assess(("pwd", "swk")).phishing_resistant
