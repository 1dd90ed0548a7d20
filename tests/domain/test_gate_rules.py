"""The gate's rule matching, decisions and return-URL checks (no I/O)."""

from __future__ import annotations

import ipaddress

import pytest

from quivive.domain.gate import (
    BadOriginalRequest,
    GateRule,
    GateSettings,
    Identity,
    OriginalRequest,
    Outcome,
    Reason,
    allowed_domains,
    decide,
    find_rule,
    normalise_path,
    parse_original,
    safe_return_url,
)
from quivive.domain.sessions import AssuranceLevel

AAL1, AAL2, AAL3 = AssuranceLevel.AAL1, AssuranceLevel.AAL2, AssuranceLevel.AAL3
LAN = (ipaddress.ip_network("10.0.0.0/8"),)
RULES = (
    GateRule("dpi.hopital.example", min_aal=AAL2, bypass=("/health", "/logo.png")),
    GateRule("dpi.hopital.example", "/admin", roles=("admin",), min_aal=AAL2),
    GateRule("intranet.hopital.example", min_aal=AAL2, networks=LAN, networks_min_aal=AAL1),
    GateRule("labo.hopital.example", networks=LAN, deny_outside_networks=True),
    GateRule("*.apps.hopital.example", roles=("medecin", "infirmier")),
)


def who(roles: tuple[str, ...] = ("medecin",), aal: AssuranceLevel = AAL2) -> Identity:
    return Identity("alice", "Alice", None, roles, aal, complete=True)


def at(url: str) -> OriginalRequest:
    return parse_original("GET", url)


def test_the_longest_prefix_on_a_segment_boundary_wins() -> None:
    assert find_rule(RULES, at("https://dpi.hopital.example/admin/users")) == RULES[1]
    assert find_rule(RULES, at("https://dpi.hopital.example/admin")) == RULES[1]
    assert find_rule(RULES, at("https://dpi.hopital.example/admin;jsessionid=1")) == RULES[1]
    assert find_rule(RULES, at("https://dpi.hopital.example/administration")) == RULES[0]


@pytest.mark.parametrize(
    "path",
    [
        "/public/../admin/x",
        "/public/..%2Fadmin/x",
        "//admin/x",
        "/./admin/x",
        "/%61dmin/x",
        "/public\\..\\admin",
    ],
)
def test_encoded_and_dotted_paths_cannot_escape_a_stricter_rule(path: str) -> None:
    decision = decide(RULES, at(f"https://dpi.hopital.example{path}"), who(), None)
    assert decision.outcome is Outcome.DENY
    assert decision.reason is Reason.MISSING_ROLE


def test_normalise_path_keeps_a_trailing_slash() -> None:
    assert normalise_path("/a/b/") == "/a/b/"
    assert normalise_path("/a/./b/../c") == "/a/c"
    assert normalise_path("/") == "/"


def test_unknown_hosts_are_denied_by_default() -> None:
    decision = decide(RULES, at("https://evil.example/"), who(), None)
    assert (decision.outcome, decision.reason) == (Outcome.DENY, Reason.UNKNOWN_HOST)


def test_bypass_paths_are_exact() -> None:
    assert decide(RULES, at("https://dpi.hopital.example/health"), None, None).outcome is (
        Outcome.PUBLIC
    )
    for path in ("/health/", "/healthz", "/Health", "/x/../health", "/health%2F"):
        decision = decide(RULES, at(f"https://dpi.hopital.example{path}"), None, None)
        assert decision.outcome is Outcome.SIGN_IN, path


def test_not_signed_in_then_step_up_then_allowed() -> None:
    url = at("https://dpi.hopital.example/dossier?id=1")
    assert decide(RULES, url, None, None).outcome is Outcome.SIGN_IN
    low = decide(RULES, url, who(aal=AAL1), None)
    assert (low.outcome, low.reason, low.required_level) == (
        Outcome.STEP_UP,
        Reason.LEVEL_TOO_LOW,
        AAL2,
    )
    assert decide(RULES, url, who(aal=AAL2), None).outcome is Outcome.ALLOW


def test_an_unfinished_sign_in_is_sent_to_finish_it() -> None:
    pending = Identity("alice", "Alice", None, ("medecin",), AAL1, complete=False)
    decision = decide(RULES, at("https://x.apps.hopital.example/"), pending, None)
    assert (decision.outcome, decision.reason) == (Outcome.STEP_UP, Reason.SIGN_IN_UNFINISHED)


def test_roles_any_of_and_wildcard_hosts() -> None:
    url = at("https://pharma.apps.hopital.example/")
    assert decide(RULES, url, who(("infirmier",), AAL1), None).outcome is Outcome.ALLOW
    denied = decide(RULES, url, who(("secretaire",)), None)
    assert (denied.outcome, denied.reason) == (Outcome.DENY, Reason.MISSING_ROLE)
    assert decide(RULES, at("https://apps.hopital.example/"), who(), None).outcome is (Outcome.DENY)


def test_mfa_required_only_outside_the_establishment_networks() -> None:
    url = at("https://intranet.hopital.example/")
    inside, outside = "10.1.2.3", "203.0.113.9"
    assert decide(RULES, url, who(aal=AAL1), inside).outcome is Outcome.ALLOW
    assert decide(RULES, url, who(aal=AAL1), outside).outcome is Outcome.STEP_UP
    # Unknown address (no X-Forwarded-For): outside, the strict requirement applies.
    assert decide(RULES, url, who(aal=AAL1), None).outcome is Outcome.STEP_UP
    assert decide(RULES, url, who(aal=AAL1), "not an address").outcome is Outcome.STEP_UP


