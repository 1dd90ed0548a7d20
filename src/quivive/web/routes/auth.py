"""Sign-in and sign-out with a password."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from anyio import to_thread
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from quivive.domain.assurance import Verification
from quivive.domain.audit import AuditEvent, Outcome
from quivive.domain.sessions import AssuranceLevel
from quivive.domain.throttling import LoginThrottled, PasswordAloneInsufficient
from quivive.domain.users import User
from quivive.errors import AuthenticationFailed
from quivive.services.mfa import Standing
from quivive.services.totp import TotpFactor
from quivive.web import messages
from quivive.web.devices import device_checker, remember_device, set_device_cookie
from quivive.web.forms import MAX_FIELD_LENGTH
from quivive.web.mfa_flow import after_password, origin_of, standing_after_password
from quivive.web.plain_routes import PlainRoutes
from quivive.web.state import SESSION_COOKIE, WebState, safe_next, see_other, web_state

router = APIRouter()
plain = PlainRoutes()  # the sign-in post

NOTICES = {
    "signed_out": messages.SIGNED_OUT,
    "expired": messages.SESSION_EXPIRED,
    "setup_done": messages.SETUP_DONE,
}


@router.get("/login", include_in_schema=False)
async def login_page(request: Request) -> Response:
    web = web_state(request)
    notice = NOTICES.get(request.query_params.get("notice", ""))
    await web.mark_emergency_banner(request)  # shown while signed in, so it must carry it
    return web.render_form(
        request,
        "login.html",
        {
            "next": safe_next(request.query_params.get("next")),
            # OIDC login_hint, passed on by /authorize: a suggestion the user can change.
            "username": request.query_params.get("login_hint", "")[:MAX_FIELD_LENGTH],
            "error": _passkey_error(web, request),
            "notice": web.translate(request, notice) if notice else None,
        },
    )


def _passkey_error(web: WebState, request: Request) -> str | None:
    # routes.passkeys sends a refused passwordless sign-in back here with ?error=passkey.
    failed = request.query_params.get("error") == "passkey"
    return web.translate(request, messages.PASSKEY_FAILED) if failed else None


@plain.post("/login")
async def login(request: Request) -> Response:
    web = web_state(request)
    form = await web.posted_form(request)
    username, password = form.get("username", ""), form.get("password", "")
    next_url = safe_next(form.get("next"))
    if len(username) > MAX_FIELD_LENGTH or len(password) > MAX_FIELD_LENGTH:
        return _login_failed(
            web,
            request,
            username[:MAX_FIELD_LENGTH],
            next_url,
            messages.FIELD_TOO_LONG,
            status_code=400,
        )
    source = request.state.client_address
    code = form.get("code", "").strip()[:MAX_FIELD_LENGTH]
    second_factor = TotpWithPassword(web.services.totp, code) if code else None
    start = partial(
        _start_session,
        web,
        previous_token=request.cookies.get(web.cookies.name(SESSION_COOKIE)),
        source=source,
        user_agent=request.headers.get("user-agent"),
        request_id=request.state.request_id,
        # With a code, the device is checked after the upgrade, as after any second factor.
        device=None if second_factor else device_checker(request),
    )
    try:
        # The session starts in the worker thread that records the success: one trip for both.
        user, (token, standing, device_id) = await web.services.authenticator.authenticate_then(
            username, password, start, source_address=source, second_factor=second_factor
        )
    except LoginThrottled as exc:
        return _login_throttled(web, request, username, next_url, exc.seconds_to_wait)
    except PasswordAloneInsufficient:
        message = messages.PASSWORD_ALONE_INSUFFICIENT
        return _login_failed(
            web, request, username, next_url, message, status_code=403, ask_code=True
        )
    except AuthenticationFailed:
        return _login_failed(
            web, request, username, next_url, messages.LOGIN_FAILED, ask_code=bool(code)
        )
    if second_factor is not None and second_factor.credential_id is not None:
        token, _assurance = await to_thread.run_sync(
            partial(
                web.services.mfa.upgrade,
                token,
                user,
                Verification("totp", ("otp",), second_factor.credential_id),
                origin_of(request),
            )
        )
        response = see_other(next_url)
    elif standing is not None:
        # A second factor, the enrolment nudge or the enrolment wall may come before ``next``.
        response = see_other(after_password(standing, next_url))
    else:
        raise RuntimeError("a password sign-in without a code must have its MFA standing")
    web.cookies.set(response, SESSION_COOKIE, token)
    if device_id is None:
        await remember_device(request, response, user)
    else:
        set_device_cookie(request, response, device_id)
    return response


def _start_session(
    web: WebState,
    user: User,
    *,
    previous_token: str | None,
    source: str | None,
    user_agent: str | None,
    request_id: str,
    device: Callable[[User], str] | None,
) -> tuple[str, Standing | None, str | None]:
    """Start the session and audit the sign-in; then, for a password alone, work out its MFA
    standing and check the device (``device``): one worker-thread trip for all of it."""
    if previous_token:
        web.services.sessions.end(previous_token)  # never carry an identifier across a login
    token = web.services.sessions.start(
        user, amr=("pwd",), aal=AssuranceLevel.AAL1, source_address=source, user_agent=user_agent
    )
    web.services.audit.record(
        AuditEvent(
            action="login.password",
            outcome=Outcome.SUCCESS,
            at=web.services.clock.now(),
            actor=user.username,
            subject=user.username,
            source_address=source,
            user_agent=user_agent,
            request_id=request_id,
        )
    )
    if device is None:
        return token, None, None
    return token, standing_after_password(web, user), device(user)


class TotpWithPassword:
    """A TOTP code typed on the sign-in page with the password (a ``FactorCheck``).

    Past the consecutive-failure line a password alone no longer opens an account; the real user
    still gets in with the code from their app, which the attacker hammering the account lacks.
    """

    def __init__(self, totp: TotpFactor, code: str) -> None:
        self._totp = totp
        self._code = code
        self.credential_id: str | None = None

    def verify(self, user: User) -> bool:
        self.credential_id = self._totp.verify(user.id, self._code)
        return self.credential_id is not None


def _login_failed(
    web: WebState,
    request: Request,
    username: str,
    next_url: str,
    message: str,
    *,
    status_code: int = 401,
    ask_code: bool = False,
) -> Response:
    context = {
        "next": next_url,
        "username": username,
        "notice": None,
        "error": web.translate(request, message),
        "ask_code": ask_code,
    }
    return web.render_form(request, "login.html", context, status_code=status_code)


def _login_throttled(
    web: WebState, request: Request, username: str, next_url: str, seconds: int
) -> Response:
    """429 with the wait rounded up and Retry-After."""
    wait = web.wait_text(request, seconds)
    message = web.translate(request, messages.LOGIN_THROTTLED).format(wait=wait)
    context = {"next": next_url, "username": username, "notice": None, "error": message}
    response = web.render_form(request, "login.html", context, status_code=429)
    response.headers["retry-after"] = str(seconds)
    return response


@router.get("/logout", include_in_schema=False)
async def logout_page(request: Request) -> Response:
    web = web_state(request)
    await web.mark_emergency_banner(request)
    return web.render_form(request, "logout.html", {})


@router.post("/logout", include_in_schema=False)
async def logout(request: Request) -> Response:
    web = web_state(request)
    await web.posted_form(request)  # only its CSRF check matters here
    active = await web.current_session(request)
    if active is not None:
        event = AuditEvent(
            action="logout",
            outcome=Outcome.SUCCESS,
            at=web.services.clock.now(),
            actor=active.user.username,
            subject=active.user.username,
            source_address=request.state.client_address,
            request_id=request.state.request_id,
        )
        await to_thread.run_sync(_end_session, web, active.token, event)
    response = see_other("/login?notice=signed_out")
    web.cookies.clear(response, SESSION_COOKIE)
    return response


def _end_session(web: WebState, token: str, event: AuditEvent) -> None:
    web.services.sessions.end(token)
    web.services.audit.record(event)
