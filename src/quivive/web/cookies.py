"""Cookie names and attributes: ``__Host-`` prefix and ``Secure`` whenever served over https."""

from __future__ import annotations

import string
from dataclasses import dataclass
from http import cookies as http_cookies

from starlette.responses import Response

# The characters http.cookies leaves unquoted in a value: every identifier Quivive sets is
# made of them (URL-safe base64, hex, language tags).
_UNQUOTED = frozenset(string.ascii_letters + string.digits + "!#$%&'*+-.^_`|~:")


@dataclass(frozen=True, slots=True)
class CookiePolicy:
    https: bool
    domain: str | None = None  # set for single sign-on across sub-domains (forward-auth gate)

    def name(self, base: str) -> str:
        # __Host- forbids a Domain attribute, so it only applies to host-only cookies.
        return f"__Host-{base}" if self.https and self.domain is None else base

    def set(self, response: Response, base: str, value: str, *, max_age: int | None = None) -> None:
        """Add the Set-Cookie header, exactly as Starlette's ``set_cookie`` writes it.

        Written here for a value that needs no quoting: ``set_cookie`` builds a ``SimpleCookie``
        to do it, which cost a sign-in (two cookies) ~0.1 ms of the event loop's ~0.7 ms.
        """
        if value and _UNQUOTED.issuperset(value):
            header = f"{self.name(base)}={value}{self._attributes(max_age)}"
            response.raw_headers.append((b"set-cookie", header.encode("latin-1")))
            return
        response.set_cookie(
            self.name(base),
            value,
            max_age=max_age,
            path="/",
            domain=self.domain,
            secure=self.https,
            httponly=True,
            samesite="lax",
        )

    def _attributes(self, max_age: int | None) -> str:
        # In http.cookies' order (sorted by attribute name), so both paths write one header.
        domain = f"; Domain={self.domain}" if self.domain is not None else ""
        age = f"; Max-Age={max_age}" if max_age is not None else ""
        secure = "; Secure" if self.https else ""
        return f"{domain}; HttpOnly{age}; Path=/; SameSite=lax{secure}"

    def clear(self, response: Response, base: str) -> None:
        response.delete_cookie(
            self.name(base),
            path="/",
            domain=self.domain,
            secure=self.https,
            httponly=True,
            samesite="lax",
        )


def cookie_value(header: str, name: str) -> str | None:
    """``cookie_parser(header).get(name)``, as Starlette's ``request.cookies`` reads a (non-empty)
    name, without unquoting every other cookie: the last ``name=`` wins, spaces around the name
    and value are dropped, then the value is unquoted."""
    if name not in header:
        return None
    found = None
    for chunk in header.split(";"):
        key, equals, value = chunk.partition("=")
        if equals and key.strip() == name:
            found = value
    # Starlette's own unquoting (http.cookies'), so both paths read a quoted value alike.
    return None if found is None else http_cookies._unquote(found.strip())
