"""The posture report in the admin console: the page, its PDF and JSON, and "keep".

Admins and auditors only (``Action.VIEW_REPORT``); anyone else is refused and the attempt is
audited by ``AdminService.authorize``, as on the other console pages. Viewing and downloading
keep nothing; the "keep" button adds the report to the history the trend is computed from, so
it is a change: admins only (``Action.KEEP_REPORT``).
"""

from __future__ import annotations

from functools import partial

from anyio import to_thread
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from quivive.domain.admin_roles import Action
from quivive.services.admin import AdminActor
from quivive.services.posture_report import PostureReport
from quivive.web.admin_access import console_actor, nav_context
from quivive.web.posture_render import render_html, render_json, render_pdf, template_context
from quivive.web.posture_texts import REPORT_KEPT
from quivive.web.state import WebState, see_other, web_state

router = APIRouter(prefix="/admin", include_in_schema=False)


async def _report(
    request: Request, *, reuse_audit_check: bool = True
) -> tuple[AdminActor, PostureReport] | Response:
    actor = await console_actor(request)
    if isinstance(actor, Response):
        return actor
    web = web_state(request)
    await to_thread.run_sync(partial(web.services.admin.authorize, actor, Action.VIEW_REPORT))
    build = partial(web.services.posture.build, reuse_audit_check=reuse_audit_check)
    return actor, await to_thread.run_sync(build)


@router.get("/report")
async def report_page(request: Request) -> Response:
    found = await _report(request)
    if isinstance(found, Response):
        return found
    actor, report = found
    web = web_state(request)
    language: str = request.state.language
    context = {**template_context(report, language, web.pages), **_nav(request, actor)}
    return web.render_form(request, "admin_report.html", context)


def _nav(request: Request, actor: AdminActor) -> dict[str, object]:
    kept = request.query_params.get("notice") == "kept"
    return nav_context(request, actor, REPORT_KEPT if kept else None)


@router.post("/report/keep")
async def keep(request: Request) -> Response:
    web = web_state(request)
    await web.posted_form(request)
    actor = await console_actor(request)
    if isinstance(actor, Response):
        return actor
    await to_thread.run_sync(_keep_report, web, actor)
    return see_other("/admin/report?notice=kept")


def _keep_report(web: WebState, actor: AdminActor) -> None:
    """Authorise, build and keep, in one worker-thread trip."""
    web.services.admin.authorize(actor, Action.KEEP_REPORT)
    report = web.services.posture.build(reuse_audit_check=False)  # the chain verified now
    web.services.posture.keep(report, kept_by=actor.name)


@router.get("/report.json")
async def report_json(request: Request) -> Response:
    found = await _report(request)
    if isinstance(found, Response):
        return found
    _actor, report = found
    web = web_state(request)
    body = render_json(report, request.state.language, web.pages)
    return _download(body.encode("utf-8"), "application/json", _name(report, "json"))


@router.get("/report.pdf")
async def report_pdf(request: Request) -> Response:
    found = await _report(request)
    if isinstance(found, Response):
        return found
    _actor, report = found
    web = web_state(request)
    html = render_html(report, request.state.language, web.pages)
    document = await to_thread.run_sync(render_pdf, html)  # a second or so of layout: off the loop
    return _download(document, "application/pdf", _name(report, "pdf"))


def _name(report: PostureReport, extension: str) -> str:
    return f"quivive-posture-{report.figures.at:%Y%m%d-%H%M}.{extension}"


def _download(body: bytes, media_type: str, name: str) -> Response:
    headers = {"content-disposition": f'attachment; filename="{name}"', "cache-control": "no-store"}
    return Response(body, media_type=media_type, headers=headers)
