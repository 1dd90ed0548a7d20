"""The device cookie, set at each sign-in; see ``quivive.services.devices``."""

from __future__ import annotations

from collections.abc import Callable

from anyio import to_thread
from starlette.requests import Request
from starlette.responses import Response

from quivive.domain.users import User
from quivive.web.mfa_flow import origin_of
from quivive.web.state import web_state

DEVICE_COOKIE = "quivive_device"
# Chromium caps cookie lifetimes at 400 days (RFC 6265bis); a year and more keeps a device known.
DEVICE_COOKIE_MAX_AGE = 400 * 24 * 3600


async def remember_device(request: Request, response: Response, user: User) -> None:
    device_id = await to_thread.run_sync(device_checker(request), user)
    set_device_cookie(request, response, device_id)


def device_checker(request: Request) -> Callable[[User], str]:
    """The synchronous check of this request's browser for a user, returning the id to give to
    ``set_device_cookie``; the sign-in route runs it in the worker thread that also records the
    password's success, before the user is known here."""
    web = web_state(request)
    presented = request.cookies.get(web.cookies.name(DEVICE_COOKIE))
    origin = origin_of(request)

    def check(user: User) -> str:
        return web.services.devices.signed_in(user, presented, origin)

    return check


def set_device_cookie(request: Request, response: Response, device_id: str) -> None:
    # Set again even when known, so that a browser in use keeps its id past the cookie's max age.
    web_state(request).cookies.set(
        response, DEVICE_COOKIE, device_id, max_age=DEVICE_COOKIE_MAX_AGE
    )
