"""The first administrator's one-time set-up page."""

from __future__ import annotations

from anyio import to_thread
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from quivive.errors import ConflictError, PasswordRejected, SetupTokenInvalid, ValidationError
from quivive.services.accounts import NewAccount
from quivive.web import messages
from quivive.web.forms import field
from quivive.web.state import WebState, see_other, web_state

router = APIRouter()

FORM_FIELDS = ("username", "display_name", "email")


@router.get("/setup/{token}", include_in_schema=False)
async def setup_page(request: Request, token: str) -> Response:
    web = web_state(request)
    await web.mark_emergency_banner(request)
    if not await to_thread.run_sync(web.services.first_admin.is_valid, token):
        return _link_invalid(web, request)
    return _form(web, request, token, dict.fromkeys(FORM_FIELDS, ""), [])


@router.post("/setup/{token}", include_in_schema=False)
async def setup_submit(request: Request, token: str) -> Response:
    web = web_state(request)
    form = await web.posted_form(request)
    values = {name: form.get(name, "")[:256] for name in FORM_FIELDS}
    try:
        # Empty fields are left to the account rules, which say what is wrong ("the username is
        # empty", "the password is too short") instead of "the form could not be read".
        password = field(form, "password", required=False)
        if password != form.get("password_confirm", ""):
            return _form(web, request, token, values, [messages.PASSWORDS_DIFFER])
        account = NewAccount(
            username=field(form, "username", required=False),
            password=password,
            display_name=field(form, "display_name", required=False),
            email=field(form, "email", required=False),
        )
        await to_thread.run_sync(web.services.first_admin.complete, token, account)
    except SetupTokenInvalid:
        return _link_invalid(web, request)
    except PasswordRejected as rejected:
        reasons = [messages.PASSWORD_REASONS[code] for code in rejected.reasons]
        return _form(web, request, token, values, reasons)
    except ConflictError:
        return _form(web, request, token, values, [messages.USERNAME_TAKEN])
    except ValidationError as invalid:
        reason = str(invalid.details.get("reason", ""))
        return _form(
            web, request, token, values, [messages.FIELD_REASONS.get(reason, messages.FORM_INVALID)]
        )
    return see_other("/login?notice=setup_done")


def _form(
    web: WebState, request: Request, token: str, values: dict[str, str], errors: list[str]
) -> Response:
    context = {
        "token": token,
        "form": values,
        "errors": [web.translate(request, message) for message in errors],
        "min_length": web.services.settings.password.min_length,
    }
    return web.render_form(request, "setup.html", context, status_code=400 if errors else 200)


def _link_invalid(web: WebState, request: Request) -> Response:
    context = {
        "title": web.translate(request, messages.PAGE_TITLES[404]),
        "message": web.translate(request, messages.SETUP_LINK_INVALID),
    }
    return web.pages.render(request, "error.html", context, status_code=404)
