"""The signed-in landing page: who you are, how you signed in, and sign out."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from quivive.web.state import see_other, web_state

router = APIRouter()


@router.get("/", include_in_schema=False)
async def home(request: Request) -> Response:
    active = await web_state(request).current_session(request)
    return see_other("/account" if active else "/login")


@router.get("/account", include_in_schema=False)
async def account_page(request: Request) -> Response:
    web = web_state(request)
    active = await web.current_session(request)
    if active is None:
        return see_other(f"/login?next={quote(request.url.path)}")
    context = {"user": active.user, "session": active.session}
    return web.render_form(request, "account.html", context)
