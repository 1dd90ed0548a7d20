"""The demo establishment's emergency accesses (bris de glace), through the real service.

Two uses in the month: one a night physician's, already reviewed as justified by the
administrator, and one a nurse's, still waiting for review past ``emergency.review_overdue_days``
(so the dashboard and the report have an overdue review to show). They are recorded with
``EmergencyAccessService.record_use``: the same checks, audit records and alerts as a use from
the sign-in page, without opening a session that would be long over anyway.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, time, timedelta

from quivive.composition import Services
from quivive.domain.emergency import Reason, ReviewStatus
from quivive.services.admin import AdminActor
from quivive.services.demo_history import DemoAccount, Planned
from quivive.services.mfa import Origin

NIGHT_WARD = Origin(source_address="10.12.7.31", user_agent="Mozilla/5.0 (Windows NT 10.0) Edge")
REVIEWED_DAYS_AGO = 12
PENDING_DAYS_AGO = 9  # past the default 7 days: listed as overdue
JUSTIFIED = (
    "Détresse respiratoire en chambre 118 à 3 h, téléphone oublié à domicile : accès immédiat "
    "au dossier et aux prescriptions nécessaire."
)
PENDING = (
    "Application d'authentification effacée après la mise à jour du téléphone, relève de nuit "
    "en cours, transmissions à lire avant le tour de 22 h 30."
)
REVIEW_COMMENT = "Vérifié avec le cadre de nuit : urgence réelle, témoin présent. Justifié."


def planned_emergencies(
    services: Services, accounts: Sequence[DemoAccount], until: datetime
) -> list[Planned]:
    physician = _first(accounts, "karim.benali")
    nurse = next(a for a in accounts if a.person.role == "infirmier" and a.person.has_mfa)
    admin = _first(accounts, "sophie.garnier")
    night = _at(until, REVIEWED_DAYS_AGO, time(3, 4))
    ids: list[int] = []

    def physician_breaks_the_glass() -> None:
        access = services.emergency.record_use(
            physician.user,
            Reason.FACTOR_FORGOTTEN.value,
            JUSTIFIED,
            witness_name="Camille Durand",
            origin=NIGHT_WARD,
        )
        ids.append(access.id)

    def officer_reviews() -> None:
        actor = AdminActor(
            admin.user.username, frozenset(admin.user.roles), admin.user.id, NIGHT_WARD
        )
        services.emergency.review(actor, ids[0], ReviewStatus.JUSTIFIED.value, REVIEW_COMMENT)

    def nurse_breaks_the_glass() -> None:
        services.emergency.record_use(
            nurse.user, Reason.FACTOR_LOST.value, PENDING, origin=NIGHT_WARD
        )

    return [
        Planned(night, physician_breaks_the_glass),
        Planned(night + timedelta(hours=31), officer_reviews),
        Planned(_at(until, PENDING_DAYS_AGO, time(21, 52)), nurse_breaks_the_glass),
    ]


def _first(accounts: Sequence[DemoAccount], username: str) -> DemoAccount:
    return next(account for account in accounts if account.person.username == username)


def _at(until: datetime, days_ago: int, moment: time) -> datetime:
    return datetime.combine(until.date() - timedelta(days=days_ago), moment, tzinfo=until.tzinfo)
