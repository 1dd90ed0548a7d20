"""The signed-in landing page: who you are, how you signed in, and sign out."""

from __future__ import annotations

from anyio import to_thread
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from quivive.web import messages
from quivive.web.mfa_flow import signed_in
from quivive.web.routes.account_security import account_context
from quivive.web.state import see_other, web_state

router = APIRouter()


@router.get("/", include_in_schema=False)
async def home(request: Request) -> Response:
    active = await web_state(request).current_session(request)
    return see_other("/account" if active else "/login")


@router.get("/account", include_in_schema=False)
async def account_page(request: Request) -> Response:
    web = web_state(request)
    gate = await signed_in(request)
    if isinstance(gate, Response):
        return gate
    security = await to_thread.run_sync(account_context, web, request, gate)
    notice = messages.ACCOUNT_NOTICES.get(request.query_params.get("notice", ""))
    context = {
        "user": gate.user,
        "session": gate.session,
        "notice": web.translate(request, notice) if notice else None,
        **security,
    }
    return web.render_form(request, "account.html", context)
