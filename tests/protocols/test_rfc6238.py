import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyotp
import pytest

from quivive.protocols import totp

VECTORS = json.loads((Path(__file__).parent.parent / "data/rfc6238_vectors.json").read_text())
SECRET = base64.b32encode(VECTORS["secret_ascii"].encode()).decode()
NOW = datetime(2026, 1, 15, 8, 0, 10, tzinfo=UTC)  # 10 s into a step


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=lambda v: str(v["time"]))
def test_rfc6238_appendix_b_vectors_with_pyotp(vector: dict[str, object]) -> None:
    generator = pyotp.TOTP(SECRET, digits=VECTORS["digits"], interval=VECTORS["period"])

    assert generator.at(int(str(vector["time"]))) == vector["totp"]


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=lambda v: str(v["time"]))
def test_rfc6238_appendix_b_vectors_with_our_step_arithmetic(vector: dict[str, object]) -> None:
    moment = datetime.fromtimestamp(int(str(vector["time"])), UTC)
    step = totp.step_at(moment)

    assert step == vector["step"]
    assert totp.code_at(SECRET, step, digits=8) == vector["totp"]


def test_new_secret_has_at_least_160_bits() -> None:
    secret = totp.new_secret()

    assert len(totp.secret_bytes(secret)) * 8 >= 160
    assert secret != totp.new_secret()


def test_short_secret_is_refused() -> None:
    short = base64.b32encode(b"0123456789").decode()  # 80 bits

    with pytest.raises(ValueError, match="160 bits"):
        totp.code_at(short, 1)


def code(secret: str, moment: datetime) -> str:
    return totp.code_at(secret, totp.step_at(moment))


def test_current_step_is_accepted() -> None:
    secret = totp.new_secret()

    assert totp.matching_step(secret, code(secret, NOW), NOW) == totp.step_at(NOW)


def test_previous_step_is_accepted() -> None:
    secret = totp.new_secret()
    earlier = NOW - timedelta(seconds=30)

    assert totp.matching_step(secret, code(secret, earlier), NOW) == totp.step_at(earlier)


def test_two_steps_back_is_refused() -> None:
    secret = totp.new_secret()

    assert totp.matching_step(secret, code(secret, NOW - timedelta(seconds=60)), NOW) is None


def test_next_step_is_refused() -> None:
    secret = totp.new_secret()

    assert totp.matching_step(secret, code(secret, NOW + timedelta(seconds=30)), NOW) is None


@pytest.mark.parametrize("bad", ["", "12345", "1234567", "abcdef", "١٢٣٤٥٦"])
def test_malformed_codes_are_refused(bad: str) -> None:
    assert totp.matching_step(totp.new_secret(), bad, NOW) is None


def test_provisioning_uri_names_issuer_and_parameters() -> None:
    uri = totp.provisioning_uri("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", "élise", "CH de Test")
    parsed = pyotp.parse_uri(uri)

    assert uri.startswith("otpauth://totp/CH%20de%20Test:")
    assert "issuer=CH%20de%20Test" in uri
    assert isinstance(parsed, pyotp.TOTP)
    assert (parsed.digits, parsed.interval, parsed.issuer) == (6, 30, "CH de Test")