def test_a_rule_can_be_limited_to_the_networks() -> None:
    url = at("https://labo.hopital.example/")
    assert decide(RULES, url, who(), "10.9.9.9").outcome is Outcome.ALLOW
    denied = decide(RULES, url, who(), "198.51.100.1")
    assert (denied.outcome, denied.reason) == (Outcome.DENY, Reason.OUTSIDE_NETWORKS)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://dpi.hopital.example/",
        "https://user@dpi.hopital.example/",
        "https://dpi.hopital.example /",
        "https://",
        "/relative",
        "https://dpi.hopital.example:99999/",
        "https://[::1]/",
    ],
)
def test_unusable_original_urls_are_refused(url: str) -> None:
    with pytest.raises(BadOriginalRequest):
        parse_original("GET", url)


@pytest.mark.parametrize("method", ["G" * 33, "GET /x", "GE\x00T", "1GET", "GET\r\n"])
def test_an_original_method_that_is_no_http_method_is_refused(method: str) -> None:
    with pytest.raises(BadOriginalRequest):
        parse_original(method, "https://dpi.hopital.example/")


@pytest.mark.parametrize("method", ["get", "PROPFIND", "BASELINE-CONTROL", ""])
def test_http_methods_are_taken_as_the_original_method(method: str) -> None:
    assert parse_original(method, "https://dpi.hopital.example/").method == (
        method.upper() or "GET"
    )


DOMAINS = ("hopital.example", "auth.hopital.example")


@pytest.mark.parametrize(
    "rd",
    [
        "https://dpi.hopital.example/dossier?id=1&x=2#top",
        "https://hopital.example/",
        "https://DPI.hopital.example:8443/x",
    ],
)
def test_return_urls_within_the_domains_are_accepted(rd: str) -> None:
    assert safe_return_url(rd, DOMAINS, https_only=True) == rd


@pytest.mark.parametrize(
    "rd",
    [
        None,
        "",
        "https://evil.example/",
        "https://hopital.example.evil.example/",
        "https://evilhopital.example/",
        "//evil.example/",
        "///evil.example/",
        "/\\evil.example/",
        "https:evil.example",
        "https:/evil.example",
        "https://evil.example@hopital.example/",
        "https://hopital.example@evil.example/",
        "https://hopital.example:443@evil.example/",
        "https://hopital.example\\@evil.example/",
        "https://evil.example\\.hopital.example/",
        "https://evil.example%2F.hopital.example/",
        "https://evil.example%00.hopital.example/",
        "https://evil.example/.hopital.example",
        "https://evil.example?.hopital.example",
        "https://evil.example#.hopital.example",
        "javascript:alert(1)//hopital.example",
        "JavaScript://hopital.example/%0aalert(1)",
        "data:text/html,<script>alert(1)</script>",
        "http://dpi.hopital.example/",
        "https://dpi.hopital.example/\r\nSet-Cookie: x=1",
        "https://dpi.hopital.example/ x",
        "\thttps://dpi.hopital.example/",
        "https://hôpital.example/",
        "https://dpi.hopita\u217c.example/",  # SMALL ROMAN NUMERAL FIFTY for "l"
        "https://xn--hpital-dva.example/",
        "https://hopital.example./",
        "https://dpi.hopital.example:bad/",
        "https://" + "a" * 5000 + ".hopital.example/",
    ],
)
def test_open_redirect_attempts_are_refused(rd: str | None) -> None:
    assert safe_return_url(rd, DOMAINS, https_only=True) is None


def test_plain_http_return_urls_only_when_the_gate_is_on_http() -> None:
    assert safe_return_url("http://hopital.example/", DOMAINS, https_only=False) is not None


def test_allowed_domains_default_to_public_host_cookie_domain_and_rule_hosts() -> None:
    derived = allowed_domains(GateSettings(RULES), "auth.hopital.example", "hopital.example")
    assert derived[:3] == ("auth.hopital.example", "hopital.example", "dpi.hopital.example")
    assert "apps.hopital.example" in derived
    configured = GateSettings(RULES, allowed_domains=("hopital.example",))
    assert allowed_domains(configured, "auth.other.example", None) == ("hopital.example",)


@pytest.mark.parametrize(
    ("url", "netloc", "raw_path", "path", "query"),
    [
        (
            "HTTPS://DPI.Hopital.example:8443/P%41th?a=1#top",
            "dpi.hopital.example:8443",
            "/P%41th",
            "/PAth",
            "a=1",
        ),
        ("http://dpi.hopital.example?x=1", "dpi.hopital.example", "/", "/", "x=1"),
        ("http://dpi.hopital.example", "dpi.hopital.example", "/", "/", ""),
        (
            "http://dpi.hopital.example/a//b/../c/",
            "dpi.hopital.example",
            "/a//b/../c/",
            "/a/c/",
            "",
        ),
    ],
)
def test_original_urls_are_read_as_an_application_server_would(
    url: str, netloc: str, raw_path: str, path: str, query: str
) -> None:
    original = parse_original("get", url)
    assert (original.method, original.host) == ("GET", netloc.split(":")[0])
    assert (original.netloc, original.raw_path, original.path, original.query) == (
        netloc,
        raw_path,
        path,
        query,
    )
