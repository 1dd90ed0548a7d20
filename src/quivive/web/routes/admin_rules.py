"""The console's forward-auth gate rules under ``/admin/rules``.

Rules from the configuration file are listed read-only (the file is the installation's deployed
default); a rule saved here for the same host and path replaces the file's, and removing it brings
the file's back (services.gate_rules explains why). Each rule comes with the nginx, Traefik and
Caddy configuration that sends its host through the gate (domain.gate_snippets). A change applies
on this server at once and on the others within about a second, without a restart.
"""

from __future__ import annotations

from functools import partial

from anyio import to_thread
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from quivive.domain.admin_roles import Action
from quivive.domain.gate_snippets import caddy, nginx_site, traefik
from quivive.errors import ConflictError, NotFoundError, ValidationError
from quivive.services.admin import AdminActor
from quivive.services.gate_rules import MAX_RULE_ID, RuleInForce, as_entry
from quivive.web import admin_apps_messages as texts
from quivive.web.admin_access import console_actor, console_post
from quivive.web.admin_app_pages import (
    checked,
    items,
    page_context,
    proxy_setup,
    refusal,
)
from quivive.web.routes.admin_console import _not_found
from quivive.web.state import WebState, see_other, web_state

router = APIRouter(prefix="/admin/rules", include_in_schema=False)
LEVELS = ("1", "2", "3")


def _entry(form: dict[str, str]) -> dict[str, object]:
    """The form as a ``[[gate.rules]]`` table, for the configuration file's own checks."""
    entry: dict[str, object] = {
        "host": form.get("host", ""),
        "path_prefix": form.get("path_prefix", "").strip() or "/",
        "roles": items(form.get("roles", "")),
        "min_aal": _level(form.get("min_aal", "1")),
        "networks": items(form.get("networks", "")),
        "deny_outside_networks": checked(form, "deny_outside_networks"),
        "bypass": items(form.get("bypass", "")),
        "allow_emergency": checked(form, "allow_emergency"),
    }
    if form.get("networks_min_aal"):
        entry["networks_min_aal"] = _level(form["networks_min_aal"])
    return entry


def _level(raw: str) -> object:
    return int(raw) if raw in LEVELS else raw  # anything else: refused, naming the field


def _form_of(entry: dict[str, object]) -> dict[str, str]:
    form = {
        "host": str(entry["host"]),
        "path_prefix": str(entry["path_prefix"]),
        "min_aal": str(entry["min_aal"]),
        "networks_min_aal": str(entry.get("networks_min_aal", "")),
    }
    for name in ("roles", "networks", "bypass"):
        value = entry[name]
        form[name] = " ".join(str(item) for item in value) if isinstance(value, list) else ""
    for name in ("deny_outside_networks", "allow_emergency"):
        if entry[name]:
            form[name] = "yes"
    return form


@router.get("")
async def list_rules(request: Request) -> Response:
    actor = await console_actor(request)
    if isinstance(actor, Response):
        return actor
    web = web_state(request)
    rules = await to_thread.run_sync(partial(web.services.apps.rules, actor))
    configured = web.services.gate_rules.configured()
    numbered = [(configured.index(i.rule) + 1 if i.source == "config" else 0, i) for i in rules]
    context = page_context(request, actor, rules=numbered)
    return web.render_form(request, "admin_rules.html", context)


@router.get("/new")
async def new_rule(request: Request) -> Response:
    actor = await console_actor(request)
    if isinstance(actor, Response):
        return actor
    web = web_state(request)
    web.services.admin.authorize(actor, Action.MANAGE_APPS)
    configured = web.services.gate_rules.configured()
    raw = request.query_params.get("from", "")
    number = int(raw) if raw.isdigit() and 0 < int(raw) <= len(configured) else 0
    form = _form_of(as_entry(configured[number - 1])) if number else {"min_aal": "1"}
    return _new_page(request, actor, form, None)


def _new_page(
    request: Request, actor: AdminActor, form: dict[str, str], error: str | None
) -> Response:
    web = web_state(request)
    context = page_context(request, actor, form=form, error=error, levels=LEVELS)
    status = 400 if error else 200
    return web.render_form(request, "admin_rule_new.html", context, status_code=status)


