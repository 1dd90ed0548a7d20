"""Second-factor sign-in, step-up, the enrolment nudge, re-authentication and TOTP enrolment."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import segno
from anyio import to_thread
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from quivive.domain.assurance import Verification
from quivive.domain.sessions import AssuranceLevel
from quivive.domain.throttling import ThrottleDecision
from quivive.errors import (
    AuthenticationFailed,
    CodesThrottled,
    QuiviveError,
    ReauthenticationRequired,
)
from quivive.services.mfa import Origin, SecondFactor, Standing, Step
from quivive.services.sessions import ActiveSession
from quivive.web import messages
from quivive.web.forms import MAX_FIELD_LENGTH
from quivive.web.mfa_flow import (
    ENROL_REQUIRED_PATH,
    NUDGE_PATH,
    REAUTH_PATH,
    SECOND_FACTOR_PATH,
    here,
    origin_of,
    pending_session,
    session_standing,
    to_login,
    with_next,
)
from quivive.web.plain_routes import PlainRoutes
from quivive.web.state import SESSION_COOKIE, WebState, safe_next, see_other, web_state

router = APIRouter()
plain = PlainRoutes()  # the second-factor code posts

TOTP_VERIFY_PATH = "/login/second-factor/totp"
RECOVERY_VERIFY_PATH = "/login/second-factor/recovery-code"
TOTP_ENROL_PATH = "/account/totp/enrol"


def _next(request: Request, form: dict[str, str] | None = None) -> str:
    raw = form.get("next") if form is not None else request.query_params.get("next")
    return safe_next(raw)


def _level(raw: str | None) -> AssuranceLevel:
    try:
        return AssuranceLevel(int(raw or "1"))
    except ValueError:
        return AssuranceLevel.AAL1


# --- choosing and proving a second factor -------------------------------------------------------


@router.get(SECOND_FACTOR_PATH, include_in_schema=False)
async def second_factor_page(request: Request) -> Response:
    web = web_state(request)
    next_url, level = _next(request), _level(request.query_params.get("level"))
    found = await session_standing(request, level)
    if found is None:
        return to_login(request)
    active, standing = found
    if standing.step is not Step.SECOND_FACTOR:
        return see_other(next_url)
    if active.session.emergency:
        # No step-up out of an emergency session: it would outlive its two hours.
        context = {"choices": [], "step_up": True, "emergency": True}
        return web.render_form(request, "second_factor.html", context, status_code=403)
    choices = [factor for factor in standing.usable if _can_reach(factor, level)]
    extra = {"level": str(int(level))} if level > AssuranceLevel.AAL1 else {}
    links = [
        (messages.factor_label(factor.name), with_next(factor.verify_path, next_url, **extra))
        for factor in choices
    ]
    primary = [factor for factor in choices if not factor.is_backup]
    if len(primary) == 1:
        return see_other(with_next(primary[0].verify_path, next_url, **extra))
    context = {
        "choices": [(web.translate(request, label), link) for label, link in links],
        "step_up": level > AssuranceLevel.AAL1,
    }
    return web.render_form(request, "second_factor.html", context)


def _can_reach(factor: SecondFactor, level: AssuranceLevel) -> bool:
    # AAL3 needs a phishing-resistant key (domain.assurance); codes cannot get there.
    return level < AssuranceLevel.AAL3 or factor.phishing_resistant


@router.get(TOTP_VERIFY_PATH, include_in_schema=False)
async def totp_page(request: Request) -> Response:
    return await _code_page(request, "totp")


@router.get(RECOVERY_VERIFY_PATH, include_in_schema=False)
async def recovery_page(request: Request) -> Response:
    return await _code_page(request, "recovery_code")


async def _code_page(request: Request, factor: str, *, error: str | None = None) -> Response:
    active = await pending_session(request)
    if active is None:
        return to_login(request)
    return _code_form(request, factor, _next(request), request.query_params.get("level"), error)


def _code_form(
    request: Request,
    factor: str,
    next_url: str,
    level: str | None,
    error: str | None,
    *,
    translated: bool = False,
) -> Response:
    web = web_state(request)
    totp = factor == "totp"
    if error and not translated:
        error = web.translate(request, error)
    context = {
        "factor": factor,
        "action": TOTP_VERIFY_PATH if totp else RECOVERY_VERIFY_PATH,
        "next": next_url,
        "level": level or "",
        "error": error,
        "other_methods": with_next(SECOND_FACTOR_PATH, next_url),
        "recovery_link": with_next(RECOVERY_VERIFY_PATH, next_url),
    }
    status = 401 if error else 200
    return web.render_form(request, "code_form.html", context, status_code=status)


@plain.post(TOTP_VERIFY_PATH)
async def totp_verify(request: Request) -> Response:
    return await _verify_code(request, "totp")


@plain.post(RECOVERY_VERIFY_PATH)
async def recovery_verify(request: Request) -> Response:
    return await _verify_code(request, "recovery_code")


async def _verify_code(request: Request, factor: str) -> Response:
    web = web_state(request)
    form = await web.posted_form(request)
    code, next_url = form.get("code", "")[:MAX_FIELD_LENGTH], _next(request, form)
    check = partial(_check_then_upgrade, web, factor, code, origin_of(request))
    found = await web.session_with(request, check)
    if found is None:
        return to_login(request)
    _active, outcome = found
    if outcome.throttled is not None:
        return _codes_throttled(request, factor, next_url, form, outcome.throttled)
    if outcome.token is None:
        error = messages.CODE_REJECTED
        return _code_form(request, factor, next_url, form.get("level"), error)
    response = see_other(next_url)
    web.cookies.set(response, SESSION_COOKIE, outcome.token)
    return response


@dataclass(frozen=True, slots=True)
class CodeOutcome:
    """What a code typed on the second-factor page came to."""

    token: str | None = None  # the upgraded session's: the code was right
    throttled: CodesThrottled | None = None  # refused before it was checked


def _check_then_upgrade(
    web: WebState, factor: str, code: str, origin: Origin, active: ActiveSession
) -> CodeOutcome:
    """Check the code under the guess limit; upgrade the session if it is right, audit the
    refusal if not. Runs in the worker thread that resolved the session (``session_with``): the
    whole step is one trip, where it was three (resolve, check and upgrade, audit a refusal)."""
    record_failure = web.services.mfa.record_failure
    try:
        credential = web.services.code_guard.check(active.user, factor, code, origin.source_address)
    except CodesThrottled as throttled:
        record_failure(active.user, factor, "codes_throttled", origin)
        return CodeOutcome(throttled=throttled)
    if credential is None:
        record_failure(active.user, factor, "bad_code", origin)
        return CodeOutcome()
    if factor == "recovery_code":
        _notify_recovery_use(web, active)
    verification = Verification(factor=factor, amr=("otp",), credential_id=credential)
    upgrade = web.services.mfa.upgrade
    new_token, _ = upgrade(active.token, active.user, verification, origin, session=active.session)
    return CodeOutcome(token=new_token)


def _codes_throttled(
    request: Request,
    factor: str,
    next_url: str,
    form: dict[str, str],
    throttled: CodesThrottled,
) -> Response:
    """429: wait (with Retry-After), or, once the limit is spent, another factor or the helpdesk."""
    web = web_state(request)
    if throttled.exhausted or throttled.not_before is None:
        error = web.translate(request, messages.CODES_EXHAUSTED)
        seconds = None
    else:
        now = web.services.clock.now()
        seconds = ThrottleDecision(not_before=throttled.not_before).seconds_to_wait(now)
        wait = web.wait_text(request, seconds)
        error = web.translate(request, messages.CODES_THROTTLED).format(wait=wait)
    response = _code_form(request, factor, next_url, form.get("level"), error, translated=True)
    response.status_code = 429
    if seconds is not None:
        response.headers["retry-after"] = str(seconds)
    return response


def _notify_recovery_use(web: WebState, active: ActiveSession) -> None:
    """Tell the owner by e-mail: a recovery code in a thief's hands must not go unnoticed."""
    email = active.user.email
    if not email:
        return
    remaining = web.services.recovery_codes.status(active.user.id).remaining
    name = web.services.settings.establishment_name
    when = web.services.clock.now().strftime("%Y-%m-%d %H:%M UTC")
    body = messages.recovery_code_email(name, when, remaining)
    web.services.mailer.send(email, messages.RECOVERY_EMAIL_SUBJECT.format(name=name), body)


