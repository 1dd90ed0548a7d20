"""Passkey pages: registration on the account side, passwordless sign-in, and the second factor.

Each ceremony is two requests. ``POST /passkeys/options/<purpose>`` (sent by ``passkeys.js`` with
the page's CSRF token in a header) stores a challenge and returns the options JSON, putting the
ceremony identifier in an HttpOnly cookie; the page's form then posts ``credential.toJSON()`` as an
ordinary field, and the answer is an ordinary redirect.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from anyio import to_thread
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from quivive.domain.assurance import assess
from quivive.domain.users import User
from quivive.errors import (
    NotFoundError,
    ReauthenticationRequired,
    ValidationError,
    WebAuthnRejected,
)
from quivive.protocols.webauthn import CEREMONY_TIMEOUT
from quivive.services.mfa import Origin, Step
from quivive.services.passkeys import FACTOR_NAME, Ceremony, PasskeySignIn
from quivive.services.sessions import ActiveSession
from quivive.web import messages
from quivive.web.devices import remember_device
from quivive.web.mfa_flow import (
    REAUTH_PATH,
    finish_verification,
    origin_of,
    pending_session,
    standing_of,
    with_next,
)
from quivive.web.state import SESSION_COOKIE, WebState, safe_next, see_other, web_state

router = APIRouter()

CEREMONY_COOKIE = "quivive_webauthn"
CSRF_HEADER = "x-csrf-token"
ENROL_PATH = "/account/passkeys"
VERIFY_PATH = "/login/second-factor/passkey"
PASSWORDLESS_PATH = "/login/passkey"
REAUTH_PASSKEY_PATH = "/account/reauth/passkey"

NOTICES = {
    "added": messages.PASSKEY_ADDED,
}


# --- options: the first half of every ceremony ------------------------------------------------


@router.post("/passkeys/options/login", include_in_schema=False)
async def passwordless_options(request: Request) -> Response:
    web = web_state(request)
    web.csrf.verify(request, request.headers.get(CSRF_HEADER))
    return _options(web, await to_thread.run_sync(web.services.passkeys.begin_passwordless))


@router.post("/passkeys/options/register", include_in_schema=False)
async def registration_options(request: Request) -> Response:
    web = web_state(request)
    web.csrf.verify(request, request.headers.get(CSRF_HEADER))
    active = await _enrolling_session(request)
    if active is None:
        return JSONResponse({"error": "reauthentication_required"}, status_code=403)
    begin = partial(web.services.passkeys.begin_registration, active.user)
    try:
        return _options(web, await to_thread.run_sync(begin))
    except ValidationError:
        return JSONResponse({"error": "too_many"}, status_code=409)


@router.post("/passkeys/options/second-factor", include_in_schema=False)
async def second_factor_options(request: Request) -> Response:
    return await _options_for_own_keys(
        request, web_state(request).services.passkeys.begin_second_factor
    )


@router.post("/passkeys/options/reauth", include_in_schema=False)
async def reauthentication_options(request: Request) -> Response:
    begin = web_state(request).services.passkeys.begin_reauthentication
    return await _options_for_own_keys(request, begin)


async def _options_for_own_keys(request: Request, begin: Callable[[User], Ceremony]) -> Response:
    """Options naming the signed-in user's own keys (second factor, re-authentication)."""
    web = web_state(request)
    web.csrf.verify(request, request.headers.get(CSRF_HEADER))
    active = await pending_session(request)
    if active is None:
        return JSONResponse({"error": "session_invalid"}, status_code=401)
    try:
        return _options(web, await to_thread.run_sync(begin, active.user))
    except NotFoundError:
        return JSONResponse({"error": "no_passkey"}, status_code=404)


def _options(web: WebState, ceremony: Ceremony) -> Response:
    response = Response(ceremony.options, media_type="application/json")
    response.headers["cache-control"] = "no-store"
    max_age = int(CEREMONY_TIMEOUT.total_seconds())
    web.cookies.set(response, CEREMONY_COOKIE, ceremony.token, max_age=max_age)
    return response


# --- passwordless sign-in ---------------------------------------------------------------------


@router.post(PASSWORDLESS_PATH, include_in_schema=False)
async def passwordless_sign_in(request: Request) -> Response:
    web = web_state(request)
    form = await web.posted_form(request)
    next_url = safe_next(form.get("next"))
    finish = partial(
        web.services.passkeys.finish_passwordless,
        _ceremony_token(web, request),
        form.get("credential", ""),
        origin_of(request),
    )
    try:
        signed_in = await to_thread.run_sync(finish)
    except WebAuthnRejected:
        return _clear_ceremony(web, see_other(with_next("/login", next_url, error="passkey")))
    token = await to_thread.run_sync(_start_session, web, request, signed_in)
    response = _clear_ceremony(web, see_other(next_url))
    web.cookies.set(response, SESSION_COOKIE, token)
    await remember_device(request, response, signed_in.user)
    return response


def _start_session(web: WebState, request: Request, signed_in: PasskeySignIn) -> str:
    previous = request.cookies.get(web.cookies.name(SESSION_COOKIE))
    if previous:
        web.services.sessions.end(previous)  # never carry an identifier across a sign-in
    assurance = assess(signed_in.amr)
    return web.services.sessions.start(
        signed_in.user,
        amr=assurance.amr,
        aal=assurance.level,
        source_address=request.state.client_address,
        user_agent=request.headers.get("user-agent"),
    )


# --- second factor after the password ---------------------------------------------------------


