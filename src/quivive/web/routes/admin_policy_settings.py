"""Session timeouts, password length and throttling thresholds: the console's form on
``/admin/policies`` and the API's ``/api/admin/v1/policies/settings``.

Reading needs any console role (as the MFA rules do); changing needs ``admin``
(``policies.manage``). ``services.policies`` checks each value and audits the change; a refused
value comes back to the page with its reason in plain words (``web.policy_texts``).
"""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Annotated, Literal
from urllib.parse import urlencode

from anyio import to_thread
from fastapi import APIRouter, Path
from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import Response

from quivive.domain.admin_roles import Action
from quivive.errors import NotFoundError
from quivive.services.admin import AdminActor
from quivive.services.policies import PolicyRefused, PolicyValue
from quivive.web.admin_access import console_post
from quivive.web.routes.admin_api import _ERRORS, Actor, Web
from quivive.web.state import WebState, see_other

router = APIRouter(prefix="/admin/policies/settings", include_in_schema=False)
api_router = APIRouter(prefix="/policies/settings", tags=["policies"], responses=_ERRORS)

PAGE = "/admin/policies"
MAX_KEY_LENGTH = 64
Key = Annotated[str, Path(max_length=MAX_KEY_LENGTH, pattern=r"^[a-z0-9_.]+$")]


# --- console ---------------------------------------------------------------------------------


@router.post("")
async def change(request: Request) -> Response:
    return await _posted(request, reset=False)


@router.post("/reset")
async def reset(request: Request) -> Response:
    return await _posted(request, reset=True)


async def _posted(request: Request, *, reset: bool) -> Response:
    post = await console_post(request)
    if isinstance(post, Response):
        return post
    web, form, actor = post
    key = form.get("key", "")[:MAX_KEY_LENGTH]
    if reset and form.get("confirm") != "yes":  # allowed first: a refusal is still audited
        await to_thread.run_sync(partial(_may_change, web, actor, key))
        return see_other(f"{PAGE}?notice=confirm_required#settings")
    apply = partial(_reset if reset else _set, web, actor, key, form.get("value", "")[:32])
    try:
        await to_thread.run_sync(apply)
    except PolicyRefused as refused:
        query = {"key": refused.key, "reason": refused.reason, "limit": refused.limit}
        return see_other(f"{PAGE}?{urlencode(query)}#settings")
    except NotFoundError:
        return see_other(f"{PAGE}?notice=not_found")
    return see_other(f"{PAGE}?notice={'setting_reset' if reset else 'setting_saved'}#settings")


def _may_change(web: WebState, actor: AdminActor, key: str) -> None:
    web.services.admin.authorize(actor, Action.MANAGE_POLICIES, f"policy:{key}")


def _set(web: WebState, actor: AdminActor, key: str, raw: str) -> PolicyValue:
    web.services.admin.authorize(actor, Action.MANAGE_POLICIES, f"policy:{key}")
    return web.services.policies.set(key, raw, actor=actor.name, origin=actor.origin)


def _reset(web: WebState, actor: AdminActor, key: str, _raw: str = "") -> PolicyValue:
    web.services.admin.authorize(actor, Action.MANAGE_POLICIES, f"policy:{key}")
    return web.services.policies.reset(key, actor=actor.name, origin=actor.origin)


def in_force(web: WebState, actor: AdminActor) -> list[PolicyValue]:
    """What the policies page and the API show (any console role may read them)."""
    web.services.admin.authorize(actor, Action.VIEW_DASHBOARD)
    return web.services.policies.in_force()


# --- API -------------------------------------------------------------------------------------


class PolicySettingOut(BaseModel):
    key: str = Field(description="session.aal2.idle, password.min_length, throttle.max_failures…")
    value: int = Field(description="In force now")
    unit: Literal["minutes", "characters", "failures"]
    minimum: int
    maximum: int = Field(description="The cap: NIST SP 800-63B-4 where it sets one")
    configured: int = Field(description="From the configuration file, environment or default")
    source: Literal["configuration", "console"]
    changed_by: str | None = None
    changed_at: datetime | None = None

    @classmethod
    def of(cls, item: PolicyValue) -> PolicySettingOut:
        spec = item.spec
        return cls(
            key=spec.key,
            value=item.value,
            unit=_unit(spec.unit),
            minimum=spec.low,
            maximum=spec.high,
            configured=item.configured,
            source="console" if item.source == "console" else "configuration",
            changed_by=item.changed_by,
            changed_at=item.changed_at,
        )


def _unit(unit: str) -> Literal["minutes", "characters", "failures"]:
    if unit == "minutes":
        return "minutes"
    return "characters" if unit == "characters" else "failures"


class PolicySettingIn(BaseModel):
    value: int = Field(ge=0, le=1_000_000, description="Minutes, characters or failures")


@api_router.get("", response_model=list[PolicySettingOut])
def list_settings(web: Web, actor: Actor) -> list[PolicySettingOut]:
    """Session timeouts per level, password length and throttling thresholds in force."""
    return [PolicySettingOut.of(item) for item in in_force(web, actor)]


@api_router.put("/{key}", response_model=PolicySettingOut)
def put_setting(web: Web, actor: Actor, key: Key, body: PolicySettingIn) -> PolicySettingOut:
    """Override the configured value (admins only); refused with 400 outside its rules."""
    return PolicySettingOut.of(_set(web, actor, key, str(body.value)))


@api_router.delete("/{key}", response_model=PolicySettingOut)
def delete_setting(web: Web, actor: Actor, key: Key) -> PolicySettingOut:
    """Remove the override: the configured value applies again (admins only)."""
    return PolicySettingOut.of(_reset(web, actor, key))
