"""The posture report: gather the figures, assess them, and keep reports for the trend.

A report is *kept* (written to ``posture_reports`` and audited as ``report.kept``) on every
``quivive report`` run and when someone presses "Keep this report" in the console; viewing the
console page or downloading it does not, so the trend compares deliberate snapshots, not however
often someone looked.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from quivive.clock import Clock
from quivive.config import Settings as Configuration
from quivive.domain.audit import AuditEvent, AuditSink, Outcome
from quivive.domain.audit_chain import Verdict
from quivive.domain.mfa_policy import Enforcement, MfaRule, requirement_for
from quivive.domain.posture import (
    DORMANT_AFTER,
    REPORT_WINDOW,
    REVIEW_WITHIN,
    Assessment,
    AuthenticatorKind,
    Figures,
    KeptReport,
    PasswordOnly,
    RoleCoverage,
    Settings,
    assess,
)
from quivive.services.audit import AuditTrail
from quivive.services.mfa_policy import MfaPolicyService, RuleInForce
from quivive.services.policies import PolicyService
from quivive.storage.admin_queries import AdminQueries
from quivive.storage.posture import MAX_LISTED, PostureRepository

# Verifying the trail costs about 10 s per million records (bench/bench_audit.py targets 100,000
# records/s): a console view and its PDF downloaded a minute later share one verification. A kept
# report (CLI run, console "keep") always verifies afresh.
AUDIT_CHECK_REUSE = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class PostureReport:
    establishment: str
    figures: Figures
    assessment: Assessment
    rules: Sequence[RuleInForce]
    history: Sequence[KeptReport]  # kept reports before this one, oldest first

    @property
    def score(self) -> int:
        return self.assessment.score


@dataclass(frozen=True, slots=True)
class PostureSources:
    repository: PostureRepository
    queries: AdminQueries  # the dashboard's coverage query
    policy: MfaPolicyService
    trail: AuditTrail


SettingsSource = Callable[[], Settings]


def settings_in_force(configuration: Configuration, policies: PolicyService) -> SettingsSource:
    """The checked settings as they are now: the console may have overridden the file's values.

    Timeouts are those of two-factor (AAL2) sessions, the level NIST's 1 h / 24 h caps name.
    """
    password = configuration.password

    def current() -> Settings:
        return Settings(
            idle_timeout=timedelta(minutes=policies.value("session.aal2.idle")),
            absolute_timeout=timedelta(minutes=policies.value("session.aal2.absolute")),
            password_min_length=policies.min_length(),
            hash_memory_kib=password.hash_memory_kib,
            hash_time_cost=password.hash_time_cost,
            hash_parallelism=password.hash_parallelism,
            max_failures=policies.value("throttle.max_failures"),
            console_requires_phishing_resistant=configuration.admin.require_phishing_resistant,
        )

    return current


class PostureReportService:
    def __init__(
        self,
        sources: PostureSources,
        settings: SettingsSource,
        audit: AuditSink,
        clock: Clock,
        *,
        establishment: str,
    ) -> None:
        self._repository = sources.repository
        self._queries = sources.queries
        self._policy = sources.policy
        self._trail = sources.trail
        self._settings = settings
        self._audit = audit
        self._clock = clock
        self._establishment = establishment
        self._last_verdict: tuple[datetime, Verdict] | None = None

    def build(self, *, reuse_audit_check: bool = False) -> PostureReport:
        """The report as of now. ``reuse_audit_check``: a console view may take the audit chain
        verdict of the last AUDIT_CHECK_REUSE instead of verifying the whole trail again."""
        rules = self._policy.in_force()
        figures = self.figures([item.rule for item in rules], reuse_audit_check)
        history = self._repository.history()
        assessment = assess(figures, history[0] if history else None)
        return PostureReport(self._establishment, figures, assessment, rules, history[::-1])

    def keep(self, report: PostureReport, *, kept_by: str) -> None:
        """Add ``report`` to the history (the next report's trend starts from it); audited."""
        statuses = [(result.id, result.status) for result in report.assessment.results]
        at = report.figures.at
        self._repository.keep(at=at, kept_by=kept_by, score=report.score, statuses=statuses)
        failed = len(report.assessment.failed)
        self._audit.record(
            AuditEvent(
                action="report.kept",
                outcome=Outcome.SUCCESS,
                at=self._clock.now(),
                actor=kept_by,
                details={"score": str(report.score), "failed_checks": str(failed)},
            )
        )

    def figures(self, rules: Sequence[MfaRule], reuse_audit_check: bool = False) -> Figures:
        now = self._clock.now()
        coverage = [
            RoleCoverage(row.role, row.active, row.with_mfa, row.phishing_resistant)
            for row in self._queries.coverage()
        ]
        admins, weak_admins = self._repository.console_accounts_without_passkey()
        verdict = self._verdict(now, reuse_audit_check)
        inventory, models = self._repository.inventory()
        password_only = self._password_only(rules)
        alone = AuthenticatorKind("password_only", password_only.total, password_only.total)
        dormant, dormant_names = self._repository.dormant(now - DORMANT_AFTER)
        blocklisted, blocklisted_names = self._repository.blocklisted()
        return Figures(
            at=now,
            coverage=coverage,
            password_only=password_only,
            roles_without_rule=_roles_without_rule(coverage, rules),
            admins=admins,
            admins_without_phishing_resistant=weak_admins,
            dormant=dormant,
            blocklisted=blocklisted,
            attacks=self._repository.attacks(now - REPORT_WINDOW),
            emergency=self._repository.emergency(now - REPORT_WINDOW, now - REVIEW_WITHIN),
            audit_intact=verdict.ok,
            audit_checked=verdict.checked,
            settings=self._settings(),
            inventory=[*inventory, alone],
            key_models=models,
            dormant_names=dormant_names,
            blocklisted_names=blocklisted_names,
        )

    def _verdict(self, now: datetime, reuse: bool) -> Verdict:
        last = self._last_verdict
        if reuse and last is not None and now - last[0] < AUDIT_CHECK_REUSE:
            return last[1]
        verdict = self._trail.verify().verdict
        self._last_verdict = (now, verdict)
        return verdict

    def _password_only(self, rules: Sequence[MfaRule]) -> PasswordOnly:
        now = self._clock.now()
        counts = dict.fromkeys(Enforcement, 0)
        overdue: list[str] = []
        for username, roles in self._repository.password_only_roles():
            enforcement = requirement_for(roles, rules, now).enforcement
            counts[enforcement] += 1
            if enforcement is Enforcement.REQUIRED and len(overdue) < MAX_LISTED:
                overdue.append(username)
        return PasswordOnly(
            past_deadline=counts[Enforcement.REQUIRED],
            in_grace=counts[Enforcement.NUDGE],
            no_rule=counts[Enforcement.NONE],
            past_deadline_names=overdue,
        )


def _roles_without_rule(coverage: Sequence[RoleCoverage], rules: Sequence[MfaRule]) -> list[str]:
    covered = {rule.role for rule in rules}
    return [row.role for row in coverage if row.role and row.active and row.role not in covered]
