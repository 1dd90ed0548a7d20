"""What the routes share, built once by ``create_app`` and reached through ``request.app``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import urlsplit

from anyio import to_thread
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from quivive.composition import Services
from quivive.domain.sessions import Session
from quivive.errors import SessionInvalid
from quivive.services.sessions import ActiveSession
from quivive.web import messages
from quivive.web.cookies import CookiePolicy
from quivive.web.csrf import CSRF_FIELD, CsrfProtection
from quivive.web.forms import read_form
from quivive.web.pages import Pages

T = TypeVar("T")

SESSION_COOKIE = "quivive_session"


@dataclass(frozen=True, slots=True)
class WebState:
    services: Services
    pages: Pages
    cookies: CookiePolicy
    csrf: CsrfProtection

    def render_form(
        self,
        request: Request,
        template: str,
        context: Mapping[str, object],
        *,
        status_code: int = 200,
    ) -> HTMLResponse:
        """Render a page holding a form: adds the CSRF token (and its cookie when new)."""
        new_cookies: dict[str, str] = {}
        token = self.csrf.token_for(request, new_cookies)
        response = self.pages.render(
            request, template, {**context, "csrf_token": token}, status_code=status_code
        )
        self.csrf.apply(response, new_cookies)
        response.headers["cache-control"] = "no-store"
        return response

    async def posted_form(self, request: Request) -> dict[str, str]:
        """The strictly parsed form of a state-changing POST, once its CSRF token is checked."""
        form = await read_form(request)
        self.csrf.verify(request, form.get(CSRF_FIELD))
        return form

    def translate(self, request: Request, message: str) -> str:
        return self.pages.gettext(request.state.language, message)

    def wait_text(self, request: Request, seconds: int) -> str:
        """A wait rounded up, in the user's language: seconds under a minute, then minutes."""
        if seconds < 60:
            return self.translate(request, messages.WAIT_SECONDS).format(count=seconds)
        return self.translate(request, messages.WAIT_MINUTES).format(count=-(-seconds // 60))

    async def current_session(self, request: Request) -> ActiveSession | None:
        found = await self.session_with(request, _nothing)
        return None if found is None else found[0]

    async def session_with(
        self, request: Request, then: Callable[[ActiveSession], T]
    ) -> tuple[ActiveSession, T] | None:
        """The live session and ``then(session)``, worked out in the worker thread that resolved
        the session: one trip for both (a page that needs the MFA standing too made two)."""
        request.state.session_read = True
        token = self._session_token(request)
        if token is None:
            return None

        def resolve_then() -> tuple[ActiveSession, T] | None:
            # One transaction for the session's refresh and what ``then`` reads or writes (a
            # second factor's check and upgrade): one connection and one commit for the step.
            with self.services.unit_of_work():
                active = self.services.sessions.resolve(token)
                return None if active is None else (active, then(active))

        found = await to_thread.run_sync(resolve_then)
        if found is not None:
            mark_emergency(request, self.services, found[0])
        return found

    async def mark_emergency_banner(self, request: Request) -> None:
        """The banner on a page that does not load the session (sign-in page, error pages).

        Every page of an emergency session must say so. This costs one read of the session by
        its token hash, in a worker thread, only for a request that sends a session cookie and
        whose route has not read the session already: about 0.1 ms on SQLite and 0.9 ms on
        PostgreSQL here (2 cores), less than the account page, which reads the same session
        and more. Scanners probing for 404s send no session cookie and pay nothing. The session
        is not touched, so an error page does not extend it.
        """
        if getattr(request.state, "session_read", False):
            return
        request.state.session_read = True
        token = self._session_token(request)
        if token is None:
            return
        with suppress(SessionInvalid):
            session = await to_thread.run_sync(self.services.sessions.find_live, token)
            if session.emergency:
                request.state.emergency_until = emergency_end(session)

    def _session_token(self, request: Request) -> str | None:
        token = request.cookies.get(self.cookies.name(SESSION_COOKIE))
        return token if token and len(token) <= 128 else None


def _nothing(_active: ActiveSession) -> None:
    return None


def emergency_end(session: Session) -> str:
    return session.expires_at.strftime("%Y-%m-%d %H:%M UTC")


def mark_emergency(request: Request, services: Services, active: ActiveSession) -> None:
    """For base.html's banner and the second-factor pages' emergency path (no I/O)."""
    request.state.session_read = True
    if active.session.emergency:
        request.state.emergency_until = emergency_end(active.session)
    else:
        request.state.emergency_offer = services.emergency.offered_to(active.user)


def web_state(request: Request) -> WebState:
    state: WebState = request.app.state.quivive
    return state


def safe_next(target: str | None, default: str = "/account") -> str:
    """A local path to return to after sign-in; anything else (other hosts, //evil) is dropped."""
    if not target or len(target) > 2048 or not target.startswith("/") or target.startswith("//"):
        return default
    if "\\" in target or any(ord(ch) < 0x20 for ch in target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def no_store(response: Response) -> Response:
    response.headers["cache-control"] = "no-store"
    return response
