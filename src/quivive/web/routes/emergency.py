"""The emergency path (bris de glace) from the second-factor pages: ``/login/emergency``.

Thin: the page shows the form to users whose role the policy allows; the POST checks the CSRF
token, the re-typed password (through the throttled authenticator, like any sign-in), then asks
``EmergencyAccessService.grant`` for the session. Every refusal is audited by the service and
shown in the user's language.
"""

from __future__ import annotations

from functools import partial

from anyio import to_thread
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from quivive.config import format_duration
from quivive.domain.emergency import EmergencyRequest, Reason, Refusal
from quivive.errors import EmergencyRefused, QuiviveError
from quivive.services.emergency_access import EmergencyGrant, WitnessProof
from quivive.services.mfa import Step
from quivive.services.sessions import ActiveSession
from quivive.web.forms import MAX_FIELD_LENGTH
from quivive.web.i18n import N_
from quivive.web.mfa_flow import origin_of, pending_session, standing_of, with_next
from quivive.web.routes.passkeys import CEREMONY_COOKIE, CSRF_HEADER
from quivive.web.routes.passkeys import _options as ceremony_options
from quivive.web.state import SESSION_COOKIE, WebState, safe_next, see_other, web_state

router = APIRouter(include_in_schema=False)

EMERGENCY_PATH = "/login/emergency"
WITNESS_OPTIONS_PATH = "/login/emergency/witness-options"
FIELDS = ("reason", "justification", "witness_name", "witness_username")

REASON_LABELS: dict[Reason, str] = {
    Reason.PATIENT_EMERGENCY: N_("Urgent care for a patient"),
    Reason.FACTOR_FORGOTTEN: N_("Phone or key left at home"),
    Reason.FACTOR_LOST: N_("Phone or key lost or stolen"),
    Reason.FACTOR_BROKEN: N_("Phone or key broken or not working"),
    Reason.OTHER: N_("Other (explain below)"),
}
REFUSALS: dict[Refusal, str] = {
    Refusal.ROLE_NOT_ALLOWED: N_(
        "Emergency access is not available for your role. Ask your IT department or a colleague."
    ),
    Refusal.BAD_PASSWORD: N_("The password is not correct."),
    Refusal.UNKNOWN_REASON: N_("Choose a reason from the list."),
    Refusal.JUSTIFICATION_TOO_SHORT: N_(
        "The justification is too short: say what you must do and why it cannot wait."
    ),
    Refusal.WITNESS_REQUIRED: N_("A colleague present must confirm with their own account."),
    Refusal.WITNESS_IS_REQUESTER: N_("The colleague confirming must be someone else."),
    Refusal.WITNESS_FAILED: N_(
        "Your colleague's confirmation failed: check their username and their current code."
    ),
    Refusal.LIMIT_REACHED: N_(
        "You have used emergency access too often in the last 30 days. The security officer "
        "has been told; ask your IT department for help."
    ),
    Refusal.ALREADY_STRONG: N_("You are already signed in."),
    Refusal.NO_FACTOR_ENROLLED: N_(
        "Emergency access is for a second factor you cannot use right now, and you have none: "
        "enrol one now (a passkey on this computer or an authenticator app), or ask your IT "
        "department for help."
    ),
}
_STATUS = {
    Refusal.ROLE_NOT_ALLOWED: 403,
    Refusal.NO_FACTOR_ENROLLED: 403,
    Refusal.LIMIT_REACHED: 403,
    Refusal.BAD_PASSWORD: 401,
}
# Refusals that close the path itself: the page shows the message without the form.
_CLOSED = frozenset({Refusal.ROLE_NOT_ALLOWED, Refusal.NO_FACTOR_ENROLLED})


def _next(raw: str | None) -> str:
    return safe_next(raw)


async def _may_ask(request: Request) -> ActiveSession | Response:
    """A half-signed-in session that still owes its second factor (else where to go)."""
    web = web_state(request)
    active = await pending_session(request)
    next_url = _next(request.query_params.get("next"))
    if active is None:
        return see_other(with_next("/login", EMERGENCY_PATH))
    if active.session.emergency:
        return see_other(next_url)
    standing = await standing_of(web, active)
    if standing.step is Step.PROCEED:
        return see_other(next_url)
    return active


