"""``[gate]`` and ``[[gate.rules]]`` in the TOML file: parsed, validated, errors naming the key."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from quivive.config import Settings, load_settings
from quivive.domain.gate import GateRule
from quivive.domain.sessions import AssuranceLevel
from quivive.errors import ConfigError

SAMPLE = """
[gate]
allowed_domains = ["hopital.example"]

[[gate.rules]]
host = "DPI.hopital.example"
min_aal = 2
bypass = ["/health"]

[[gate.rules]]
host = "dpi.hopital.example"
path_prefix = "/admin"
roles = ["Admin", "dsi"]
min_aal = 3

[[gate.rules]]
host = "*.intranet.hopital.example"
networks = ["10.0.0.0/8", "2001:db8::/32"]
min_aal = 2
networks_min_aal = 1
allow_emergency = true
"""


def load(tmp_path: Path, text: str) -> Settings:
    path = tmp_path / "quivive.toml"
    path.write_text(text)
    return load_settings(env={"QUIVIVE_DATA_DIR": str(tmp_path)}, config_file=path)


def test_no_gate_section_means_no_rules(tmp_path: Path) -> None:
    gate = load(tmp_path, "").gate
    assert gate.rules == ()
    assert gate.allowed_domains == ()


def test_rules_are_read(tmp_path: Path) -> None:
    gate = load(tmp_path, SAMPLE).gate
    assert gate.allowed_domains == ("hopital.example",)
    first, admin, intranet = gate.rules
    assert first == GateRule(
        "dpi.hopital.example", min_aal=AssuranceLevel.AAL2, bypass=("/health",)
    )
    assert admin.roles == ("admin", "dsi")
    assert admin.min_aal is AssuranceLevel.AAL3
    assert intranet.networks[0] == ipaddress.ip_network("10.0.0.0/8")
    assert intranet.networks_min_aal is AssuranceLevel.AAL1
    assert intranet.allow_emergency
    assert not admin.allow_emergency


@pytest.mark.parametrize(
    ("text", "key", "words"),
    [
        ("[gate]\nfoo = 1\n", "gate.foo", "unknown key"),
        ("[gate]\nrules = 1\n", "gate.rules", "array of tables"),
        ('[gate]\nallowed_domains = "x"\n', "gate.allowed_domains", "expected an array"),
        ('[gate]\nallowed_domains = ["évil.example"]\n', "gate.allowed_domains[1]", "ASCII"),
        ('[[gate.rules]]\npath_prefix = "/"\n', "gate.rules[1].host", "missing"),
        ('[[gate.rules]]\nhost = "a b"\n', "gate.rules[1].host", "host name"),
        ('[[gate.rules]]\nhost = "x.example"\nmin_aal = 4\n', "gate.rules[1].min_aal", "1, 2 or 3"),
        ('[[gate.rules]]\nhost = "x.example"\nmin_aal = true\n', "gate.rules[1].min_aal", "1, 2"),
        (
            '[[gate.rules]]\nhost = "x.example"\npath_prefix = "app"\n',
            "gate.rules[1].path_prefix",
            "/",
        ),
        ('[[gate.rules]]\nhost = "x.example"\nbypass = ["/a b"]\n', "gate.rules[1].bypass[1]", "/"),
        ('[[gate.rules]]\nhost = "x.example"\nroles = [""]\n', "gate.rules[1].roles[1]", "role"),
        (
            '[[gate.rules]]\nhost = "x.example"\nnetworks = ["10.0.0.300/8"]\n',
            "gate.rules[1].networks[1]",
            "CIDR",
        ),
        (
            '[[gate.rules]]\nhost = "x.example"\nnetworks_min_aal = 1\n',
            "gate.rules[1].networks_min_aal",
            "needs networks",
        ),
        (
            '[[gate.rules]]\nhost = "x.example"\ndeny_outside_networks = true\n',
            "gate.rules[1].deny_outside_networks",
            "needs networks",
        ),
        (
            '[[gate.rules]]\nhost = "x.example"\nallow_emergency = "yes"\n',
            "gate.rules[1].allow_emergency",
            "true or false",
        ),
        ('[[gate.rules]]\nhost = "x.example"\nmfa = 2\n', "gate.rules[1].mfa", "unknown key"),
        (
            '[[gate.rules]]\nhost = "x.example"\n'
            '[[gate.rules]]\nhost = "x.example"\npath_prefix = "/"\n',
            "gate.rules[2]",
            "same host",
        ),
    ],
)
def test_errors_name_the_key(tmp_path: Path, text: str, key: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text)
    assert f": {key}: " in caught.value.message
    assert words in caught.value.message
    assert caught.value.details["key"] == key
