"""Cookie names and attributes: ``__Host-`` prefix and ``Secure`` whenever served over https."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.responses import Response


@dataclass(frozen=True, slots=True)
class CookiePolicy:
    https: bool
    domain: str | None = None  # set for single sign-on across sub-domains (forward-auth gate)

    def name(self, base: str) -> str:
        # __Host- forbids a Domain attribute, so it only applies to host-only cookies.
        return f"__Host-{base}" if self.https and self.domain is None else base

    def set(self, response: Response, base: str, value: str, *, max_age: int | None = None) -> None:
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

    def clear(self, response: Response, base: str) -> None:
        response.delete_cookie(
            self.name(base),
            path="/",
            domain=self.domain,
            secure=self.https,
            httponly=True,
            samesite="lax",
        )