@router.get(VERIFY_PATH, include_in_schema=False)
async def second_factor_page(request: Request) -> Response:
    web = web_state(request)
    active = await pending_session(request)
    if active is None:
        return see_other("/login")
    failed = request.query_params.get("error") == "passkey"
    return _second_factor_form(web, request, safe_next(request.query_params.get("next")), failed)


@router.post(VERIFY_PATH, include_in_schema=False)
async def second_factor_verify(request: Request) -> Response:
    web = web_state(request)
    form = await web.posted_form(request)
    next_url = safe_next(form.get("next"))
    active = await pending_session(request)
    if active is None:
        return see_other("/login")
    finish = partial(
        web.services.passkeys.finish_second_factor,
        active.user,
        _ceremony_token(web, request),
        form.get("credential", ""),
        origin_of(request),
    )
    try:
        verification = await to_thread.run_sync(finish)
    except WebAuthnRejected:
        retry = with_next(VERIFY_PATH, next_url, error="passkey")
        return _clear_ceremony(web, see_other(retry))
    response = await finish_verification(request, active, verification, next_url)
    return _clear_ceremony(web, response)


def _second_factor_form(web: WebState, request: Request, next_url: str, failed: bool) -> Response:
    context = {
        "next": next_url,
        "error": web.translate(request, messages.PASSKEY_FAILED) if failed else None,
    }
    return web.render_form(request, "passkey_verify.html", context, status_code=200)


# --- re-authentication before a factor change ------------------------------------------------


@router.post(REAUTH_PASSKEY_PATH, include_in_schema=False)
async def reauthenticate_with_passkey(request: Request) -> Response:
    web = web_state(request)
    form = await web.posted_form(request)
    next_url = safe_next(form.get("next"))
    active = await pending_session(request)
    if active is None:
        return see_other("/login")
    origin = origin_of(request)
    finish = partial(
        web.services.passkeys.finish_reauthentication,
        active.user,
        _ceremony_token(web, request),
        form.get("credential", ""),
        origin,
    )
    try:
        await to_thread.run_sync(finish)
    except WebAuthnRejected:
        return _clear_ceremony(web, see_other(with_next(REAUTH_PATH, next_url, error="passkey")))
    renew = partial(web.services.mfa.reauthenticated, active.token, active.user, origin, "passkey")
    response = _clear_ceremony(web, see_other(next_url))
    web.cookies.set(response, SESSION_COOKIE, await to_thread.run_sync(renew))
    return response


# --- registration -----------------------------------------------------------------------------


@router.get(ENROL_PATH, include_in_schema=False)
async def passkeys_page(request: Request) -> Response:
    web = web_state(request)
    active = await pending_session(request)
    if active is None:
        return see_other(with_next("/login", ENROL_PATH))
    gate = await _enrol_gate(web, active)
    if gate is not None:
        return gate
    notice = NOTICES.get(request.query_params.get("notice", ""))
    error = messages.PASSKEY_REASONS.get(request.query_params.get("error", ""))
    return await _passkeys_form(web, request, active.user, notice=notice, error=error)


@router.post(ENROL_PATH, include_in_schema=False)
async def add_passkey(request: Request) -> Response:
    web = web_state(request)
    form = await web.posted_form(request)
    active = await _enrolling_session(request)
    if active is None:
        return see_other(with_next(REAUTH_PATH, ENROL_PATH))
    name = form.get("name", "").strip() or web.translate(request, messages.PASSKEY_DEFAULT_NAME)
    finish = partial(
        _register,
        web,
        active.user,
        _ceremony_token(web, request),
        form.get("credential", ""),
        name,
        origin_of(request),
    )
    try:
        await to_thread.run_sync(finish)
    except WebAuthnRejected as refused:
        reason = "already_registered" if refused.reason == "already_registered" else "failed"
        return _clear_ceremony(web, see_other(f"{ENROL_PATH}?error={reason}"))
    return _clear_ceremony(web, see_other(f"{ENROL_PATH}?notice=added"))


def _register(
    web: WebState, user: User, token: str, credential: str, name: str, origin: Origin
) -> None:
    web.services.passkeys.finish_registration(user, token, credential, name, origin)
    web.services.mfa.factor_enrolled(user, FACTOR_NAME, origin)


async def _passkeys_form(
    web: WebState, request: Request, user: User, *, notice: str | None, error: str | None
) -> Response:
    keys = await to_thread.run_sync(web.services.passkeys.list_for_user, user.id)
    context: dict[str, Any] = {
        "passkeys": keys,
        "notice": web.translate(request, notice) if notice else None,
        "error": web.translate(request, error) if error else None,
    }
    return web.render_form(request, "passkeys.html", context)


async def _enrol_gate(web: WebState, active: ActiveSession) -> Response | None:
    """Who may add a key: a fully signed-in session (or one the policy sends to enrol), recent."""
    standing = await standing_of(web, active)
    if standing.step is Step.SECOND_FACTOR:
        # Someone holding only the password must not add their own authenticator.
        return see_other(with_next("/login/second-factor", ENROL_PATH))
    try:
        web.services.mfa.require_recent_auth(active.session)
    except ReauthenticationRequired:
        return see_other(with_next(REAUTH_PATH, ENROL_PATH))
    return None


async def _enrolling_session(request: Request) -> ActiveSession | None:
    active = await pending_session(request)
    if active is None or await _enrol_gate(web_state(request), active) is not None:
        return None
    return active


# --- the ceremony cookie ----------------------------------------------------------------------


def _ceremony_token(web: WebState, request: Request) -> str:
    return request.cookies.get(web.cookies.name(CEREMONY_COOKIE), "")


def _clear_ceremony(web: WebState, response: Response) -> Response:
    web.cookies.clear(response, CEREMONY_COOKIE)
    return response
