"""Authentication context class references (OIDC Core §2 ``acr``, §3.1.2.1 ``acr_values``).

The one table mapping Quivive's ``acr`` values to NIST assurance levels. A relying party that
sends ``acr_values`` gets a step-up when the session's level is lower, and always reads the level
achieved in the ID token's ``acr``. ``urn:quivive:acr:emergency`` (break-glass access) is reserved
for the emergency-access issue: it will map to a level of its own, never to AAL2/AAL3.
"""

from __future__ import annotations

from collections.abc import Iterable

from quivive.domain.sessions import AssuranceLevel

ACR_AAL1 = "urn:quivive:acr:aal1"
ACR_AAL2 = "urn:quivive:acr:aal2"
ACR_AAL3 = "urn:quivive:acr:aal3"
ACR_EMERGENCY = "urn:quivive:acr:emergency"  # reserved, not yet issued

ACR_LEVELS: dict[str, AssuranceLevel] = {
    ACR_AAL1: AssuranceLevel.AAL1,
    ACR_AAL2: AssuranceLevel.AAL2,
    ACR_AAL3: AssuranceLevel.AAL3,
}
LEVEL_ACRS = {level: acr for acr, level in ACR_LEVELS.items()}


def acr_for(level: AssuranceLevel) -> str:
    return LEVEL_ACRS[level]


def required_level(acr_values: Iterable[str]) -> AssuranceLevel | None:
    """The lowest level among the requested values Quivive knows (the RP accepts any of them).

    OIDC Core §3.1.2.1: acr_values lists values "in order of preference"; any listed value
    satisfies the request, so the least demanding known one is what must be reached. Unknown
    values are ignored (the claim is voluntary unless requested as essential).
    """
    levels = [ACR_LEVELS[value] for value in acr_values if value in ACR_LEVELS]
    return min(levels) if levels else None