# --- the nudge before the deadline, and the wall after it ------------------------------------


@router.get(NUDGE_PATH, include_in_schema=False)
async def nudge_page(request: Request) -> Response:
    web = web_state(request)
    found = await session_standing(request)
    if found is None:
        return to_login(request)
    _active, standing = found
    next_url = _next(request)
    if standing.has_second_factor or standing.step is not Step.PROCEED:
        return see_other(next_url)
    context = {
        "days_left": standing.requirement.days_left(web.services.clock.now()),
        "deadline": standing.requirement.deadline,
        "enrol_links": _enrol_links(web, request, standing, next_url),
        "next": next_url,
    }
    return web.render_form(request, "mfa_nudge.html", context)


@router.get(ENROL_REQUIRED_PATH, include_in_schema=False)
async def required_page(request: Request) -> Response:
    web = web_state(request)
    found = await session_standing(request)
    if found is None:
        return to_login(request)
    _active, standing = found
    next_url = _next(request)
    if standing.step is not Step.ENROL_REQUIRED:
        return see_other(next_url)
    context = {
        "enrol_links": _enrol_links(web, request, standing, next_url),
        "phishing_resistant": standing.requirement.phishing_resistant,
    }
    return web.render_form(request, "mfa_required.html", context)


def _enrol_links(
    web: WebState, request: Request, standing: Standing, next_url: str
) -> list[tuple[str, str]]:
    strict = standing.requirement.phishing_resistant
    return [
        (web.translate(request, messages.factor_label(f.name)), with_next(f.enrol_path, next_url))
        for f in web.services.mfa.factors
        if f.enrol_path and (f.phishing_resistant or not strict)
    ]


