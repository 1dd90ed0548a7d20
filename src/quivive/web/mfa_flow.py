"""The web side of multi-factor sign-in: the gate in front of pages and the end of a factor proof.

- ``signed_in(request, level=...)``: for an ordinary page. Returns the ``ActiveSession`` when the
  session meets what the user owes (second factor, policy, step-up ``level``); otherwise the
  redirect to send: sign-in, ``/login/second-factor?next=...``, or the enrolment-required page.
- ``pending_session(request)``: for second-factor and enrolment pages, which must also accept a
  session that has not finished signing in.
- ``finish_verification(...)``: a factor accepted its proof; upgrade and rotate the session, set
  the new cookie and go on to ``next``.
"""

from __future__ import annotations

from functools import partial
from urllib.parse import urlencode

from anyio import to_thread
from starlette.requests import Request
from starlette.responses import Response

from quivive.domain.assurance import Verification
from quivive.domain.mfa_policy import Enforcement
from quivive.domain.sessions import AssuranceLevel
from quivive.domain.users import User
from quivive.services.mfa import Origin, Standing, Step
from quivive.services.sessions import ActiveSession
from quivive.web.state import SESSION_COOKIE, WebState, see_other, web_state

SECOND_FACTOR_PATH = "/login/second-factor"
ENROL_REQUIRED_PATH = "/account/mfa-required"
NUDGE_PATH = "/login/mfa-nudge"
REAUTH_PATH = "/account/reauth"


def origin_of(request: Request) -> Origin:
    return Origin(
        source_address=request.state.client_address,
        user_agent=request.headers.get("user-agent"),
        request_id=request.state.request_id,
    )


def with_next(path: str, next_url: str, **extra: str) -> str:
    return f"{path}?{urlencode({'next': next_url, **extra})}"


def here(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def to_login(request: Request) -> Response:
    """To the sign-in page and back here; if the browser still held a session that has ended
    (idle or absolute timeout, revoked), say so rather than appear to have forgotten them."""
    web = web_state(request)
    if not request.cookies.get(web.cookies.name(SESSION_COOKIE)):
        return see_other(with_next("/login", here(request)))
    response = see_other(with_next("/login", here(request), notice="expired"))
    web.cookies.clear(response, SESSION_COOKIE)
    return response


async def pending_session(request: Request) -> ActiveSession | None:
    """The session, complete or not (second-factor and enrolment pages)."""
    return await web_state(request).current_session(request)


async def standing_of(
    web: WebState, active: ActiveSession, level: AssuranceLevel = AssuranceLevel.AAL1
) -> Standing:
    return await to_thread.run_sync(partial(_standing, web, level, active))


async def session_standing(
    request: Request, level: AssuranceLevel = AssuranceLevel.AAL1
) -> tuple[ActiveSession, Standing] | None:
    """The session, complete or not, and its MFA standing for ``level``: one worker-thread trip."""
    web = web_state(request)
    return await web.session_with(request, partial(_standing, web, level))


def _standing(web: WebState, level: AssuranceLevel, active: ActiveSession) -> Standing:
    return web.services.mfa.standing(active.user, active.session, level=level)


async def signed_in(
    request: Request, *, level: AssuranceLevel = AssuranceLevel.AAL1
) -> ActiveSession | Response:
    """The session if it may see an ordinary page, else the redirect to show instead."""
    found = await session_standing(request, level)
    if found is None:
        return to_login(request)
    active, standing = found
    if standing.step is Step.SECOND_FACTOR:
        extra = {"level": str(int(level))} if level > AssuranceLevel.AAL1 else {}
        return see_other(with_next(SECOND_FACTOR_PATH, here(request), **extra))
    if standing.step is Step.ENROL_REQUIRED:
        return see_other(with_next(ENROL_REQUIRED_PATH, here(request)))
    return active


def after_password(standing: Standing, next_url: str) -> str:
    """Where a password sign-in goes next: a second factor, the enrolment nudge, or ``next``."""
    if standing.step is Step.SECOND_FACTOR:
        return with_next(SECOND_FACTOR_PATH, next_url)
    if standing.step is Step.ENROL_REQUIRED:
        return with_next(ENROL_REQUIRED_PATH, next_url)
    nudge = standing.requirement.enforcement is Enforcement.NUDGE
    if nudge and not standing.has_second_factor:
        return with_next(NUDGE_PATH, next_url)
    return next_url


def standing_after_password(web: WebState, user: User) -> Standing:
    """Synchronous: for the worker thread that has just started ``user``'s session.

    That session is at AAL1 with "pwd": ``standing`` assumes exactly that without a session, so
    nothing is read back, and the caller saves a trip to a worker thread. Every query here is CPU
    taken from the Argon2 verifies of other sign-ins (bench/).
    """
    return web.services.mfa.standing(user)


async def finish_verification(
    request: Request, active: ActiveSession, verification: Verification, next_url: str
) -> Response:
    """Upgrade the session for ``verification``, replace the cookie and go on to ``next_url``."""
    web = web_state(request)
    upgrade = partial(
        web.services.mfa.upgrade,
        active.token,
        active.user,
        verification,
        origin_of(request),
        session=active.session,
    )
    new_token, _ = await to_thread.run_sync(upgrade)
    response = see_other(next_url)
    web.cookies.set(response, SESSION_COOKIE, new_token)
    return response
