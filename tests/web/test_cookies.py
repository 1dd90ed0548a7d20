"""Reading one cookie as Starlette's ``request.cookies`` does, without parsing the others."""

from __future__ import annotations

import pytest
from starlette.requests import cookie_parser

from quivive.web.cookies import cookie_value

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