# --- re-authentication before factor changes -------------------------------------------------


@router.get(REAUTH_PATH, include_in_schema=False)
async def reauth_page(request: Request) -> Response:
    active = await pending_session(request)
    if active is None:
        return to_login(request)
    failed = request.query_params.get("error") == "passkey"
    return await _reauth_form(
        request, active, _next(request), messages.PASSKEY_FAILED if failed else None
    )


async def _reauth_form(
    request: Request, active: ActiveSession, next_url: str, error: str | None
) -> Response:
    """The password form, and the passkey button for users who have one (or only that)."""
    web = web_state(request)
    keys = await to_thread.run_sync(web.services.passkeys.list_for_user, active.user.id)
    context = {
        "next": next_url,
        "error": web.translate(request, error) if error else None,
        "has_password": active.user.password_hash is not None,
        "has_passkey": bool(keys),
    }
    return web.render_form(request, "reauth.html", context, status_code=401 if error else 200)


@router.post(REAUTH_PATH, include_in_schema=False)
async def reauth(request: Request) -> Response:
    web = web_state(request)
    form = await web.posted_form(request)
    active = await pending_session(request)
    if active is None:
        return to_login(request)
    next_url = _next(request, form)
    try:
        await web.services.authenticator.authenticate(
            active.user.username,
            form.get("password", "")[:MAX_FIELD_LENGTH],
            source_address=request.state.client_address,
        )
    except (AuthenticationFailed, QuiviveError):
        return await _reauth_form(request, active, next_url, messages.LOGIN_FAILED)
    renew = web.services.mfa.reauthenticated
    token = await to_thread.run_sync(renew, active.token, active.user, origin_of(request))
    response = see_other(next_url)
    web.cookies.set(response, SESSION_COOKIE, token)
    return response


