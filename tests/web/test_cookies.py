"""Cookies read and written as Starlette does: one cookie read without parsing the others, and
the Set-Cookie header written without building a ``SimpleCookie``."""

from __future__ import annotations

import pytest
from starlette.requests import cookie_parser
from starlette.responses import Response

from quivive.web.cookies import CookiePolicy, cookie_value

NAME = "quivive_session"


@pytest.mark.parametrize(
    "header",
    [
        "",
        f"{NAME}=abc",
        f"theme=dark; {NAME}=abc; lang=fr",
        f"  {NAME}  =  abc  ;x=1",
        f'{NAME}="abc"',
        f'{NAME}="a\\"b\\073c"',  # quoted, with an escaped quote and an octal escape
        f'{NAME}="abc',  # an unbalanced quote is kept as sent
        f"{NAME}=a=b",
        f"{NAME}=",
        f"{NAME}",  # no "=": an empty name with this value
        f"{NAME}=first; {NAME}=second",
        f"x{NAME}=abc",
        f"{NAME}x=abc",
        f"other={NAME}=abc",
        f"__Host-{NAME}=abc",
        f"{NAME}=abc;;;",
        f"; {NAME}=abc",
        f"{NAME}=abc;{NAME}",
        f"{NAME}=é",
    ],
)
def test_a_cookie_reads_as_starlette_reads_it(header: str) -> None:
    assert cookie_value(header, NAME) == cookie_parser(header).get(NAME)


POLICIES = [
    CookiePolicy(https=False),
    CookiePolicy(https=True),
    CookiePolicy(https=True, domain="hopital.example"),
    CookiePolicy(https=False, domain="hopital.example"),
]


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("max_age", [None, 0, 34_560_000])
@pytest.mark.parametrize(
    "value",
    [
        "Zx8_-aB3",  # URL-safe base64, as session and device identifiers are
        "fr",
        "0123456789abcdef",
        "a!#$%&'*+-.^_`|~:z",  # every character left unquoted
        "",  # empty: quoted
        "a b",  # each of these needs quoting, so Starlette writes it
        "a;b",
        'a"b',
        "a,b",
        "a=b",
        "a/b",
        "é",
    ],
)
def test_a_cookie_is_written_as_starlette_writes_it(
    policy: CookiePolicy, max_age: int | None, value: str
) -> None:
    ours, starlettes = Response(), Response()
    policy.set(ours, NAME, value, max_age=max_age)
    starlettes.set_cookie(
        policy.name(NAME),
        value,
        max_age=max_age,
        path="/",
        domain=policy.domain,
        secure=policy.https,
        httponly=True,
        samesite="lax",
    )
    assert ours.headers.getlist("set-cookie") == starlettes.headers.getlist("set-cookie")
