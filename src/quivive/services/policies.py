"""Session timeouts, password length and throttling thresholds, changeable from the console.

The configuration file (or environment, or built-in default) gives each value; an administrator
may override one from the console or the API, and the override, stored in ``policy_overrides``,
wins until it is removed. Every change is checked against the rules the configuration itself
obeys (NIST SP 800-63B-4 caps per assurance level, the password-length floor, at most 100
consecutive failures), refused with a reason code the edges put in plain words, and audited.

Services read the values in force through small callables (``timeouts``, ``min_length``,
``throttle_policy``) served from a cache: a change applies at once on the node that made it and
within ``services.refreshed.REFRESH_INTERVAL`` on the others, without a restart and without a
query per login.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from quivive.clock import Clock
from quivive.config import (
    MAX_CONSECUTIVE_FAILURES,
    MAX_MIN_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH_FLOOR,
    Settings,
)
from quivive.domain.audit import AuditEvent, AuditSink, Outcome
from quivive.domain.sessions import LEVEL_CAPS, AssuranceLevel, timeouts_for
from quivive.domain.throttling import ThrottlePolicy
from quivive.errors import NotFoundError, ValidationError
from quivive.services.mfa import Origin
from quivive.services.refreshed import Refreshed
from quivive.storage.policy_overrides import PolicyOverrideRepository, StoredOverride

MINUTE = timedelta(minutes=1)

# Reason codes for a refused value; web.policy_texts says each in plain French and English.
NOT_A_NUMBER = "not_a_number"
BELOW_MINIMUM = "below_minimum"
ABOVE_MAXIMUM = "above_maximum"
NIST_SESSION_CAP = "nist_session_cap"
NIST_PASSWORD_MAX = "nist_password_max"  # noqa: S105 (a reason code)
NIST_PASSWORD_FLOOR = "nist_password_floor"  # noqa: S105
NIST_FAILURES_MAX = "nist_failures_max"
IDLE_ABOVE_ABSOLUTE = "idle_above_absolute"

LEVELS = (AssuranceLevel.AAL1, AssuranceLevel.AAL2, AssuranceLevel.AAL3)


@dataclass(frozen=True, slots=True)
class PolicySpec:
    key: str  # "session.aal2.idle", "password.min_length", ...
    unit: str  # "minutes", "characters" or "failures"
    low: int
    high: int
    too_low: str = BELOW_MINIMUM
    too_high: str = ABOVE_MAXIMUM
    level: AssuranceLevel | None = None


def _session_specs() -> list[PolicySpec]:
    specs = []
    for level in LEVELS:
        for kind, cap in zip(("idle", "absolute"), LEVEL_CAPS[level], strict=True):
            high = int(cap / MINUTE)
            key = f"session.aal{int(level)}.{kind}"
            specs.append(
                PolicySpec(key, "minutes", 1, high, too_high=NIST_SESSION_CAP, level=level)
            )
    return specs


SPECS: tuple[PolicySpec, ...] = (
    *_session_specs(),
    PolicySpec(
        "password.min_length",
        "characters",
        MIN_PASSWORD_LENGTH_FLOOR,
        MAX_MIN_PASSWORD_LENGTH,
        too_low=NIST_PASSWORD_FLOOR,
        too_high=NIST_PASSWORD_MAX,
    ),
    PolicySpec(
        "throttle.max_failures", "failures", 5, MAX_CONSECUTIVE_FAILURES, too_high=NIST_FAILURES_MAX
    ),
    PolicySpec("throttle.free_attempts", "failures", 1, 50),
    PolicySpec("throttle.address_free_attempts", "failures", 1, 10_000),
)
SPEC_BY_KEY: Mapping[str, PolicySpec] = {spec.key: spec for spec in SPECS}


class PolicyRefused(ValidationError):
    """A policy value outside its rule; ``reason`` and ``limit`` say which rule and where."""

    code = "policy_refused"

    def __init__(self, key: str, reason: str, limit: int, message: str) -> None:
        super().__init__(message, field=key, reason=reason, limit=limit)
        self.key, self.reason, self.limit = key, reason, limit


@dataclass(frozen=True, slots=True)
class PolicyValue:
    spec: PolicySpec
    value: int
    configured: int  # from the configuration file, environment or default
    changed_by: str | None = None  # set when an override from the console is in force
    changed_at: datetime | None = None

    @property
    def source(self) -> str:
        return "console" if self.changed_at is not None else "configuration"


def configured_values(settings: Settings) -> dict[str, int]:
    """What the configuration gives, per key, with session timeouts capped as sessions are."""
    values: dict[str, int] = {}
    for level in LEVELS:
        session = settings.session
        idle, absolute = timeouts_for(level, session.idle_timeout, session.absolute_timeout)
        values[f"session.aal{int(level)}.idle"] = max(1, int(idle / MINUTE))
        values[f"session.aal{int(level)}.absolute"] = max(1, int(absolute / MINUTE))
    values["password.min_length"] = settings.password.min_length
    values["throttle.max_failures"] = settings.throttle.max_failures
    values["throttle.free_attempts"] = settings.throttle.free_attempts
    values["throttle.address_free_attempts"] = settings.throttle.address_free_attempts
    return values


def check_value(key: str, raw: str, in_force: Mapping[str, int]) -> int:
    """The value ``raw`` as a whole number, or ``PolicyRefused`` saying which rule it breaks."""
    spec = SPEC_BY_KEY.get(key)
    if spec is None:
        raise NotFoundError(f"no policy named {key!r}")
    text = raw.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 9:
        raise PolicyRefused(key, NOT_A_NUMBER, 0, f"{key}: a whole number is expected")
    value = int(text)
    if value < spec.low:
        message = f"{key} cannot be below {spec.low} {spec.unit}{_source_of(spec.too_low)}"
        raise PolicyRefused(key, spec.too_low, spec.low, message)
    if value > spec.high:
        message = f"{key} cannot exceed {spec.high} {spec.unit}{_source_of(spec.too_high)}"
        raise PolicyRefused(key, spec.too_high, spec.high, message)
    _check_idle_within_absolute(key, value, in_force)
    return value


def _source_of(reason: str) -> str:
    return " (NIST SP 800-63B-4)" if reason.startswith("nist_") else ""


def _check_idle_within_absolute(key: str, value: int, in_force: Mapping[str, int]) -> None:
    prefix, _, kind = key.rpartition(".")
    if not prefix.startswith("session."):
        return
    idle = value if kind == "idle" else in_force[f"{prefix}.idle"]
    absolute = value if kind == "absolute" else in_force[f"{prefix}.absolute"]
    if idle > absolute:
        limit = absolute if kind == "idle" else idle
        message = f"{prefix}: the idle timeout ({idle} min) exceeds the absolute one ({absolute})"
        raise PolicyRefused(key, IDLE_ABOVE_ABSOLUTE, limit, message)


def _with_thresholds(base: ThrottlePolicy, values: Mapping[str, PolicyValue]) -> ThrottlePolicy:
    return replace(
        base,
        pair=replace(base.pair, free_attempts=values["throttle.free_attempts"].value),
        source=replace(base.source, free_attempts=values["throttle.address_free_attempts"].value),
        max_failures=values["throttle.max_failures"].value,
    )


class PolicyService:
    def __init__(
        self,
        settings: Settings,
        repository: PolicyOverrideRepository,
        audit: AuditSink,
        clock: Clock,
    ) -> None:
        self._configured = configured_values(settings)
        self._repository = repository
        self._audit = audit
        self._clock = clock
        self._values = Refreshed(lambda: self._merge(self._repository.list()), clock)
        # The last (values, base) -> policy built: every sign-in asks, the answer changes only
        # when the cache reloads. Replaced whole, so a racing thread at worst builds it twice.
        self._throttle: tuple[dict[str, PolicyValue], ThrottlePolicy, ThrottlePolicy] | None = None

    # --- what services read ---------------------------------------------------------------------

    def in_force(self) -> list[PolicyValue]:
        values = self._current()
        return [values[spec.key] for spec in SPECS]

    def value(self, key: str) -> int:
        return self._current()[key].value

    def timeouts(self, level: AssuranceLevel) -> tuple[timedelta, timedelta]:
        """(idle, absolute) for a new session at ``level``."""
        values = self._current()
        idle = values[f"session.aal{int(level)}.idle"].value
        absolute = values[f"session.aal{int(level)}.absolute"].value
        return timeouts_for(level, idle * MINUTE, absolute * MINUTE)

    def min_length(self) -> int:
        return self.value("password.min_length")

    def throttle_policy(self, base: ThrottlePolicy) -> ThrottlePolicy:
        """``base`` (from the configuration) with the thresholds in force; the same object until
        the values in force are reloaded (or another ``base`` is given)."""
        values = self._current()
        built = self._throttle
        if built is not None and built[0] is values and built[1] is base:
            return built[2]
        policy = _with_thresholds(base, values)
        self._throttle = (values, base, policy)
        return policy

    # --- changes --------------------------------------------------------------------------------

    def set(self, key: str, raw: str, *, actor: str, origin: Origin | None = None) -> PolicyValue:
        current = {k: v.value for k, v in self._current(force=True).items()}
        try:
            value = check_value(key, raw, current)
        except PolicyRefused as refused:
            self._record(key, actor, origin, Outcome.FAILURE, refused.reason, raw[:32])
            raise
        self._repository.put(key, str(value), now=self._clock.now(), actor=actor)
        self._record(key, actor, origin, Outcome.SUCCESS, None, str(current[key]), str(value))
        return self._current(force=True)[key]

    def reset(self, key: str, *, actor: str, origin: Origin | None = None) -> PolicyValue:
        """Remove the console's override: the configured value applies again."""
        if key not in SPEC_BY_KEY:
            raise NotFoundError(f"no policy named {key!r}")
        current = {k: v.value for k, v in self._current(force=True).items()}
        configured = self._configured[key]
        _check_idle_within_absolute(key, configured, current)
        if self._repository.remove(key):
            self._record(key, actor, origin, Outcome.SUCCESS, "reset", str(current[key]))
        return self._current(force=True)[key]

    def _record(
        self,
        key: str,
        actor: str,
        origin: Origin | None,
        outcome: Outcome,
        reason: str | None,
        before: str,
        after: str | None = None,
    ) -> None:
        where = origin or Origin()
        details = {"key": key, "before": before}
        if after is not None:
            details["after"] = after
        self._audit.record(
            AuditEvent(
                action="policy.setting_changed",
                outcome=outcome,
                at=self._clock.now(),
                actor=actor,
                subject=f"policy:{key}",
                reason=reason,
                source_address=where.source_address,
                user_agent=where.user_agent,
                request_id=where.request_id,
                details=details,
            )
        )

    # --- the cache ------------------------------------------------------------------------------

    def _current(self, *, force: bool = False) -> dict[str, PolicyValue]:
        return self._values.get(force=force)

    def _merge(self, stored: list[StoredOverride]) -> dict[str, PolicyValue]:
        values = {
            spec.key: PolicyValue(spec, self._configured[spec.key], self._configured[spec.key])
            for spec in SPECS
        }
        for override in stored:
            spec = SPEC_BY_KEY.get(override.key)
            if spec is None or not override.value.isdigit():
                continue  # a key from a newer version, or a hand edit: the configuration wins
            number = int(override.value)
            if not spec.low <= number <= spec.high:
                continue  # the rule tightened since: never apply a value it now refuses
            configured = self._configured[spec.key]
            values[spec.key] = PolicyValue(
                spec, number, configured, override.updated_by or "?", override.updated_at
            )
        return values