# --- TOTP enrolment -----------------------------------------------------------------------------


async def enrolling_session(request: Request) -> ActiveSession | Response:
    """A session allowed to add a factor: signed in (or held at the enrolment wall), recent."""
    web = web_state(request)
    found = await session_standing(request)
    if found is None:
        return to_login(request)
    active, standing = found
    if standing.step is Step.SECOND_FACTOR:
        return see_other(with_next(SECOND_FACTOR_PATH, here(request)))
    try:
        web.services.mfa.require_recent_auth(active.session)
    except ReauthenticationRequired:
        return see_other(with_next(REAUTH_PATH, here(request)))
    return active


@router.get(TOTP_ENROL_PATH, include_in_schema=False)
async def totp_enrol_page(request: Request) -> Response:
    gate = await enrolling_session(request)
    if isinstance(gate, Response):
        return gate
    web = web_state(request)
    begin = partial(web.services.totp.begin, gate.user.id, gate.user.username)
    pending = await to_thread.run_sync(begin)
    return _enrol_form(request, pending.secret, pending.uri, _next(request), None)


def _enrol_form(
    request: Request, secret: str, uri: str, next_url: str, error: str | None
) -> Response:
    web = web_state(request)
    qr = segno.make(uri, error="m").svg_inline(scale=5, title="QR code", dark="#1d2433")
    context = {
        "qr_svg": qr,
        "secret": secret,
        "secret_grouped": " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
        "uri": uri,
        "next": next_url,
        "error": web.translate(request, error) if error else None,
    }
    return web.render_form(request, "totp_enrol.html", context, status_code=400 if error else 200)


@router.post(TOTP_ENROL_PATH, include_in_schema=False)
async def totp_enrol(request: Request) -> Response:
    web = web_state(request)
    form = await web.posted_form(request)
    gate = await enrolling_session(request)
    if isinstance(gate, Response):
        return gate
    user, next_url = gate.user, _next(request, form)
    confirm = partial(
        web.services.totp.confirm,
        user.id,
        form.get("code", "")[:MAX_FIELD_LENGTH],
        form.get("name", "")[:MAX_FIELD_LENGTH],
    )
    credential = await to_thread.run_sync(confirm)
    if credential is None:
        pending = await to_thread.run_sync(web.services.totp.pending, user.id, user.username)
        if pending is None:
            return see_other(with_next(TOTP_ENROL_PATH, next_url))
        return _enrol_form(request, pending.secret, pending.uri, next_url, messages.CODE_REJECTED)
    codes = await to_thread.run_sync(_after_totp_enrolment, web, gate, credential, request)
    verification = Verification(factor="totp", amr=("otp",), credential_id=credential)
    upgrade = partial(
        web.services.mfa.upgrade,
        gate.token,
        user,
        verification,
        origin_of(request),
        session=gate.session,
    )
    new_token, _ = await to_thread.run_sync(upgrade)
    response = show_recovery_codes(request, codes, next_url) if codes else see_other(next_url)
    web.cookies.set(response, SESSION_COOKIE, new_token)
    return response


def _after_totp_enrolment(
    web: WebState, active: ActiveSession, credential: str, request: Request
) -> list[str]:
    """Audit the new factor; the first factor also gets its recovery codes."""
    origin = origin_of(request)
    web.services.mfa.record_factor_change("factor.added", active.user, "totp", credential, origin)
    web.services.mfa.factor_enrolled(active.user, "totp", origin)
    if web.services.recovery_codes.status(active.user.id).remaining:
        return []
    codes = web.services.recovery_codes.generate(active.user.id)
    web.services.mfa.record_factor_change(
        "recovery_codes.generated", active.user, "recovery_code", "codes", origin
    )
    return codes


def show_recovery_codes(request: Request, codes: list[str], next_url: str) -> Response:
    """The codes, once (``render_form`` sends them ``no-store``)."""
    web = web_state(request)
    return web.render_form(request, "recovery_codes.html", {"codes": codes, "next": next_url})