@router.get(EMERGENCY_PATH)
async def emergency_page(request: Request) -> Response:
    gate = await _may_ask(request)
    if isinstance(gate, Response):
        return gate
    web = web_state(request)
    next_url = _next(request.query_params.get("next"))
    closed = await to_thread.run_sync(web.services.emergency.unavailable_because, gate.user)
    passkey = request.query_params.get("witness") == "passkey"
    return await _page(request, gate, next_url, {}, closed, passkey=passkey)


@router.post(WITNESS_OPTIONS_PATH)
async def witness_options(request: Request) -> Response:
    """The first half of the colleague's passkey ceremony (two-person mode, same screen)."""
    web = web_state(request)
    web.csrf.verify(request, request.headers.get(CSRF_HEADER))
    active = await pending_session(request)
    if active is None or not web.services.emergency.policy.two_person:
        return JSONResponse({"error": "not_available"}, status_code=404)
    return ceremony_options(web, await to_thread.run_sync(web.services.passkeys.begin_witness))


@router.post(EMERGENCY_PATH)
async def emergency_request(request: Request) -> Response:
    web = web_state(request)
    form = await web.posted_form(request)
    gate = await _may_ask(request)
    if isinstance(gate, Response):
        return gate
    next_url = _next(form.get("next"))
    values = {name: form.get(name, "")[: MAX_FIELD_LENGTH * 2] for name in FIELDS}
    origin = origin_of(request)
    service = web.services.emergency
    try:
        await to_thread.run_sync(service.requested, gate.user, origin)
        await _check_password(web, request, gate, form.get("password", "")[:MAX_FIELD_LENGTH])
        grant = await to_thread.run_sync(partial(_grant, web, request, gate, values, form))
    except EmergencyRefused as refused:
        passkey = form.get("witness_mode") == "passkey"
        return await _page(
            request, gate, next_url, values, Refusal(refused.reason), passkey=passkey
        )
    # The half-signed-in session is replaced by the emergency one (never both alive).
    await to_thread.run_sync(web.services.sessions.end, gate.token)
    response = see_other(next_url)
    web.cookies.set(response, SESSION_COOKIE, grant.token)
    web.cookies.clear(response, CEREMONY_COOKIE)
    return response


async def _check_password(
    web: WebState, request: Request, active: ActiveSession, password: str
) -> None:
    try:
        await web.services.authenticator.authenticate(
            active.user.username, password, source_address=request.state.client_address
        )
    except QuiviveError:
        refuse = partial(
            web.services.emergency.refuse, active.user, Refusal.BAD_PASSWORD, origin_of(request)
        )
        await to_thread.run_sync(refuse)


def _grant(
    web: WebState,
    request: Request,
    active: ActiveSession,
    values: dict[str, str],
    form: dict[str, str],
) -> EmergencyGrant:
    emergency_request = EmergencyRequest(
        values["reason"], values["justification"], values["witness_name"] or None
    )
    witness = None
    if form.get("credential"):
        ceremony = request.cookies.get(web.cookies.name(CEREMONY_COOKIE), "")
        witness = WitnessProof(passkey=(ceremony, form["credential"]))
    elif values["witness_username"] or form.get("witness_code"):
        witness = WitnessProof(values["witness_username"], form.get("witness_code", ""))
    return web.services.emergency.grant(
        active.user, emergency_request, origin_of(request), witness=witness
    )


async def _page(
    request: Request,
    active: ActiveSession,
    next_url: str,
    values: dict[str, str],
    refusal: Refusal | None,
    *,
    passkey: bool = False,
) -> Response:
    web = web_state(request)
    service = web.services.emergency
    policy = service.policy
    context = {
        "form": refusal not in _CLOSED,
        "error": web.translate(request, REFUSALS[refusal]) if refusal else None,
        "next": next_url,
        "values": {name: values.get(name, "") for name in FIELDS},
        "reasons": [
            (code.value, web.translate(request, label)) for code, label in REASON_LABELS.items()
        ],
        "min_justification": policy.min_justification,
        "two_person": policy.two_person,
        "witness_passkey": policy.two_person and passkey,  # the colleague uses their passkey
        "duration": format_duration(policy.duration),
        "remaining": await to_thread.run_sync(service.remaining_uses, active.user),
    }
    status = _STATUS.get(refusal, 400) if refusal else 200
    return web.render_form(request, "emergency.html", context, status_code=status)
