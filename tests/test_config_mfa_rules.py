"""``[[mfa.rules]]`` in the TOML file: parsed apart from the scalar settings, validated by key."""

from datetime import date
from pathlib import Path

import pytest

from quivive.config import load_settings
from quivive.domain.mfa_policy import MfaRule
from quivive.errors import ConfigError


def load(tmp_path: Path, text: str) -> tuple[MfaRule, ...]:
    path = tmp_path / "quivive.toml"
    path.write_text(text, encoding="utf-8")
    return load_settings(env={"QUIVIVE_DATA_DIR": str(tmp_path)}, config_file=path).mfa_rules


def test_rules_are_read_with_defaults(tmp_path: Path) -> None:
    rules = load(
        tmp_path,
        '[[mfa.rules]]\nrole = "Médecin"\nfrom = 2026-01-01\ngrace_days = 30\n'
        '[[mfa.rules]]\nrole = "admin"\nfrom = "2026-02-01"\nphishing_resistant = true\n',
    )

    assert rules == (
        MfaRule("médecin", date(2026, 1, 1), 30, False),
        MfaRule("admin", date(2026, 2, 1), 0, True),
    )


def test_no_rules_by_default(tmp_path: Path) -> None:
    assert load(tmp_path, 'establishment_name = "CH"\n') == ()


RULE = '[[mfa.rules]]\nrole = "x"\nfrom = 2026-01-01\n'


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('[[mfa.rules]]\nfrom = 2026-01-01\n', "mfa.rules[1].role"),
        ('[[mfa.rules]]\nrole = "a b"\nfrom = 2026-01-01\n', "mfa.rules[1].role"),
        ('[[mfa.rules]]\nrole = "x"\n', "mfa.rules[1].from"),
        ('[[mfa.rules]]\nrole = "x"\nfrom = 2026-01-01T08:00:00\n', "mfa.rules[1].from"),
        ('[[mfa.rules]]\nrole = "x"\nfrom = "soon"\n', "mfa.rules[1].from"),
        (RULE + "grace_days = -1\n", "mfa.rules[1].grace_days"),
        (RULE + 'phishing_resistant = "yes"\n', "mfa.rules[1].phishing_resistant"),
        (RULE + "grace = 3\n", "mfa.rules[1].grace"),
        (RULE + RULE.replace('"x"', '"X"'), "mfa.rules"),
        ("[mfa]\nrules = 3\n", "mfa.rules"),
        ("[mfa]\nenabled = true\n", "mfa"),
    ],
)  # fmt: skip
def test_a_bad_rule_names_its_key(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text)

    assert caught.value.details["key"] == key
    assert f": {key}: " in str(caught.value)