def _rule_refusal(web: WebState, request: Request, exc: ValidationError | ConflictError) -> str:
    return refusal(web, request, exc, texts.RULE_FIELDS, texts.RULE_TAKEN)


@router.post("")
async def create_rule(request: Request) -> Response:
    post = await console_post(request)
    if isinstance(post, Response):
        return post
    web, form, actor = post
    try:
        added = await to_thread.run_sync(partial(web.services.apps.add_rule, actor, _entry(form)))
    except (ValidationError, ConflictError) as exc:
        return _new_page(request, actor, form, _rule_refusal(web, request, exc))
    return see_other(f"/admin/rules/{added.id}?notice=rule_created")


@router.get("/{rule_id:int}")
async def rule_page(request: Request, rule_id: int) -> Response:
    actor = await console_actor(request)
    if isinstance(actor, Response):
        return actor
    web = web_state(request)
    try:
        item = await to_thread.run_sync(
            partial(web.services.apps.rule, actor, min(rule_id, MAX_RULE_ID + 1))
        )
    except NotFoundError:
        return _not_found(request)
    return _rule_page(request, actor, item)


@router.get("/file/{number:int}")
async def file_rule_page(request: Request, number: int) -> Response:
    """A configuration file rule: read-only, with its proxy configuration to copy."""
    actor = await console_actor(request)
    if isinstance(actor, Response):
        return actor
    web = web_state(request)
    await to_thread.run_sync(
        partial(web.services.apps.rules, actor)
    )  # the role check (and its audit)
    configured = web.services.gate_rules.configured()
    if not 0 < number <= len(configured):
        return _not_found(request)
    item = RuleInForce(configured[number - 1], "config")
    return _rule_page(request, actor, item, number=number)


def _rule_page(
    request: Request,
    actor: AdminActor,
    item: RuleInForce,
    *,
    form: dict[str, str] | None = None,
    error: str | None = None,
    number: int = 0,
) -> Response:
    web = web_state(request)
    setup = proxy_setup(web)
    snippets = [
        ("nginx", "nginx (auth_request)", nginx_site(item.rule, setup)),
        ("traefik", "Traefik (forwardAuth)", traefik(item.rule, setup)),
        ("caddy", "Caddy (forward_auth)", caddy(item.rule, setup)),
    ]
    context = page_context(
        request,
        actor,
        item=item,
        rule=item.rule,
        snippets=snippets,
        form=form or _form_of(as_entry(item.rule)),
        error=error,
        levels=LEVELS,
        number=number,
    )
    status = 400 if error else 200
    return web.render_form(request, "admin_rule.html", context, status_code=status)  # no-store


@router.post("/{rule_id:int}/edit")
async def edit_rule(request: Request, rule_id: int) -> Response:
    post = await console_post(request)
    if isinstance(post, Response):
        return post
    web, form, actor = post
    update = partial(web.services.apps.update_rule, actor, min(rule_id, MAX_RULE_ID + 1))
    try:
        await to_thread.run_sync(partial(update, _entry(form)))
    except NotFoundError:
        return see_other("/admin/rules?notice=not_found")
    except (ValidationError, ConflictError) as exc:
        item = await to_thread.run_sync(partial(web.services.apps.rule, actor, rule_id))
        error = _rule_refusal(web, request, exc)
        return _rule_page(request, actor, item, form=form, error=error)
    return see_other(f"/admin/rules/{rule_id}?notice=rule_updated")


@router.post("/{rule_id:int}/remove")
async def remove_rule(request: Request, rule_id: int) -> Response:
    post = await console_post(request)
    if isinstance(post, Response):
        return post
    web, _, actor = post
    if refused := post.unconfirmed(Action.MANAGE_APPS, f"/admin/rules/{rule_id}"):
        return refused
    try:
        await to_thread.run_sync(
            partial(web.services.apps.remove_rule, actor, min(rule_id, MAX_RULE_ID + 1))
        )
    except NotFoundError:
        return see_other("/admin/rules?notice=not_found")
    return see_other("/admin/rules?notice=rule_removed")
