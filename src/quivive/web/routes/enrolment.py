"""Set-up / re-enrolment links: the administrator's button and API call, and the user's page.

``POST /admin/users/{id}/enrolment-link`` (console) and ``POST /api/admin/v1/users/{id}/
enrolment-link`` issue a one-time link (``services.enrolment_links``; helpdesk or admin, console
accounts admin only). ``/enrol/{token}`` lets the user choose a password, then sends them to sign
in and add a second factor. Pages holding a link are never cached.
"""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Annotated

from anyio import to_thread
from fastapi import APIRouter, Path
from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import Response

from quivive.composition import Services
from quivive.errors import NotFoundError, PasswordRejected, SetupTokenInvalid
from quivive.services.admin import MAX_USER_ID
from quivive.services.enrolment_links import EnrolmentLinks, IssuedLink, LinkSettings
from quivive.storage.setup_tokens import SetupTokenRepository
from quivive.web import messages
from quivive.web.admin_access import console_actor
from quivive.web.i18n import N_
from quivive.web.routes.admin_api import _ERRORS, Actor, Web
from quivive.web.routes.admin_console import _context
from quivive.web.state import WebState, no_store, see_other, web_state

router = APIRouter(include_in_schema=False)
api_router = APIRouter(tags=["users"], responses=_ERRORS)

LINK_INVALID = N_("This link is unknown, already used or expired. Ask your IT team for a new one.")
UserId = Annotated[int, Path(ge=1, le=MAX_USER_ID)]


def enrolment_links(services: Services) -> EnrolmentLinks:
    """Built per use from the composed services: it holds no state of its own."""
    settings = services.settings
    link_settings = LinkSettings(
        settings.public_url,
        settings.admin.enrolment_link_lifetime,
        settings.establishment_name,
        settings.language,
    )
    stores = (SetupTokenRepository(services.engine), services.users)
    return EnrolmentLinks(
        services.admin,
        stores,
        services.accounts,
        services.mailer,
        services.audit,
        services.clock,
        link_settings,
    )


# --- the administrator -------------------------------------------------------------------------


@router.post("/admin/users/{user_id}/enrolment-link")
async def send_link(request: Request, user_id: UserId) -> Response:
    web = web_state(request)
    await web.posted_form(request)
    actor = await console_actor(request)
    if isinstance(actor, Response):
        return actor
    try:
        issued = await to_thread.run_sync(
            partial(enrolment_links(web.services).issue, actor, user_id)
        )
    except NotFoundError:
        return see_other(f"/admin/users/{user_id}?notice=not_found")
    context = _context(request, actor, issued=issued, user_id=user_id)
    return web.render_form(request, "admin_enrolment_link.html", context)  # no-store


class EnrolmentLinkOut(BaseModel):
    expires_at: datetime
    emailed_to: str | None = Field(description="Where it was e-mailed; null when not e-mailed")
    url: str | None = Field(description="Only when not e-mailed: hand it to the user yourself")

    @classmethod
    def of(cls, issued: IssuedLink) -> EnrolmentLinkOut:
        url = None if issued.emailed_to else issued.url
        return cls(expires_at=issued.expires_at, emailed_to=issued.emailed_to, url=url)


@api_router.post("/users/{user_id}/enrolment-link", response_model=EnrolmentLinkOut)
def api_send_link(web: Web, actor: Actor, user_id: UserId, response: Response) -> EnrolmentLinkOut:
    """A one-time link to choose a password and enrol a factor; earlier links stop working."""
    response.headers["cache-control"] = "no-store"
    return EnrolmentLinkOut.of(enrolment_links(web.services).issue(actor, user_id))


# --- the user ------------------------------------------------------------------------------------


@router.get("/enrol/{token}")
async def enrol_page(request: Request, token: str) -> Response:
    web = web_state(request)
    await web.mark_emergency_banner(request)  # a link opened in a browser already signed in
    links = enrolment_links(web.services)
    user = await to_thread.run_sync(links.user_for, token[:128])
    if user is None:
        return _invalid(web, request)
    return _form(web, request, token, user.display_name, [])


@router.post("/enrol/{token}")
async def enrol_submit(request: Request, token: str) -> Response:
    web = web_state(request)
    form = await web.posted_form(request)
    password = form.get("password", "")
    links = enrolment_links(web.services)
    user = await to_thread.run_sync(links.user_for, token[:128])
    if user is None:
        return _invalid(web, request)
    if password != form.get("password_confirm", ""):
        return _form(web, request, token, user.display_name, [messages.PASSWORDS_DIFFER])
    try:
        await to_thread.run_sync(links.complete, token[:128], password)
    except SetupTokenInvalid:
        return _invalid(web, request)
    except PasswordRejected as rejected:
        reasons = [messages.PASSWORD_REASONS[code] for code in rejected.reasons]
        return _form(web, request, token, user.display_name, reasons)
    context = {"done": True, "username": user.username}
    return no_store(web.pages.render(request, "enrol.html", context))


def _form(web: WebState, request: Request, token: str, name: str, errors: list[str]) -> Response:
    context = {
        "done": False,
        "token": token,
        "name": name,
        "errors": [web.translate(request, message) for message in errors],
        "min_length": web.services.policies.min_length(),
    }
    status = 400 if errors else 200
    return web.render_form(request, "enrol.html", context, status_code=status)  # no-store


def _invalid(web: WebState, request: Request) -> Response:
    context = {
        "title": web.translate(request, messages.PAGE_TITLES[404]),
        "message": web.translate(request, LINK_INVALID),
    }
    return no_store(web.pages.render(request, "error.html", context, status_code=404))
