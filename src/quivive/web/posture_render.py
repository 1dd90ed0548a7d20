"""The posture report as HTML (console page or standalone file), JSON and PDF.

One template body (``report_body.html``) serves the console page and the standalone document;
the standalone one carries its stylesheet inline, since it is opened from a file or printed.
The PDF is WeasyPrint's rendering of that same standalone HTML, so the three never disagree.
The JSON keys are a stable contract (``SCHEMA``); tests pin them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from importlib import resources
from typing import Any, NoReturn

from quivive.domain.posture import (
    DORMANT_AFTER,
    PHISHING_RESISTANT_TARGET,
    REPORT_WINDOW,
    REVIEW_WITHIN,
    CheckResult,
    Figures,
)
from quivive.services.posture_report import PostureReport
from quivive.web.pages import Pages
from quivive.web.posture_texts import AUTHENTICATOR_KINDS, CHECK_TEXTS

SCHEMA = "quivive.posture-report/1"
FORMATS = ("html", "json", "pdf")
Translate = Callable[[str], str]


def _time(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat(timespec="seconds")


def _check(result: CheckResult, translate: Translate) -> dict[str, Any]:
    texts = CHECK_TEXTS[result.id]
    return {
        "id": result.id,
        "status": result.status.value,
        "weight": result.weight,
        "value": result.value,
        "title": translate(texts.title),
        "rule": translate(texts.rule),
        "source": translate(texts.source),
        "action": translate(texts.action),
    }


def _figures(figures: Figures) -> dict[str, Any]:
    only, attacks, emergency, settings = (
        figures.password_only,
        figures.attacks,
        figures.emergency,
        figures.settings,
    )
    return {
        "coverage": [
            {
                "role": row.role,
                "active": row.active,
                "with_mfa": row.with_mfa,
                "phishing_resistant": row.phishing_resistant,
                "password_only": row.password_only,
            }
            for row in figures.coverage
        ],
        "password_only": {
            "total": only.total,
            "past_deadline": only.past_deadline,
            "in_grace": only.in_grace,
            "no_rule": only.no_rule,
            "past_deadline_accounts": list(only.past_deadline_names),
        },
        "roles_without_rule": list(figures.roles_without_rule),
        "administrators": {
            "total": figures.admins,
            "without_phishing_resistant": list(figures.admins_without_phishing_resistant),
        },
        "dormant_accounts": {
            "days": DORMANT_AFTER.days,
            "count": figures.dormant,
            "accounts": list(figures.dormant_names),
        },
        "blocklisted_passwords": {
            "count": figures.blocklisted,
            "accounts": list(figures.blocklisted_names),
        },
        "attacks": {
            "days": REPORT_WINDOW.days,
            "throttles": attacks.throttles,
            "spraying": attacks.spraying,
            "stuffing": attacks.stuffing,
        },
        "emergency_access": {
            "days": REPORT_WINDOW.days,
            "uses": emergency.uses,
            "pending": emergency.pending,
            "overdue": emergency.overdue,
            "review_within_days": REVIEW_WITHIN.days,
            "justified": emergency.justified,
            "unjustified": emergency.unjustified,
        },
        "audit": {"intact": figures.audit_intact, "records_checked": figures.audit_checked},
        "settings": {
            "idle_timeout_minutes": int(settings.idle_timeout.total_seconds() // 60),
            "absolute_timeout_minutes": int(settings.absolute_timeout.total_seconds() // 60),
            "password_min_length": settings.password_min_length,
            "argon2id": {
                "memory_kib": settings.hash_memory_kib,
                "time_cost": settings.hash_time_cost,
                "parallelism": settings.hash_parallelism,
            },
            "throttle_max_failures": settings.max_failures,
            "console_requires_phishing_resistant": settings.console_requires_phishing_resistant,
        },
    }


def _inventory(figures: Figures, translate: Translate) -> dict[str, Any]:
    return {
        "kinds": [
            {
                "kind": kind.kind,
                "label": translate(AUTHENTICATOR_KINDS[kind.kind]),
                "accounts": kind.accounts,
                "credentials": kind.credentials,
            }
            for kind in figures.inventory
        ],
        "key_models": [
            {
                "aaguid": model.aaguid,
                "name": model.name,
                "synced": model.synced,
                "credentials": model.credentials,
            }
            for model in figures.key_models
        ],
    }


def report_data(report: PostureReport, language: str, translate: Translate) -> dict[str, Any]:
    """The report as plain data: the JSON output, and what the templates read."""
    assessment, trend = report.assessment, report.assessment.trend
    return {
        "schema": SCHEMA,
        "language": language,
        "establishment": report.establishment,
        "generated_at": _time(report.figures.at),
        "score": assessment.score,
        "trend": {
            "previous_score": trend.previous_score,
            "previous_at": _time(trend.previous_at),
            "delta": trend.delta(assessment.score),
            "fixed": list(trend.fixed),
            "broken": list(trend.broken),
        },
        "checks": [_check(result, translate) for result in assessment.results],
        "figures": _figures(report.figures),
        "inventory": _inventory(report.figures, translate),
        "mfa_rules": [
            {
                "role": item.rule.role,
                "enforce_from": item.rule.enforce_from.isoformat(),
                "grace_days": item.rule.grace_days,
                "deadline": _time(item.rule.deadline),
                "phishing_resistant": item.rule.phishing_resistant,
                "source": item.source,
            }
            for item in report.rules
        ],
        "history": [{"at": _time(kept.at), "score": kept.score} for kept in report.history],
    }


def render_json(report: PostureReport, language: str, pages: Pages) -> str:
    data = report_data(report, language, lambda text: pages.gettext(language, text))
    return json.dumps(data, ensure_ascii=False, indent=2) + "\n"


def template_context(report: PostureReport, language: str, pages: Pages) -> dict[str, Any]:
    data = report_data(report, language, lambda text: pages.gettext(language, text))
    scores = [*(kept["score"] for kept in data["history"]), data["score"]]
    return {
        "report": data,
        "trend_scores": scores[-12:],
        "target_percent": round(100 * PHISHING_RESISTANT_TARGET),
    }


def render_html(report: PostureReport, language: str, pages: Pages) -> str:
    """The standalone document, stylesheet inline (opened from a file, or turned into a PDF)."""
    css = (resources.files("quivive.web") / "static" / "report.css").read_text(encoding="utf-8")
    context = {**template_context(report, language, pages), "inline_css": css}
    return pages.render_document(language, "report_document.html", context)


def render_pdf(html: str) -> bytes:
    # Imported here: WeasyPrint loads pango through cffi, which only the PDF output needs.
    from weasyprint import HTML

    document: bytes = HTML(string=html, url_fetcher=NoFetch()).write_pdf()
    return document


class NoFetch:
    """A WeasyPrint URL fetcher that fetches nothing.

    The report is self-contained (stylesheet inline, no image), and its HTML carries names and
    addresses from the database: WeasyPrint's default fetcher would follow any URL in it, from
    the server, to the network or to ``file://`` (server-side request forgery). A refused
    resource is a warning in WeasyPrint, and the document renders without it.
    """

    _fail_on_errors = False  # read by weasyprint.urls.fetch when the fetch fails

    def __call__(self, url: str) -> NoReturn:
        raise ValueError(f"the posture report fetches no resource ({url[:64]})")
